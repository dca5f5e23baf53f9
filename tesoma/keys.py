"""Where the pseudonym key comes from, in this order:

1. the environment variable ``TESOMA_PSEUDONYM_KEY``;
2. inside an Airflow task: the Airflow Variable ``tesoma_pseudonym_secret``, or the password of the
   Connection ``tesoma_pseudonym`` (both resolve through Airflow's secrets backends, e.g. Vault);
3. the key file ``TESOMA_PSEUDONYM_KEY_FILE`` (default ``<data root>/secrets/pseudonym.key``), which the
   demo creates with mode 0600.

Surrounding whitespace is stripped from every source. A missing key, or a weak one, stops the run before
any data is read: shorter than 32 bytes, fewer than 16 distinct bytes, a placeholder (change-me, secret,
password, example…), or a string written anywhere in the project's files (docs, examples, tests, the
benchmark): a key that is in the repository is not a secret.
"""

from __future__ import annotations

import os
import secrets
import stat
import sys
from functools import cache
from pathlib import Path

from tesoma.config import PROJECT_DIR, Settings
from transforms.pseudonymise import KeyProblem, PseudonymKey
from transforms.pseudonymise.keys import GENERATE

AIRFLOW_VARIABLE = "tesoma_pseudonym_secret"  # "secret" in the name makes Airflow mask it in logs
AIRFLOW_CONNECTION = "tesoma_pseudonym"

# The wheel's packages (pyproject.toml): what is left of the project when it is installed, not checked out.
_PACKAGES = ("tesoma", "synthetic", "orchestration", "contracts", "connectors", "transforms", "expectations",
             "warehouse")
_SKIPPED_DIRS = {".venv", "venv", "data", ".git", ".tools", ".hypothesis", ".ruff_cache", ".pytest_cache",
                 "__pycache__", "node_modules", "airflow-home", "logs", "build", "dist"}
_MAX_FILE_BYTES = 2 << 20  # source, docs and fixtures are far smaller; bigger files are data, not text


def _from_airflow() -> str | None:
    """The key from Airflow's secrets, when running inside an Airflow task; None otherwise."""
    # Inside a task Airflow is imported already. Importing it here otherwise would fix Airflow's settings
    # (its metadata database among them) before a command such as `tesoma demo` has configured them.
    if "airflow.sdk" not in sys.modules:
        return None
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


def _project_roots() -> list[Path]:
    """The checkout, or (installed as a package) our package folders and the copy of the checkout that holds
    the contracts (the image's /opt/tesoma/app)."""
    if (PROJECT_DIR / "pyproject.toml").exists():
        return [PROJECT_DIR]
    roots = [PROJECT_DIR / name for name in _PACKAGES if (PROJECT_DIR / name).is_dir()]
    contracts_dir = os.environ.get("TESOMA_CONTRACTS_DIR")
    if contracts_dir and (Path(contracts_dir).parent / "pyproject.toml").exists():
        roots.append(Path(contracts_dir).parent)
    return roots


def _text_files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIPPED_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            yield Path(dirpath) / name


@cache
def project_texts() -> tuple[tuple[Path, bytes], ...]:
    """Every text file of the project (skipping .venv, data, .git and binaries), read once per process."""
    texts = []
    for root in _project_roots():
        for path in _text_files(root):
            try:
                if path.stat().st_size > _MAX_FILE_BYTES:
                    continue
                content = path.read_bytes()
            except OSError:
                continue
            if b"\0" not in content[:4096]:
                texts.append((path, content))
    return tuple(texts)


def written_in_project(secret: bytes) -> Path | None:
    """The first project file that holds ``secret`` verbatim, or None."""
    for path, content in project_texts():
        if secret in content:
            return path
    return None


def _checked(secret: bytes, source: str) -> PseudonymKey:
    key = PseudonymKey.checked(secret, source)
    found = written_in_project(secret)
    if found is not None:
        shown = found.relative_to(PROJECT_DIR) if found.is_relative_to(PROJECT_DIR) else found
        raise KeyProblem(f"The pseudonym key {source} is written in the project's file {shown}, so it is not "
                         f"a secret; {GENERATE}")
    return key


def load_key(settings: Settings) -> PseudonymKey:
    """The key, from the first source that has one; raises :class:`KeyProblem` with advice otherwise."""
    value = os.environ.get("TESOMA_PSEUDONYM_KEY", "").strip()
    if value:
        return _checked(value.encode(), "in TESOMA_PSEUDONYM_KEY")
    value = (_from_airflow() or "").strip()
    if value:
        return _checked(value.encode(), f"in Airflow ({AIRFLOW_VARIABLE!r} / {AIRFLOW_CONNECTION!r})")
    if settings.key_file.exists():
        mode = stat.S_IMODE(settings.key_file.stat().st_mode)
        if mode & 0o077:
            raise KeyProblem(f"The key file {settings.key_file} is readable by others (mode {mode:o}); "
                             f"run: chmod 600 {settings.key_file}")
        return _checked(settings.key_file.read_bytes().strip(), f"in the key file {settings.key_file}")
    raise KeyProblem(
        "No pseudonym key. Set TESOMA_PSEUDONYM_KEY (32+ bytes, from your secrets store), or the Airflow "
        f"Variable {AIRFLOW_VARIABLE!r} / Connection {AIRFLOW_CONNECTION!r} (password), or create the key file "
        f"{settings.key_file} with mode 0600 (`tesoma demo` creates one for the demo); {GENERATE}"
    )


def ensure_demo_key(settings: Settings) -> bool:
    """Create a random key file readable only by its owner, unless a key is configured; True if created."""
    if os.environ.get("TESOMA_PSEUDONYM_KEY", "").strip() or settings.key_file.exists():
        return False
    settings.key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    return True
