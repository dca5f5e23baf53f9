"""The base of every file-drop connector: discovery of landed files and the reading contract."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pyarrow as pa

import contracts

ROW_NUMBER = "_row"
"""Extra column on every batch: the 1-based data row number in the delivered file (header not counted)."""
ROW_ERRORS = "_errors"
"""Extra column on every batch: why the row could not be read (``column: rule``; '|'-separated), or null."""


class DeliveryRejected(Exception):
    """The whole delivery cannot be read. The message is for the partner: what is wrong, what to do."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class LandedFile:
    """A delivery found in a landing folder (a file, or a folder for multi-file deliveries), with the
    delivery date and sequence its name declares."""

    path: Path
    delivery_date: dt.date
    sequence: int
    arrived_at: dt.datetime
    partner: str = ""


@dataclass
class ReadReport:
    """What a connector noticed while reading; counts and rule names only, never row values."""

    unreadable_rows: list[tuple[int, str]] = field(default_factory=list)
    """(readable data rows before it, reason) for each row that could not be split into fields."""
    warnings: list[str] = field(default_factory=list)


class FileConnector:
    """A feed whose partner drops files. Subclasses declare ``feed`` and implement :meth:`read`."""

    feed: ClassVar[str]

    @property
    def contract(self) -> contracts.FeedContract:
        return contracts.load(self.feed)

    def discover_all(self, landing_root: Path, delivery_date: dt.date | None = None) -> list[LandedFile]:
        """Deliveries of every partner of the feed, from ``<landing_root>/<partner>/<folder>/`` where the
        folder is the feed's name unless the contract names another (``landingFolder``)."""
        found = []
        for partner in self.contract.partners:
            for landed in self.discover(landing_root / partner / self.landing_folder, delivery_date):
                found.append(LandedFile(landed.path, landed.delivery_date, landed.sequence, landed.arrived_at, partner))
        return found

    @property
    def landing_folder(self) -> str:
        return str(self.contract.properties.get("landingFolder") or self.feed)

    def is_complete(self, path: Path) -> bool:
        """Whether a candidate is a whole delivery (a folder delivery overrides this, e.g. a manifest)."""
        return path.is_file()

    def discover(self, landing_dir: Path, delivery_date: dt.date | None = None) -> list[LandedFile]:
        """Deliveries in ``landing_dir`` named as the contract agrees, optionally only those of one date."""
        pattern = self.contract.file_format.file_name_pattern
        if pattern is None:
            raise contracts.ContractError(f"{self.feed}: the contract declares no fileNamePattern")
        regex = re.compile(pattern)
        found = []
        for path in sorted(landing_dir.glob("*")) if landing_dir.is_dir() else []:
            m = regex.match(path.name)
            if not m or not self.is_complete(path):
                continue
            date = _date(m["date"])
            if delivery_date is not None and date != delivery_date:
                continue
            arrived = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
            found.append(LandedFile(path, date, int(m.groupdict().get("sequence") or 1), arrived))
        return sorted(found, key=lambda f: (f.delivery_date, f.sequence))

    def read(self, path: Path, report: ReadReport, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Yield the delivery as batches in the contract schema plus ``_row`` and ``_errors``.

        Rows that cannot be read at all are counted in ``report.unreadable_rows``; a delivery that
        cannot be read at all raises :class:`DeliveryRejected`.
        """
        raise NotImplementedError


def _date(text: str) -> dt.date:
    """A delivery date from a file name: YYYYMMDD, YYYYMM (monthly: the 1st) or YYYY (yearly: 1 January)."""
    if len(text) == 8:
        return dt.datetime.strptime(text, "%Y%m%d").date()
    if len(text) == 6:
        return dt.datetime.strptime(text, "%Y%m").date()
    return dt.date(int(text), 1, 1)
