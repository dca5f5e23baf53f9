"""Where each zone lives under the data root (ARCHITECTURE.md section 2).

``landing/`` is the partners'; we never modify it. ``raw/`` and ``quarantine/`` may hold identifiable
data and are restricted. ``staging/`` holds pseudonymised, harmonised data waiting to be published.
``warehouse/`` holds only pseudonymised data and is what analysts read. ``restricted/`` holds the exact
marts behind the scorecard; ``published/`` only what disclosure control let through.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def harmonised(self) -> Path:
        return self.warehouse / "harmonised"

    @property
    def catalog(self) -> Path:
        return self.warehouse / "catalog.duckdb"

    @property
    def restricted(self) -> Path:
        """The scorecard's restricted layer: exact, person-level marts (``marts.duckdb``), dbt's working
        files. Pseudonymous but undisclosed: only disclosure control (``scorecard.disclosure``) reads it
        to publish."""
        return self.root / "restricted"

    @property
    def published(self) -> Path:
        """Disclosure-controlled publications, one folder per publication (tables, report, manifest)."""
        return self.root / "published"

    def landing_dir(self, partner: str, feed: str) -> Path:
        return self.landing / partner / feed

    def raw_dir(self, partner: str, feed: str) -> Path:
        return self.raw / partner / feed

    def raw_file(self, partner: str, feed: str, sha256: str, suffix: str) -> Path:
        return self.raw_dir(partner, feed) / f"{sha256}{suffix}"

    def quarantine_dir(self, partner: str, delivery_id: str) -> Path:
        return self.quarantine / partner / delivery_id

    def staging_file(self, table: str, delivery_id: str) -> Path:
        return self.staging / table / f"{delivery_id}.parquet"

    def partition_dir(self, table: str, partner: str, delivery_date: dt.date) -> Path:
        return self.harmonised / table / f"partner={partner}" / f"delivery_date={delivery_date.isoformat()}"
