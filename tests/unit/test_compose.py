"""The production stack (docker-compose.yml, Dockerfile, .env.example, deploy/) is well-formed and safe.

`docker-compose config` needs the docker-compose binary (Debian: `apt-get install docker-compose`, v1.29)
but no Docker engine; `make test` installs it when missing (target `test-deps`). Without the binary that
test is skipped, except under CI=true, where it fails.
The other tests only parse the files.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
SFTP_USERS = REPO / "deploy" / "sftp" / "users.conf"

PARTNERS = ("city", "mehilainen", "ngo_mll", "ngo_setlementti", "reference")
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
)
REQUIRED_SERVICES = ("postgres", "redis", *AIRFLOW_SERVICES, "flower", "sftp")
LONG_RUNNING = ("postgres", "redis", *(s for s in AIRFLOW_SERVICES if s != "airflow-init"), "flower", "sftp")
DATA_ROOT = "/opt/tesoma/data"

SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|PASSPHRASE|CREDENTIAL|PRIVATE|_KEY$", re.IGNORECASE)
INTERPOLATION = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}$")
URL_USERINFO = re.compile(r"://(?P<user>[^:/@\s]*):(?P<password>[^@\s]*)@")
REQUIRED_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    # PyYAML resolves the anchors and `<<` merge keys the same way docker-compose does.
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _split_outside_interpolation(text: str) -> list[str]:
    """Split on ':' except inside ${...} (whose `:-` / `:?` are not separators)."""
    parts, current, depth = [], "", 0
    for char in text:
        if char == "{" and current.endswith("$"):
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        if char == ":" and not depth:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _short_volumes(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each volume; only the short syntax is used in docker-compose.yml."""
    mounts = []
    for volume in service.get("volumes", []):
        assert isinstance(volume, str), f"use the short volume syntax: {volume!r}"
        source, target, *_ = _split_outside_interpolation(volume)
        mounts.append((source, target))
    return mounts


# --- docker-compose itself ------------------------------------------------------------------------


