"""Configuration: everything comes from the environment, with defaults for the embedded demo.

| variable | default | meaning |
|---|---|---|
| ``TESOMA_DATA_ROOT`` | ``./data`` | root of every zone (landing, raw, quarantine, warehouse) |
| ``TESOMA_LEDGER_URL`` | ``sqlite:///<data root>/ledger.sqlite`` | SQLAlchemy URL of the ledger |
| ``TESOMA_PSEUDONYM_KEY`` | – | the pseudonymisation key itself (32+ bytes) |
| ``TESOMA_PSEUDONYM_KEY_FILE`` | ``<data root>/secrets/pseudonym.key`` | key file, used when the variable is unset |
| ``TESOMA_CITY_REPORTING_URL`` | ``sqlite:///<data root>/sources/city_reporting.sqlite`` | the city's reporting DB |
| ``TESOMA_RAW_RETENTION_DAYS`` | ``90`` | days an archived delivery (identifiable) is kept in ``raw/`` |
| ``TESOMA_QUARANTINE_RETENTION_DAYS`` | ``30`` | days quarantined rows (identifiable) are kept |
| ``TESOMA_SNAPSHOT_RETENTION_DAYS`` | ``400`` | days of warehouse history (snapshots) kept; tagged states for good |
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The checkout (contracts/ and config/ live here)."""

TIMEZONE = "Europe/Helsinki"


@dataclass(frozen=True)
class Settings:
    data_root: Path
    ledger_url: str
    key_file: Path
    raw_retention_days: int = 90
    quarantine_retention_days: int = 30
    city_reporting_url: str = ""

    @property
    def contracts_dir(self) -> Path:
        return Path(os.environ.get("TESOMA_CONTRACTS_DIR", PROJECT_DIR / "contracts"))

    @property
    def mappings_dir(self) -> Path:
        return Path(os.environ.get("TESOMA_MAPPINGS_DIR", PROJECT_DIR / "config" / "mappings"))


def settings() -> Settings:
    """Read the settings from the environment (cheap; call it where needed rather than caching)."""
    root = Path(os.environ.get("TESOMA_DATA_ROOT", "data")).resolve()
    ledger = os.environ.get("TESOMA_LEDGER_URL") or f"sqlite:///{root / 'ledger.sqlite'}"
    key_file = Path(os.environ.get("TESOMA_PSEUDONYM_KEY_FILE", root / "secrets" / "pseudonym.key"))
    return Settings(
        data_root=root, ledger_url=ledger, key_file=key_file,
        raw_retention_days=int(os.environ.get("TESOMA_RAW_RETENTION_DAYS", 90)),
        quarantine_retention_days=int(os.environ.get("TESOMA_QUARANTINE_RETENTION_DAYS", 30)),
        city_reporting_url=os.environ.get("TESOMA_CITY_REPORTING_URL")
        or f"sqlite:///{root / 'sources' / 'city_reporting.sqlite'}",
    )


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set these environment variables for the block only (settings and dbt's profile read them from the
    environment), then put back what was there before."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
