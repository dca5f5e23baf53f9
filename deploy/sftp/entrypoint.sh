#!/bin/bash
# Entrypoint of the partner SFTP server (wraps the atmoz/sftp image's own /entrypoint).
#
# 1. Reads the partner accounts from users.conf (committed, WITHOUT passwords) and writes the
#    final /etc/sftp/users.conf inside the container, taking each password from the environment
#    variable SFTP_PASSWORD_<USER> (never from a committed file).
# 2. Queues each partner's public keys (keys/<user>/*.pub) for atmoz/sftp, which appends them to
#    the user's authorized_keys. A partner needs a password, a key, or both; none stops the server.
# 3. Gives each partner's upload folder (= <data root>/landing/<user> on the host) to that partner's
#    uid and to the landing group (setgid, mode 2750): the partner writes, the Airflow containers
#    (supplementary group TESOMA_LANDING_GID) read, nobody else does.
# 4. Keeps the SSH host keys in a volume, so that the server fingerprint survives re-creation.
# 5. Forces umask 027 on uploaded files (identifiable data is never world-readable on the host).
#
# Every failure is fatal and names the variable or file to fix.
set -Eeuo pipefail

CONF_DIR=${TESOMA_SFTP_CONF_DIR:-/opt/tesoma-sftp}
CONF_IN="$CONF_DIR/users.conf"
KEYS_IN="$CONF_DIR/keys"
HOST_KEY_DIR=${TESOMA_SFTP_HOST_KEY_DIR:-/var/lib/tesoma-sftp/host-keys}
CONF_OUT=/etc/sftp/users.conf
LANDING_GID=${TESOMA_LANDING_GID:-2000}
MIN_PASSWORD_LENGTH=16

log() { echo "[tesoma-sftp] $*" >&2; }
die() { echo "[tesoma-sftp] FATAL: $*" >&2; exit 1; }

[[ -f "$CONF_IN" ]] || die "$CONF_IN is missing (mount deploy/sftp/ at $CONF_DIR)"
[[ "$LANDING_GID" =~ ^[0-9]+$ ]] || die "TESOMA_LANDING_GID must be a number, got '$LANDING_GID'"

mkdir -p "$(dirname "$CONF_OUT")"
tmp_conf="$(mktemp)"
chmod 600 "$tmp_conf"
declare -a password_vars=()
declare -A seen_uid=()
partners=0

while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" =~ ^[[:space:]]*(#.*)?$ ]] && continue
    IFS=':' read -r user pass uid gid dir extra <<< "$line"
    [[ -z "${extra:-}" ]] || die "users.conf: too many fields in the line for '$user' (expected user:pass:uid:gid:dir)"
    [[ "$user" =~ ^[a-z][a-z0-9_]{0,31}$ ]] || die "users.conf: invalid user name '$user'"
    [[ -z "$pass" ]] || die "users.conf: the password field of '$user' must stay empty; set SFTP_PASSWORD_${user^^} in .env"
    [[ "$uid" =~ ^[0-9]+$ && "$uid" -ge 1000 ]] || die "users.conf: uid of '$user' must be a number >= 1000, got '$uid'"
    [[ -z "${seen_uid[$uid]:-}" ]] || die "users.conf: uid $uid is used by both '${seen_uid[$uid]}' and '$user'"
    seen_uid[$uid]=$user
    [[ "$gid" == "$LANDING_GID" ]] || die "users.conf: gid of '$user' is '$gid' but TESOMA_LANDING_GID is $LANDING_GID"
    [[ "$dir" == "upload" ]] || die "users.conf: dir of '$user' must be 'upload' (the mount point of its landing folder)"

    upload="/home/$user/$dir"
    [[ -d "$upload" ]] || die "$upload is not mounted: add '<data root>/landing/$user:$upload' to the sftp volumes"

    var="SFTP_PASSWORD_${user^^}"
    password="${!var:-}"
    password_vars+=("$var")

    keys=()
    if [[ -d "$KEYS_IN/$user" ]]; then
        shopt -s nullglob
        keys=("$KEYS_IN/$user"/*.pub)
        shopt -u nullglob
    fi

    if [[ -n "$password" ]]; then
        [[ "$password" != *:* && "$password" != *$'\n'* ]] || die "$var must not contain ':' or a newline"
        [[ "${password,,}" != *change-me* ]] || die "$var still holds the placeholder from .env.example"
        (( ${#password} >= MIN_PASSWORD_LENGTH )) || die "$var must be at least $MIN_PASSWORD_LENGTH characters"
    elif (( ${#keys[@]} == 0 )); then
        die "partner '$user' can not log in: set $var in .env or add a public key to deploy/sftp/keys/$user/"
    fi

    if (( ${#keys[@]} > 0 )); then
        # /home/<user>/.ssh must be root-owned and not group/world-writable (sshd StrictModes, chroot)
        install -d -o root -g root -m 755 "/home/$user" "/home/$user/.ssh" "/home/$user/.ssh/keys"
        install -o root -g root -m 644 "${keys[@]}" "/home/$user/.ssh/keys/"
    fi

    # The partner owns its landing folder; the Airflow containers read it through the landing group.
    chown "$uid:$LANDING_GID" "$upload"
    chmod 2750 "$upload"

    printf '%s:%s:%s:%s:%s\n' "$user" "$password" "$uid" "$gid" "$dir" >> "$tmp_conf"
    log "partner '$user': uid $uid, password $([[ -n "$password" ]] && echo yes || echo no), ${#keys[@]} key(s)"
    partners=$((partners + 1))
done < "$CONF_IN"

(( partners > 0 )) || die "no partner accounts in $CONF_IN"
install -m 600 "$tmp_conf" "$CONF_OUT"
rm -f "$tmp_conf"

# Persistent host keys (atmoz/sftp would generate new ones on every re-creation).
mkdir -p "$HOST_KEY_DIR"
chmod 700 "$HOST_KEY_DIR"
for type in ed25519 rsa; do
    key="$HOST_KEY_DIR/ssh_host_${type}_key"
    if [[ ! -f "$key" ]]; then
        log "generating the $type host key (first start)"
        if [[ "$type" == rsa ]]; then
            ssh-keygen -q -t rsa -b 4096 -N '' -f "$key"
        else
            ssh-keygen -q -t ed25519 -N '' -f "$key"
        fi
    fi
    install -o root -g root -m 600 "$key" "/etc/ssh/ssh_host_${type}_key"
    install -o root -g root -m 644 "$key.pub" "/etc/ssh/ssh_host_${type}_key.pub"
    log "host key: $(ssh-keygen -l -f "$key.pub")"
done

# Uploaded files and folders: no permissions for "others" (group read is enough for Airflow).
if grep -qE '^ForceCommand internal-sftp$' /etc/ssh/sshd_config; then
    sed -i -E 's/^(ForceCommand|Subsystem sftp) internal-sftp$/\1 internal-sftp -u 0027/' /etc/ssh/sshd_config
fi

# The passwords are in users.conf now; sshd itself does not need them in its environment.
unset_args=()
for var in "${password_vars[@]}"; do
    unset_args+=(-u "$var")
done
exec env "${unset_args[@]}" /entrypoint "$@"