def test_docker_compose_config_validates() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        message = (
            "docker-compose binary not found, so docker-compose.yml was not validated "
            "(`make test-deps` installs it as root, or: apt-get install docker-compose)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI=true requires it")
        pytest.skip(message)
    # A clean environment: variables exported in the developer's shell must not hide a variable
    # missing from .env.example.
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    result = subprocess.run(
        [binary, "--env-file", ".env.example", "-f", "docker-compose.yml", "config", "-q"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stdout}\n{result.stderr}"


# --- layout -----------------------------------------------------------------------------------------


def test_required_services_exist(services: dict[str, Any]) -> None:
    missing = [name for name in REQUIRED_SERVICES if name not in services]
    assert not missing, f"services missing from docker-compose.yml: {missing}"
    assert services["flower"].get("profiles") == ["flower"], "flower is optional (profile `flower`)"


def test_every_airflow_service_uses_the_built_image(compose: dict[str, Any], services: dict[str, Any]) -> None:
    common = compose["x-airflow-common"]
    image = common["image"]
    assert "apache/airflow" not in image
    airflow_like = [name for name in services if name.startswith("airflow-") or name == "flower"]
    assert set(AIRFLOW_SERVICES) <= set(airflow_like)
    for name in airflow_like:
        service = services[name]
        assert service.get("image") == image, f"{name} must run the image built from our Dockerfile"
        build = service.get("build")
        assert isinstance(build, dict), f"{name} must build the image from the Dockerfile"
        assert build.get("context") == "."
        assert build.get("dockerfile", "Dockerfile") == "Dockerfile"
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in _environment(service), f"{name}: no pip at start-up"


def test_dockerfile_installs_the_locked_project() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    assert froms[-1] == "apache/airflow:3.3.2-python3.11", "the final stage is the official Airflow image"
    export = re.search(r"uv export[^\n]*", text)
    assert export and "--frozen" in export.group() and "--no-dev" in export.group(), "install what uv.lock pins"
    assert re.search(r"pip install --no-cache-dir -r \S*requirements\.txt", text)
    assert re.search(r"pip install --no-cache-dir --no-deps ", text)
    assert "/opt/airflow/dags" in text
    assert "pip install -e" not in text and "--editable" not in text


def test_airflow_settings(compose: dict[str, Any]) -> None:
    env = _environment(compose["x-airflow-common"])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith(("FabAuthManager", "SimpleAuthManager"))
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["AIRFLOW__CORE__DEFAULT_TIMEZONE"] == "Europe/Helsinki"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert re.fullmatch(r"\$\{AIRFLOW__CORE__PARALLELISM:-\d+\}|\d+", env["AIRFLOW__CORE__PARALLELISM"])
    assert env["TESOMA_DATA_ROOT"] == DATA_ROOT
    assert env["TESOMA_LEDGER_URL"].startswith("postgresql+psycopg://")
    assert env["TESOMA_LEDGER_URL"].endswith("@postgres:5432/tesoma")


def test_airflow_services_share_the_data_root(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        targets = [target for _, target in _short_volumes(services[name])]
        assert DATA_ROOT in targets, f"{name} must mount the data root at {DATA_ROOT}"


def test_ledger_database_is_created_by_an_init_script(services: dict[str, Any]) -> None:
    mounts = _short_volumes(services["postgres"])
    scripts = [source for source, target in mounts if target.startswith("/docker-entrypoint-initdb.d/")]
    assert scripts, "postgres needs the init script that creates the `tesoma` database"
    for source in scripts:
        script = (REPO / source).read_text(encoding="utf-8")
        assert "CREATE DATABASE tesoma" in script


def test_long_running_services_have_healthchecks(services: dict[str, Any]) -> None:
    missing = [name for name in LONG_RUNNING if "healthcheck" not in services[name]]
    assert not missing, f"services without a healthcheck: {missing}"


def test_airflow_services_wait_for_their_dependencies(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        if name != "airflow-init":
            assert depends["airflow-init"]["condition"] == "service_completed_successfully"


# --- SFTP -----------------------------------------------------------------------------------------


def test_sftp_mounts_each_partner_landing_folder_separately(services: dict[str, Any]) -> None:
    sftp = services["sftp"]
    assert sftp["image"].startswith("atmoz/sftp")
    mounts = _short_volumes(sftp)
    for partner in PARTNERS:
        own = [(s, t) for s, t in mounts if s.rstrip("/").endswith(f"/landing/{partner}")]
        assert len(own) == 1, f"{partner}: exactly one mount of its landing folder, got {own}"
        assert own[0][1] == f"/home/{partner}/upload", f"{partner}: landing folder goes to its own chroot"
    landing_mounts = [(s, t) for s, t in mounts if "/landing" in s or t.startswith("/home/")]
    for source, target in landing_mounts:
        match = re.search(r"/landing/([^/]+)$", source.rstrip("/"))
        assert match, f"sftp mounts a whole landing/data folder, not one partner's: {source}"
        partner = match.group(1)
        assert target == f"/home/{partner}/upload", f"{source} is mounted into another chroot: {target}"
    targets = [t for _, t in mounts]
    assert DATA_ROOT not in targets and not any(s.rstrip("/").endswith("/data") for s, _ in mounts)


def test_sftp_users_have_no_password_in_the_repository() -> None:
    users = {}
    for line in SFTP_USERS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, password, uid, gid, directory = line.split(":")
        assert password == "", f"users.conf holds a password for {user}; passwords come from .env"
        assert directory == "upload"
        users[user] = (int(uid), int(gid))
    assert set(users) == set(PARTNERS)
    uids = [uid for uid, _ in users.values()]
    assert len(set(uids)) == len(uids), "each partner needs its own uid"
    assert len({gid for _, gid in users.values()}) == 1, "all partners share the landing group"


def test_sftp_passwords_come_from_the_environment(services: dict[str, Any]) -> None:
    env = _environment(services["sftp"])
    for partner in PARTNERS:
        variable = f"SFTP_PASSWORD_{partner.upper()}"
        match = INTERPOLATION.match(env.get(variable, ""))
        assert match and match.group("name") == variable, f"{variable} must come from .env"
        assert match.group("op") in (None, ":?", "?") or not match.group("arg"), f"{variable}: no literal default"


# --- secrets ----------------------------------------------------------------------------------------


def _all_environments(compose: dict[str, Any]) -> list[tuple[str, str, str]]:
    found = []
    for name, block in [("x-airflow-common", compose["x-airflow-common"]), *compose["services"].items()]:
        for key, value in _environment(block).items():
            found.append((name, key, value))
    return found


def test_no_literal_secrets_in_compose(compose: dict[str, Any]) -> None:
    problems = []
    for service, key, value in _all_environments(compose):
        if SECRET_NAME.search(key):
            match = INTERPOLATION.match(value)
            if not match:
                problems.append(f"{service}.{key} = {value!r} is not a ${{...}} variable")
            elif match.group("op") in ("-", ":-") and match.group("arg"):
                problems.append(f"{service}.{key} has a literal default {match.group('arg')!r}")
        for url in URL_USERINFO.finditer(value):
            password = url.group("password")
            if password and not INTERPOLATION.match(password):
                problems.append(f"{service}.{key} embeds a literal password in a URL")
    assert not problems, "\n".join(problems)


def test_secrets_are_required_with_a_message(compose: dict[str, Any]) -> None:
    env = _environment(compose["x-airflow-common"]) | _environment(compose["services"]["airflow-init"])
    env |= _environment(compose["services"]["airflow-worker"])
    for key in (
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "_AIRFLOW_WWW_USER_USERNAME",
        "_AIRFLOW_WWW_USER_PASSWORD",
        "TESOMA_PSEUDONYM_KEY",
    ):
        match = INTERPOLATION.match(env[key])
        assert match and match.group("op") == ":?" and match.group("arg"), f"{key} must be ${{{key}:?message}}"
    assert "${POSTGRES_PASSWORD:?" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


def test_pseudonym_key_reaches_only_the_workers_and_the_init_check(compose: dict[str, Any]) -> None:
    holders = {service for service, key, _ in _all_environments(compose) if key == "TESOMA_PSEUDONYM_KEY"}
    assert holders == {"airflow-worker", "airflow-init"}


def test_env_example_defines_every_required_variable() -> None:
    lines = COMPOSE_FILE.read_text(encoding="utf-8").splitlines()
    code = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    required = set(REQUIRED_VARIABLE.findall(code))
    assert "TESOMA_PSEUDONYM_KEY" in required
    defined = _env_file(ENV_EXAMPLE)
    missing = sorted(name for name in required if not defined.get(name))
    assert not missing, f".env.example lacks {missing}"


def test_env_example_holds_only_placeholders() -> None:
    for key, value in _env_file(ENV_EXAMPLE).items():
        if SECRET_NAME.search(key):
            assert value == "" or "change-me" in value, f".env.example: {key} must be a change-me placeholder"
