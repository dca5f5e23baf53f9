"""The base of every file-drop connector: discovery of landed files and the reading contract."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pyarrow as pa

import contracts

log = logging.getLogger(__name__)

ROW_NUMBER = "_row"
"""Extra column on every batch: the 1-based data row number in the delivered file (header not counted)."""
ROW_ERRORS = "_errors"
"""Extra column on every batch: why the row could not be read (``column: rule``; '|'-separated), or null."""


class DeliveryRejected(Exception):
    """The whole delivery cannot be read. The message is for the partner: what is wrong, what to do."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule


EARLIEST_TIME = dt.datetime(1, 1, 2, tzinfo=dt.UTC)
LATEST_TIME = dt.datetime(9999, 12, 30, 23, 59, 59, tzinfo=dt.UTC)
"""The range of dates and times a connector lets through: Python's, a day in from each end, so that shifting a
value by any UTC offset downstream cannot overflow. A value outside it is a row error (``not_a_date``…)."""


@dataclass(frozen=True)
class LandedFile:
    """A delivery found in a landing folder (a file, or a folder for multi-file deliveries), with the
    delivery date and sequence its name declares."""

    path: Path
    delivery_date: dt.date
    sequence: int
    arrived_at: dt.datetime
    partner: str = ""


@dataclass(frozen=True)
class NotADelivery:
    """Something in a feed's landing folder that is not a delivery, and why, in words for the partner.

    ``name`` is shown safely (:func:`shown_name`): control and invisible characters and bytes that are not
    UTF-8 are escaped, so it can go into logs, the ledger and reports as it is. ``rule`` is a short code
    for machines (one of :data:`NOT_A_DELIVERY_RULES`); ``delivery_date`` is set when the name declares a
    real date.
    """

    partner: str
    feed: str
    name: str
    rule: str
    reason: str
    delivery_date: dt.date | None = None

    def __str__(self) -> str:
        return f"not a delivery: {self.name}: {self.reason}"


NOT_A_DELIVERY_RULES = (
    "not_utf8_name", "control_characters", "invisible_characters", "link", "unmatched_name", "non_ascii_digits",
    "impossible_date", "date_out_of_range", "sequence_out_of_range", "file_not_folder", "not_a_regular_file",
    "unreadable", "internal_error",
)


