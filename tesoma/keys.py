"""Where the pseudonym key comes from, in this order:

1. the environment variable ``TESOMA_PSEUDONYM_KEY``;
2. inside an Airflow task: the Airflow Variable ``tesoma_pseudonym_secret``, or the password of the
   Connection ``tesoma_pseudonym`` (both resolve through Airflow's secrets backends, e.g. Vault);
3. the key file ``TESOMA_PSEUDONYM_KEY_FILE`` (default ``<data root>/secrets/pseudonym.key``), which the
   demo creates with mode 0600.

A missing key, or one shorter than 32 bytes, stops the run before any data is read.
"""

from __future__ import annotations

import os
import secrets
import stat

from tesoma.config import Settings
from transforms.pseudonymise import KeyProblem, PseudonymKey

AIRFLOW_VARIABLE = "tesoma_pseudonym_secret"  # "secret" in the name makes Airflow mask it in logs
AIRFLOW_CONNECTION = "tesoma_pseudonym"


def _from_airflow() -> str | None:
    """The key from Airflow's secrets, when running inside an Airflow task; None otherwise."""
    try:
        from airflow.sdk import BaseHook, Variable, get_current_context
    except ImportError:
        return None
    try:
        get_current_context()
    except Exception:  # not inside a task: Airflow's secrets are not reachable from here
        return None
    value = Variable.get(AIRFLOW_VARIABLE, default=None)
    if value:
        return value
    try:
        return BaseHook.get_connection(AIRFLOW_CONNECTION).password or None
    except Exception:  # no such connection
        return None


def load_key(settings: Settings) -> PseudonymKey:
    """The key, from the first source that has one; raises :class:`KeyProblem` with advice otherwise."""
    value = os.environ.get("TESOMA_PSEUDONYM_KEY") or _from_airflow()
    if value:
        return PseudonymKey(value.encode())
    if settings.key_file.exists():
        mode = stat.S_IMODE(settings.key_file.stat().st_mode)
        if mode & 0o077:
            raise KeyProblem(f"The key file {settings.key_file} is readable by others (mode {mode:o}); "
                             f"run: chmod 600 {settings.key_file}")
        return PseudonymKey(settings.key_file.read_bytes().strip())
    raise KeyProblem(
        "No pseudonym key. Set TESOMA_PSEUDONYM_KEY (32+ bytes, from your secrets store), or the Airflow "
        f"Variable {AIRFLOW_VARIABLE!r} / Connection {AIRFLOW_CONNECTION!r} (password), or create the key file "
        f"{settings.key_file} with mode 0600 (`tesoma demo` creates one for the demo)."
    )


def ensure_demo_key(settings: Settings) -> bool:
    """Create a random key file readable only by its owner, unless a key is configured; True if created."""
    if os.environ.get("TESOMA_PSEUDONYM_KEY") or settings.key_file.exists():
        return False
    settings.key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    return True