@dataclass(frozen=True)
class Survey:
    """What a look into a feed's landing folders found: its deliveries (of one date, if one was asked
    for) and everything else there that is not a delivery (whatever its date)."""

    deliveries: list[LandedFile]
    not_deliveries: list[NotADelivery]


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

    MAX_SEQUENCE: ClassVar[int] = 9999
    """The largest correction number a name may carry (``_2`` … ``_9999``); larger ones are not deliveries."""
    YEARS: ClassVar[range] = range(1900, 3000)
    """Years a delivery date may have; a name declaring another is not a delivery."""
    IN_PROGRESS_SUFFIXES: ClassVar[tuple[str, ...]] = (".part", ".partial", ".filepart", ".tmp")
    """Endings SFTP clients give a file while they upload it (renamed when done): neither delivery nor problem."""
    INCOMPLETE_AFTER: ClassVar[dt.timedelta] = dt.timedelta(hours=6)
    """A folder delivery still without its completion marker this long after its last change is reported:
    an upload that was abandoned, or a marker that was forgotten, must not wait unseen for ever."""
    completion_marker: ClassVar[str] = "its completion marker"
    """The file whose arrival completes a folder delivery (e.g. a FHIR export's ``manifest.json``)."""

    def discover_all(self, landing_root: Path, delivery_date: dt.date | None = None) -> list[LandedFile]:
        """Deliveries of every partner of the feed, from ``<landing_root>/<partner>/<folder>/`` where the
        folder is the feed's name unless the contract names another (``landingFolder``).

        Never raises on what a partner named a file: what is not a delivery is left out here and
        reported by :meth:`survey`."""
        return self.survey(landing_root, delivery_date).deliveries

    def survey(self, landing_root: Path, delivery_date: dt.date | None = None) -> Survey:
        """The deliveries of every partner (only those of ``delivery_date``, if given) and everything in
        the feed's landing folders that is not a delivery, whatever its date.

        Not reported, by design: hidden names (a leading dot: upload tools' and our own temporary
        files), names ending as an upload in progress (:attr:`IN_PROGRESS_SUFFIXES`), a folder that is
        not complete yet (e.g. an export whose manifest has not arrived: it is still being written),
        names another feed sharing the folder agrees on (e.g. NGO attendance files beside activity
        files), and files that vanish while we look.
        """
        deliveries: list[LandedFile] = []
        findings: list[NotADelivery] = []
        for partner in self.contract.partners:
            found, wrong = self._survey_folder(landing_root / partner / self.landing_folder, partner, delivery_date)
            deliveries += found
            findings += wrong
        return Survey(deliveries, findings)

    @property
    def landing_folder(self) -> str:
        return str(self.contract.properties.get("landingFolder") or self.feed)

    def is_complete(self, path: Path) -> bool:
        """Whether a candidate is a whole delivery (a folder delivery overrides this, e.g. a manifest)."""
        return path.is_file()

    def discover(self, landing_dir: Path, delivery_date: dt.date | None = None) -> list[LandedFile]:
        """Deliveries in ``landing_dir`` named as the contract agrees, optionally only those of one date.
        Never raises on a name; see :meth:`survey` for what is not a delivery and why."""
        return self._survey_folder(landing_dir, "", delivery_date)[0]

    def agreed_names(self) -> str:
        """The agreed file names in words, e.g. ``city_visits_YYYYMMDD[_N].csv``."""
        return describe_pattern(self._name_regex().pattern)

    def _name_regex(self) -> re.Pattern[str]:
        pattern = self.contract.file_format.file_name_pattern
        if pattern is None:
            raise contracts.ContractError(f"{self.feed}: the contract declares no fileNamePattern")
        regex = re.compile(pattern)
        if "date" not in regex.groupindex:
            raise contracts.ContractError(f"{self.feed}: the fileNamePattern has no (?P<date>…) group")
        return regex

    def _neighbours(self, partner: str) -> list[re.Pattern[str]]:
        """Name patterns of the other feeds delivered into the same landing folder (by ``partner``, or by
        anyone when it is not known): such files are those feeds' to judge, not "not a delivery" here."""
        out = []
        for feed in contracts.available():
            if feed == self.feed:
                continue
            try:
                other = contracts.load(feed)
            except contracts.ContractError:
                continue  # that feed's own runs report its broken contract
            pattern = other.file_format.file_name_pattern
            if pattern and str(other.properties.get("landingFolder") or feed) == self.landing_folder \
                    and (not partner or partner in other.partners):
                out.append(re.compile(pattern))
        return out

    def _survey_folder(self, landing_dir: Path, partner: str,
                       delivery_date: dt.date | None) -> tuple[list[LandedFile], list[NotADelivery]]:
        regex = self._name_regex()
        neighbours = self._neighbours(partner)
        found: list[LandedFile] = []
        wrong: list[NotADelivery] = []
        try:
            if not landing_dir.is_dir():
                return found, wrong
            with os.scandir(landing_dir) as entries:
                names = sorted(entry.name for entry in entries)
        except OSError as exc:
            wrong.append(NotADelivery(partner, self.feed, shown_name(landing_dir.name) + "/", "unreadable",
                                      f"the landing folder cannot be read ({exc.strerror or type(exc).__name__}); "
                                      "nothing in it can be landed until it can"))
            return found, wrong
        for name in names:
            verdict = self._judge(landing_dir / name, regex, neighbours, partner)
            if isinstance(verdict, LandedFile):
                if delivery_date is None or verdict.delivery_date == delivery_date:
                    found.append(verdict)
            elif verdict is not None:
                wrong.append(verdict)
        return sorted(found, key=lambda f: (f.delivery_date, f.sequence)), wrong

    def examine(self, path: Path, partner: str = "") -> LandedFile | NotADelivery | None:
        """What one candidate in a landing folder is: a delivery, not a delivery (and why), or None when
        there is nothing to say (hidden, still arriving, another feed's, gone). Never raises on a name."""
        return self._judge(path, self._name_regex(), self._neighbours(partner), partner)

    def _judge(self, path: Path, regex: re.Pattern[str], neighbours: list[re.Pattern[str]],
               partner: str) -> LandedFile | NotADelivery | None:
        try:
            verdict = self._examine(path, regex, neighbours, partner)
        except FileNotFoundError:
            return None  # gone while we looked (renamed or removed by the partner): nothing to say
        except OSError as exc:
            verdict = (None, "unreadable", f"it cannot be read ({exc.strerror or type(exc).__name__})")
        except Exception as exc:  # one odd name must never stop the feed's other files and dates
            log.exception("%s: examining a name in landing failed", self.feed)
            verdict = (None, "internal_error", f"internal_error: {type(exc).__name__}")
        if verdict is None or isinstance(verdict, LandedFile):
            return verdict
        date, rule, reason = verdict
        return NotADelivery(partner, self.feed, shown_name(path.name), rule, reason, date)

    def _examine(self, path: Path, regex: re.Pattern[str], neighbours: list[re.Pattern[str]],
                 partner: str) -> LandedFile | tuple[dt.date | None, str, str] | None:
        """A delivery, (date or None, rule, reason) when it is not one, or None when there is nothing to say."""
        name = path.name
        if name.startswith(".") or name.endswith(self.IN_PROGRESS_SUFFIXES):
            return None
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            return None, "not_utf8_name", ("the name is not valid UTF-8 (the bytes that are not are shown as \\xNN): "
                                           "rename it, in UTF-8, as agreed: " + self._agreed(neighbours))
        if _CONTROL.search(name):
            return None, "control_characters", ("the name contains control characters (shown as \\xNN): rename it "
                                                "as agreed: " + self._agreed(neighbours))
        if not name.isprintable():
            return None, "invisible_characters", ("the name contains invisible or formatting characters (shown as "
                                                  "\\uNNNN): rename it as agreed: " + self._agreed(neighbours))
        if path.is_symlink():
            return None, "link", "it is a link; links are not allowed in landing: put the file itself there"
        m = regex.match(name)
        if m is None:
            if any(other.match(name) for other in neighbours):
                return None
            return None, "unmatched_name", "the name does not match the agreed pattern " + self._agreed(neighbours)
        date_text, sequence_text = m["date"], m.groupdict().get("sequence")
        shape = _DATE_SHAPES.get(len(date_text), "YYYYMMDD")
        if not (_ascii_digits(date_text) and (sequence_text is None or _ascii_digits(sequence_text))):
            return None, "non_ascii_digits", f"the digits in the name must be ASCII 0-9 (expected {shape})"
        date = _date(date_text)
        if date is None:
            return None, "impossible_date", f"the date {date_text} in the name is not a real date (expected {shape})"
        if date.year not in self.YEARS:
            return date, "date_out_of_range", (f"the date {date_text} in the name is outside the years "
                                               f"{self.YEARS.start}-{self.YEARS.stop - 1}")
        sequence = int(sequence_text) if sequence_text else 1
        if not 1 <= sequence <= self.MAX_SEQUENCE:
            what = "too large" if sequence > self.MAX_SEQUENCE else "not allowed"
            shown = sequence_text if len(sequence_text) <= 12 else sequence_text[:12] + "…"
            return date, "sequence_out_of_range", (f"the correction number {shown} in the name is {what} "
                                                   f"(from 1 to at most {self.MAX_SEQUENCE})")
        if not self.is_complete(path):
            if path.is_dir():  # a folder delivery completes with its marker file: until then it is being written
                idle = dt.datetime.now(dt.UTC) - _last_change(path)
                if idle <= self.INCOMPLETE_AFTER:
                    return None
                return date, "incomplete_folder", (
                    f"the folder has had no {self.completion_marker} for {_hours(idle)}: the export is incomplete "
                    f"and is not processed; send the missing files and put {self.completion_marker} there last")
            if path.is_file():
                return date, "file_not_folder", "it is a single file, but this feed is delivered as a folder " \
                                                "(see the contract)"
            return date, "not_a_regular_file", "it is neither a file nor a folder"
        arrived = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        return LandedFile(path, date, sequence, arrived, partner)

    def _agreed(self, neighbours: list[re.Pattern[str]]) -> str:
        shown = [describe_pattern(p.pattern) for p in (self._name_regex(), *neighbours)]
        return " or ".join(dict.fromkeys(shown)) + " ([_N]: an optional correction number, 2, 3, …)"

    def read(self, path: Path, report: ReadReport, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Yield the delivery as batches in the contract schema plus ``_row`` and ``_errors``.

        Rows that cannot be read at all are counted in ``report.unreadable_rows``; a delivery that
        cannot be read at all raises :class:`DeliveryRejected`.
        """
        raise NotImplementedError


_DATE_SHAPES = {8: "YYYYMMDD", 6: "YYYYMM", 4: "YYYY"}
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode's control characters (category Cc)


def _last_change(folder: Path) -> dt.datetime:
    """When a folder or one of the files directly in it last changed (a file rewritten in place does not
    change the folder's own time)."""
    try:
        times = [folder.stat().st_mtime, *(p.lstat().st_mtime for p in folder.iterdir())]
    except OSError:  # vanished or unreadable meanwhile: treat as changing now, judged again on the next look
        return dt.datetime.now(dt.UTC)
    return dt.datetime.fromtimestamp(max(times), dt.UTC)


def _hours(span: dt.timedelta) -> str:
    hours = int(span.total_seconds() // 3600)
    return f"{hours} hours" if hours < 48 else f"{hours // 24} days"


def _ascii_digits(text: str) -> bool:
    # str.isdigit (and regex \d) also accept Arabic-Indic, full-width and other digits: names use 0-9 only.
    return text.isascii() and text.isdigit()


def _date(text: str) -> dt.date | None:
    """A delivery date from a file name: YYYYMMDD, YYYYMM (monthly: the 1st) or YYYY (yearly: 1 January);
    None when the text is not one (other lengths, not ASCII digits, or no such day)."""
    if len(text) not in _DATE_SHAPES or not _ascii_digits(text):
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6] or 1), int(text[6:8] or 1))
    except ValueError:
        return None


def shown_name(name: str) -> str:
    """A file name safe to show anywhere (logs, ledger, Markdown): each byte that is not UTF-8 as ``\\xNN``,
    control and invisible characters as ``\\xNN``/``\\uNNNN``, a backslash doubled; the rest as it is."""
    out = []
    for ch in name:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for a byte that is not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == "\\":
            out.append("\\\\")
        elif ch.isprintable():
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


_PATTERN_WORDS = (
    (r"(?P<date>\d{8})", "YYYYMMDD"), (r"(?P<date>\d{6})", "YYYYMM"), (r"(?P<date>\d{4})", "YYYY"),
    (r"(?:_(?P<sequence>\d+))?", "[_N]"), (r"(?:", "("), (r"\.", "."),
)


def describe_pattern(pattern: str) -> str:
    """A contract's fileNamePattern in words for partners, e.g. ``city_visits_YYYYMMDD[_N].csv``; the
    pattern itself when it uses more than the usual pieces."""
    text = pattern.removeprefix("^").removesuffix("$")
    for piece, words in _PATTERN_WORDS:
        text = text.replace(piece, words)
    return pattern if re.search(r"[\\?*+{}]|\[(?!_N\])", text) else text
