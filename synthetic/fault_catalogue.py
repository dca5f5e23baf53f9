"""A catalogue of broken and hostile deliveries, each with what the pipeline must make of it.

:mod:`synthetic.faults` injects the faults real partners make, at a rate, into a realistic world. This
module is the opposite: every case is one deliberate attack on the landing and ingest steps, written on
a date of its own so that one run can process them all and check each outcome. A case starts from a
clean delivery the generator wrote (:func:`synthetic.generate`), and breaks its name, its bytes, its rows,
its workbook container or its export folder.

Each :class:`FaultCase` says what must happen (``expected``):

======================  ==========================================================================
``rejected``            the whole delivery is rejected; ``reason`` is in the ledger's reason
``quarantined``         the delivery is published, some rows quarantined; ``reason`` is in one of
                        the row problems (``column: rule``) the ledger records
``accepted_with_warning``  published without quarantined rows, with a warning containing ``reason``
``not_a_delivery``      a landing entry that is not a delivery: the ledger records a finding (not
                        a delivery) whose reason contains ``reason``
======================  ==========================================================================

``reason`` may list alternatives separated by ``|`` where either wording is right. A row fault in a file
with few rows breaks the quality threshold (more than 20% of the rows bad): then the whole delivery is
rejected with ``quality_threshold``, as the policy says.

:func:`write_catalogue` writes every case, plus one clean delivery per feed and partner on a date of
its own (``Catalogue.good``), into a data root's ``landing/``. ``tests/e2e/test_fault_catalogue.py``
processes them and checks each case.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import os
import random
import re
import shutil
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import contracts
from synthetic import generate
from synthetic.faults import UNDEFINED_IN_CP1252, duplicate_records, duplicate_resources
from synthetic.fileformats import CRLF, Table, delimited_text, ndjson, xlsx
from synthetic.identity_codes import wrong_check_character

REJECTED = "rejected"
QUARANTINED = "quarantined"
ACCEPTED_WITH_WARNING = "accepted_with_warning"
NOT_A_DELIVERY = "not_a_delivery"
EXPECTATIONS = (REJECTED, QUARANTINED, ACCEPTED_WITH_WARNING, NOT_A_DELIVERY)
FORMATS = ("csv", "xlsx", "fhir")

MAX_BAD_SHARE = 0.20
"""The default quality threshold: more bad rows than this share reject the whole delivery (a contract may
agree another, ``maxRejectedRowShare``)."""

BASE_START = dt.date(2026, 10, 1)
"""The contracts' servicePeriodStart: no feed has deliveries before it."""
BASE_DAYS = 40
BASE_RESIDENTS = 2000
COSTS_FIRST_MONTH = (2027, 1)
"""Costs are monthly: their cases take the months from here on (after the generated October-November 2026)."""

FORMULAS = ('=HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3+cmd|' /C notepad'!A0")
NESTING_DEPTH = 10_000
LINK_DATE = dt.date(2026, 12, 24)
"""The date a symbolic link in landing is named for: outside the generated days, so no case writes through it."""


@dataclass(frozen=True)
class FaultCase:
    """One hostile delivery (or landing entry) and what the pipeline must make of it."""

    id: str
    feed: str
    partner: str
    format: str
    description: str
    expected: str
    reason: str
    """A substring of the reason a partner sees (alternatives separated by ``|``)."""
    delivery_date: dt.date | None = None
    """The date the case's delivery is processed on; for ``not_a_delivery`` the date its name declares, if any."""
    name: str = ""
    """The landed file or folder name (non-UTF-8 bytes as ``os.fsdecode`` gives them)."""

    def reasons(self) -> list[str]:
        return self.reason.split("|")


@dataclass(frozen=True)
class GoodDelivery:
    """A clean delivery written beside the cases: it must be published, unaffected by them."""

    feed: str
    partner: str
    delivery_date: dt.date
    name: str


@dataclass
class Catalogue:
    cases: list[FaultCase] = field(default_factory=list)
    good: list[GoodDelivery] = field(default_factory=list)

    def feeds(self) -> list[str]:
        return sorted({c.feed for c in self.cases} | {g.feed for g in self.good})

    def dates(self, feed: str) -> list[dt.date]:
        """Every date to process for ``feed``: its cases' deliveries and its good deliveries."""
        days = {c.delivery_date for c in self.cases if c.feed == feed and c.expected != NOT_A_DELIVERY}
        return sorted(days | {g.delivery_date for g in self.good if g.feed == feed})

    def counts(self) -> dict[str, int]:
        """Number of cases per format."""
        return dict(sorted(Counter(c.format for c in self.cases).items()))


# --- the clean deliveries the cases start from -----------------------------------------------------------


class _Base:
    """The generator's clean deliveries, handed out one date at a time so that no two cases share one."""

    def __init__(self, root: Path):
        self.landing = root / "landing"
        self._used: set[tuple[str, str, dt.date]] = set()

    def take(self, partner: str, feed: str, suffix: str = "", min_rows: int = 0) -> tuple[dt.date, Path]:
        """The next unused delivery of (partner, feed) whose name ends with ``suffix`` and which has at
        least ``min_rows`` data rows (lines of its Encounter file, for an export folder)."""
        folder = self.landing / partner / feed
        for path in sorted(folder.iterdir()):
            match = re.search(r"(\d{8}|\d{6})", path.name)
            if match is None or not path.name.endswith(suffix) or "osallistujat" in path.name:
                continue
            day = _name_date(match.group(1))
            if (partner, feed, day) in self._used or _rows(path) < min_rows:
                continue
            self._used.add((partner, feed, day))
            return day, path
        raise LookupError(f"no unused generated {feed} delivery of {partner} with {min_rows}+ rows")


def _name_date(text: str) -> dt.date:
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8] or 1))


def _rows(path: Path) -> int:
    if path.is_dir():
        return len((path / "Encounter.000.ndjson").read_bytes().splitlines())
    if path.suffix == ".csv":
        return max(0, len(_read_csv(path.read_bytes())[0].rows))
    return 1 << 30  # workbooks: any


# --- delimited files -------------------------------------------------------------------------------------


def _read_csv(data: bytes) -> tuple[Table, str, str]:
    """(table, encoding, line end) of a generated delimited file."""
    if data.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    else:
        try:
            data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"
    text = data.decode(encoding)
    line_end = CRLF if CRLF in text else "\n"
    header, *rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    return Table(header, rows), encoding, line_end


def _write_csv(table: Table, encoding: str, line_end: str) -> bytes:
    return delimited_text(table, line_end=line_end).encode(encoding)


def _row_fault(rows: int, reason: str, feed: str = "", bad: int = 1) -> tuple[str, str]:
    """What ``bad`` bad rows in a file of ``rows`` rows of ``feed`` must give: quarantined, or rejected when
    their share is over the feed's quality threshold (exactly at it is still accepted)."""
    limit = float(contracts.load(feed).properties.get("maxRejectedRowShare", MAX_BAD_SHARE)) if feed else MAX_BAD_SHARE
    return (QUARANTINED, reason) if rows and bad / rows <= limit else (REJECTED, "quality_threshold")


# --- workbooks -------------------------------------------------------------------------------------------


def _read_workbook(data: bytes) -> list[tuple[str, list[str], list[list[object]]]]:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data))
    sheets = []
    for sheet in workbook.worksheets:
        header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
        sheets.append((sheet.title, [str(h) for h in header], rows))
    return sheets


def _zip_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), content)
    return out.getvalue()


def _sheet_member(members: dict[str, bytes], title: str) -> str:
    """The zip member of the sheet named ``title``."""
    book = members["xl/workbook.xml"].decode()
    rels = members["xl/_rels/workbook.xml.rels"].decode()
    rid = re.search(rf'<sheet [^>]*name="{re.escape(title)}"[^>]*r:id="([^"]+)"', book)
    rid = rid or re.search(rf'<sheet [^>]*r:id="([^"]+)"[^>]*name="{re.escape(title)}"', book)
    assert rid, f"no sheet {title}"
    target = re.search(rf'<Relationship [^>]*Id="{rid.group(1)}"[^>]*Target="([^"]+)"', rels)
    target = target or re.search(rf'<Relationship [^>]*Target="([^"]+)"[^>]*Id="{rid.group(1)}"', rels)
    assert target, f"no target for {title}"
    return "xl/" + target.group(1).removeprefix("/xl/")


# --- the writer ------------------------------------------------------------------------------------------


class _Writer:
    def __init__(self, root: Path, base: _Base, catalogue: Catalogue):
        self.root = root
        self.landing = root / "landing"
        self.base = base
        self.catalogue = catalogue

    def folder(self, partner: str, feed: str) -> Path:
        path = self.landing / partner / feed
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add(self, case_id: str, feed: str, partner: str, fmt: str, description: str, expected: tuple[str, str],
            day: dt.date | None, name: str) -> None:
        state, reason = expected
        self.catalogue.cases.append(FaultCase(case_id, feed, partner, fmt, description, state, reason, day, name))

    def write(self, partner: str, feed: str, name: str | bytes, data: bytes) -> Path:
        folder = self.folder(partner, feed)
        path = Path(os.fsdecode(os.path.join(os.fsencode(folder), os.fsencode(name))))
        path.write_bytes(data)
        return path

    def good(self, partner: str, feed: str, suffix: str = "") -> Path:
        """Copy the next clean delivery as it is; it must be published."""
        day, source = self.base.take(partner, feed, suffix)
        target = self.folder(partner, feed) / source.name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
        self.catalogue.good.append(GoodDelivery(feed, partner, day, source.name))
        return target


def write_catalogue(root: Path, *, seed: int = 2026) -> Catalogue:
    """Write every fault case and the clean deliveries beside them into ``root/landing``; returns the
    catalogue (what each case is and must give). ``root`` is a data root; nothing else is touched."""
    root = Path(root)
    catalogue = Catalogue()
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="fault-catalogue-") as scratch:
        generate(Path(scratch), start=BASE_START, days=BASE_DAYS, residents=BASE_RESIDENTS, seed=seed,
                 fault_rate=0.0)
        writer = _Writer(root, _Base(Path(scratch)), catalogue)
        _city_visits_names(writer)
        _city_visits_contents(writer, rng)
        _other_city_csv(writer)
        _ngo_csv(writer)
        _costs(writer)
        _ngo_workbooks(writer)
        _fhir_exports(writer, rng)
    ids = [c.id for c in catalogue.cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return catalogue


# --- city_visits: names --------------------------------------------------------------------------------


def _city_visits_names(w: _Writer) -> None:
    feed, partner = "city_visits", "city"
    good = w.good(partner, feed)
    good_day = w.catalogue.good[-1].delivery_date
    content = good.read_bytes()
    names: list[tuple[str, str | bytes, str, str, dt.date | None]] = [
        ("name_impossible_date", "city_visits_20261399.csv", "month 13, day 99 in the name", "not a real date",
         None),
        ("name_february_30", "city_visits_20260230.csv", "30 February in the name", "not a real date", None),
        ("name_fullwidth_digits", "city_visits_２０２６０９１０.csv", "full-width digits in the name", "ASCII",
         None),
        ("name_arabic_indic_digits", "city_visits_٢٠٢٦٠٩١٠.csv", "Arabic-Indic digits in the name", "ASCII",
         None),
        ("name_oversized_sequence", "city_visits_20260910_" + "9" * 40 + ".csv",
         "a 40-digit correction number", "correction number", dt.date(2026, 9, 10)),
        ("name_sequence_zero", "city_visits_20260910_0.csv", "correction number 0", "correction number",
         dt.date(2026, 9, 10)),
        ("name_year_out_of_range", "city_visits_00010101.csv", "year 1 in the name", "outside the years",
         dt.date(1, 1, 1)),
        ("name_control_characters", "city_visits_20260910\r.csv", "a carriage return in the name",
         "control characters", None),
        ("name_escape_sequence", "city_visits_\x1b[31m20260910.csv", "a terminal escape sequence in the name",
         "control characters", None),
        ("name_not_utf8", b"city_visits_20260910_\xe4.csv", "a Latin-1 byte (not UTF-8) in the name", "UTF-8",
         None),
        ("name_invisible_characters", "city_visits_20260910\u200b.csv", "a zero-width space in the name",
         "invisible", None),
        ("name_unmatched_beside_valid", f"city_visits_{good_day:%Y%m%d}.csv.bak",
         "a backup copy beside the day's valid delivery", "agreed pattern", None),
        ("name_unmatched_copy_of", f"Copy of city_visits_{good_day:%Y%m%d}.csv",
         "an explorer's copy beside the day's valid delivery", "agreed pattern", None),
    ]
    for case_id, name, description, reason, day in names:
        w.write(partner, feed, name, content)
        shown = name if isinstance(name, str) else os.fsdecode(name)
        w.add(case_id, feed, partner, "csv", description, (NOT_A_DELIVERY, reason), day, shown)
    outside = w.root / "outside-landing"
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "visits.csv").write_bytes(content)
    link = w.folder(partner, feed) / f"city_visits_{LINK_DATE:%Y%m%d}.csv"
    link.symlink_to(outside / "visits.csv")
    w.add("name_symlink", feed, partner, "csv", "a symbolic link named as a delivery", (NOT_A_DELIVERY, "link"),
          LINK_DATE, link.name)


# --- city_visits: contents -----------------------------------------------------------------------------


def _city_visits_contents(w: _Writer, rng: random.Random) -> None:
    feed, partner = "city_visits", "city"

    def case(case_id: str, description: str, make: Callable[[Table, str, str], bytes | tuple[bytes, tuple]],
             expected: tuple[str, str] | None = None) -> None:
        # A row fault needs enough rows to stay under the quality threshold; a whole-file fault any day.
        day, source = w.base.take(partner, feed, min_rows=20 if expected is None else 0)
        table, encoding, line_end = _read_csv(source.read_bytes())
        made = make(table, encoding, line_end)
        data, outcome = made if isinstance(made, tuple) else (made, expected)
        w.write(partner, feed, source.name, data)
        w.add(case_id, feed, partner, "csv", description, outcome, day, source.name)

    def text(table: Table) -> str:
        return delimited_text(table, line_end=CRLF)

    def column(table: Table, name: str) -> int:
        return table.header.index(name)

    def set_value(name: str, value: str) -> Callable[[Table, str, str], tuple[bytes, tuple]]:
        def make(table: Table, encoding: str, line_end: str) -> tuple[bytes, tuple]:
            table.rows[len(table.rows) // 2][column(table, name)] = value
            return _write_csv(table, "utf-8-sig", line_end), _row_fault(len(table.rows), name)
        return make

    def drop(name: str) -> Callable[[Table, str, str], bytes]:
        def make(table: Table, encoding: str, line_end: str) -> bytes:
            i = column(table, name)
            return _write_csv(Table([h for j, h in enumerate(table.header) if j != i],
                                    [[v for j, v in enumerate(r) if j != i] for r in table.rows]), encoding, line_end)
        return make

    case("utf16_le", "the export saved as UTF-16 LE with its BOM",
         lambda t, e, n: codecs.BOM_UTF16_LE + text(t).encode("utf-16-le"), (REJECTED, "encoding"))
    case("utf16_be", "the export saved as UTF-16 BE with its BOM",
         lambda t, e, n: codecs.BOM_UTF16_BE + text(t).encode("utf-16-be"), (REJECTED, "encoding"))
    case("utf32", "the export saved as UTF-32 with its BOM",
         lambda t, e, n: text(t).encode("utf-32"), (REJECTED, "encoding"))
    case("double_utf8_bom", "two UTF-8 byte-order marks (a BOM added to a file that had one)",
         lambda t, e, n: codecs.BOM_UTF8 + _write_csv(t, "utf-8-sig", n), (REJECTED, "kaynti_id|encoding"))
    case("utf8_bom_on_cp1252", "a UTF-8 byte-order mark in front of Windows-1252 text",
         lambda t, e, n: codecs.BOM_UTF8 + _write_csv(t, "cp1252", n), (REJECTED, "encoding"))
    case("bytes_in_no_encoding", "bytes defined in no agreed encoding in one record",
         lambda t, e, n: _write_csv(t, "cp1252", n).replace(b"\r\n", UNDEFINED_IN_CP1252 + b"\r\n", 3),
         (REJECTED, "encoding"))
    case("nul_in_record", "a NUL byte inside a record's kaynti_id (a file with NUL bytes is not a text export)",
         lambda t, e, n: set_value("kaynti_id", "K1\x00")(t, e, n)[0], (REJECTED, "NUL"))

    def truncated_mid_record(t: Table, e: str, n: str) -> tuple[bytes, tuple]:
        data = _write_csv(t, e, n)
        cut = data.rstrip().rfind(b";", 0, len(data) - 40)
        return data[:cut], _row_fault(len(t.rows), "unreadable_row|paivitetty")
    case("truncated_mid_record", "the upload cut off in the middle of the last record", truncated_mid_record)

    def truncated_in_quotes(t: Table, e: str, n: str) -> tuple[bytes, tuple]:
        t.rows[-1][column(t, "lisatieto")] = 'Soitettu; "takaisinsoitto" huomenna ' * 20
        data = _write_csv(t, e, n)
        return data[: len(data) - 200], _row_fault(len(t.rows), "unreadable_row|paivitetty")
    case("truncated_in_quotes", "the upload cut off inside a quoted note of the last record", truncated_in_quotes)
    case("missing_required_column", "the henkilotunnus column left out", drop("henkilotunnus"),
         (REJECTED, "missing_columns"))
    case("missing_optional_column", "the optional diagnoosi column left out", drop("diagnoosi"),
         (ACCEPTED_WITH_WARNING, "optional column"))

    def renamed(t: Table, e: str, n: str) -> bytes:
        t.header[column(t, "paivitetty")] = "paivitetty_aika"
        return _write_csv(t, e, n)
    case("renamed_column", "paivitetty renamed paivitetty_aika", renamed, (REJECTED, "missing_columns"))

    def extra(t: Table, e: str, n: str) -> bytes:
        return _write_csv(Table([*t.header, "uusi_sarake"], [[*r, "x"] for r in t.rows]), e, n)
    case("extra_column", "a column the contract does not know", extra, (ACCEPTED_WITH_WARNING, "extra column"))
    case("formula_hyperlink", "a spreadsheet formula in palvelu", set_value("palvelu", FORMULAS[0]))
    case("formula_dde_command", "a DDE command formula in postinumero", set_value("postinumero", FORMULAS[1]))
    case("formula_at_sum", "an @-formula in kotikunta", set_value("kotikunta", FORMULAS[2]))

    def invalid_hetu(t: Table, e: str, n: str) -> tuple[bytes, tuple]:
        i = column(t, "henkilotunnus")
        row = t.rows[len(t.rows) // 3]
        row[i] = wrong_check_character(row[i], rng)
        return _write_csv(t, e, n), _row_fault(len(t.rows), "henkilotunnus")
    case("invalid_identity_code", "a henkilotunnus with a wrong check character", invalid_hetu)
    case("impossible_identity_code", "a henkilotunnus on 31 February", set_value("henkilotunnus", "310288-123X"))

    def duplicates(t: Table, e: str, n: str) -> tuple[bytes, tuple]:
        detail = duplicate_records(t, random.Random(1))
        count = len(detail["rows"]) if detail else 0
        return _write_csv(t, e, n), _row_fault(len(t.rows), "duplicate", feed, count)
    case("duplicate_rows", "records repeated exactly", duplicates)
    case("empty_file", "an empty file (0 bytes)", lambda t, e, n: b"", (REJECTED, "empty_file"))
    case("header_only", "only the header row", lambda t, e, n: _write_csv(Table(t.header), e, n),
         (ACCEPTED_WITH_WARNING, "rows"))
    case("huge_integer", "a 40-digit duration", set_value("kesto_min", "9" * 40))
    case("huge_decimal", "a 40-digit fee", set_value("asiakasmaksu", "9" * 40 + ",00"))
    case("impossible_date_in_row", "a visit on 31 February", set_value("alkuaika", "31.02.2026 10:00"))
    case("wrong_delimiter", "comma-separated instead of semicolons",
         lambda t, e, n: delimited_text(t, delimiter=",", line_end=n).encode(e), (REJECTED, "delimiter"))


# --- other city CSV feeds ------------------------------------------------------------------------------


def _other_city_csv(w: _Writer) -> None:
    partner = "city"
    for feed in ("city_activity", "city_access"):
        w.good(partner, feed)

    def case(feed: str, case_id: str, description: str,
             make: Callable[[Table, str, str, bytes], bytes | tuple[bytes, tuple]],
             expected: tuple[str, str] | None = None) -> None:
        day, source = w.base.take(partner, feed)
        raw = source.read_bytes()
        table, encoding, line_end = _read_csv(raw)
        made = make(table, encoding, line_end, raw)
        data, outcome = made if isinstance(made, tuple) else (made, expected)
        w.write(partner, feed, source.name, data)
        w.add(case_id, feed, partner, "csv", description, outcome, day, source.name)

    def one_value(name: str, value: str) -> Callable[[Table, str, str, bytes], tuple[bytes, tuple]]:
        def make(t: Table, e: str, n: str, raw: bytes) -> tuple[bytes, tuple]:
            t.rows[0][t.header.index(name)] = value
            return _write_csv(t, "utf-8-sig", n), _row_fault(len(t.rows), name)
        return make

    case("city_activity", "activity_utf16", "UTF-16 export",
         lambda t, e, n, raw: delimited_text(t, line_end=n).encode("utf-16"), (REJECTED, "encoding"))
    case("city_activity", "activity_header_only", "only the header row",
         lambda t, e, n, raw: _write_csv(Table(t.header), e, n), (ACCEPTED_WITH_WARNING, "rows"))
    case("city_activity", "activity_missing_column", "the arvo column left out",
         lambda t, e, n, raw: _write_csv(Table(t.header[:-1], [r[:-1] for r in t.rows]), e, n),
         (REJECTED, "missing_columns"))
    case("city_activity", "activity_huge_number", "a 400-digit value", one_value("arvo", "1" + "0" * 400))
    case("city_activity", "activity_formula", "a formula as the measure name", one_value("mittari", FORMULAS[3]))
    case("city_access", "access_nul_bytes", "NUL bytes in a record (a file with NUL bytes is not a text export)",
         lambda t, e, n, raw: one_value("toimipiste", "TESOMA\x00\x00TK")(t, e, n, raw)[0], (REJECTED, "NUL"))
    case("city_access", "access_truncated_header", "the upload cut off inside the header",
         lambda t, e, n, raw: raw[:12], (REJECTED, "missing_columns|empty_file|malformed"))
    case("city_access", "access_whitespace_only", "only spaces and line ends",
         lambda t, e, n, raw: b"   \r\n\r\n \r\n", (REJECTED, "empty_file|missing_columns"))
    name = "city_activity_20260230.csv"
    w.write(partner, "city_activity", name, b"pvm;toimipiste;palvelu;mittari;arvo\r\n")
    w.add("activity_name_impossible_date", "city_activity", partner, "csv", "30 February in the name",
          (NOT_A_DELIVERY, "not a real date"), None, name)


# --- NGO CSV ---------------------------------------------------------------------------------------------


def _ngo_csv(w: _Writer) -> None:
    feed, partner = "ngo_activity", "ngo_setlementti"
    good = w.good(partner, feed, ".csv")
    attendance = good.with_name(good.stem + "_osallistujat.csv")
    shutil.copyfile(w.base.landing / partner / feed / attendance.name, attendance)

    def case(case_id: str, description: str, make: Callable[[Table, str, str], bytes | tuple[bytes, tuple]],
             expected: tuple[str, str] | None = None) -> None:
        day, source = w.base.take(partner, feed, ".csv")
        table, encoding, line_end = _read_csv(source.read_bytes())
        made = make(table, encoding, line_end)
        data, outcome = made if isinstance(made, tuple) else (made, expected)
        w.write(partner, feed, source.name, data)
        w.add(case_id, feed, partner, "csv", description, outcome, day, source.name)

    def formula(value: str) -> Callable[[Table, str, str], bytes]:
        def make(t: Table, e: str, n: str) -> bytes:
            t.rows[0][t.header.index("ryhma")] = value
            return _write_csv(t, e, n)
        return make

    case("ngo_csv_formula_at_sum", "an @-formula as the group name", formula(FORMULAS[2]),
         (ACCEPTED_WITH_WARNING, "formula"))
    case("ngo_csv_formula_hyperlink", "a HYPERLINK formula as the group name", formula(FORMULAS[0]),
         (ACCEPTED_WITH_WARNING, "formula"))
    case("ngo_csv_empty", "an empty file", lambda t, e, n: b"", (REJECTED, "empty_file"))
    case("ngo_csv_missing_column", "the ryhma column left out",
         lambda t, e, n: _write_csv(Table([h for h in t.header if h != "ryhma"],
                                          [[v for h, v in zip(t.header, r, strict=True) if h != "ryhma"]
                                           for r in t.rows]), e, n),
         (REJECTED, "missing_columns"))

    def huge(t: Table, e: str, n: str) -> tuple[bytes, tuple]:
        t.rows[0][t.header.index("osallistujat_lkm")] = "9" * 30
        return _write_csv(t, e, n), _row_fault(len(t.rows), "osallistujat_lkm")
    case("ngo_csv_huge_count", "a 30-digit participant count", huge)


# --- costs (monthly, CSV and workbooks) ----------------------------------------------------------------


def _costs(w: _Writer) -> None:
    feed = "costs"
    w.good("city", feed)
    w.good("ngo_mll", feed)
    year, month = COSTS_FIRST_MONTH
    city_csv = sorted((w.base.landing / "city" / feed).glob("*.csv"))[0].read_bytes()
    mll_book = sorted((w.base.landing / "ngo_mll" / feed).glob("*.xlsx"))[0].read_bytes()
    base_month = f"{BASE_START:%Y-%m}"

    def next_month() -> dt.date:
        nonlocal year, month
        day = dt.date(year, month, 1)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return day

    def csv_case(case_id: str, description: str, make: Callable[[Table, str, str], bytes | tuple[bytes, tuple]],
                 expected: tuple[str, str] | None = None) -> None:
        day = next_month()
        table, encoding, line_end = _read_csv(city_csv)
        for row in table.rows:
            row[0] = f"{day:%Y-%m}"
        made = make(table, encoding, line_end)
        data, outcome = made if isinstance(made, tuple) else (made, expected)
        name = f"costs_{day:%Y%m}.csv"
        w.write("city", feed, name, data)
        w.add(case_id, feed, "city", "csv", description, outcome, day, name)

    def book_case(case_id: str, description: str, make: Callable[[bytes], bytes | tuple[bytes, tuple]],
                  expected: tuple[str, str] | None = None) -> None:
        day = next_month()
        sheets = _read_workbook(mll_book)
        redated = [(title, header, [[f"{day:%Y-%m}" if v == base_month else v for v in row] for row in rows])
                   for title, header, rows in sheets]
        made = make(xlsx(redated))
        data, outcome = made if isinstance(made, tuple) else (made, expected)
        name = f"costs_{day:%Y%m}.xlsx"
        w.write("ngo_mll", feed, name, data)
        w.add(case_id, feed, "ngo_mll", "xlsx", description, outcome, day, name)

    def area(value: str) -> Callable[[Table, str, str], tuple[bytes, tuple]]:
        def make(t: Table, e: str, n: str) -> tuple[bytes, tuple]:
            t.rows[0][1] = value
            return _write_csv(t, e, n), _row_fault(len(t.rows), "palvelualue", "costs")
        return make

    csv_case("costs_formula_dde", "a DDE command formula as the service area", area(FORMULAS[1]))
    csv_case("costs_utf16", "UTF-16 export",
             lambda t, e, n: delimited_text(t, line_end=n).encode("utf-16"), (REJECTED, "encoding"))

    def huge_amount(t: Table, e: str, n: str) -> tuple[bytes, tuple]:
        t.rows[0][2] = "1" + "0" * 60 + ",00"
        return _write_csv(t, e, n), _row_fault(len(t.rows), "kustannus_eur", "costs")
    csv_case("costs_huge_amount", "a 61-digit amount", huge_amount)
    name = "costs_202613.csv"
    w.write("city", feed, name, city_csv)
    w.add("costs_name_month_13", feed, "city", "csv", "month 13 in the name", (NOT_A_DELIVERY, "not a real date"),
          None, name)

    book_case("costs_book_not_a_zip", "CSV text saved with an .xlsx name",
              lambda data: city_csv.replace(base_month.encode(), b"2027-03"),
              (REJECTED, "not_a_workbook"))
    book_case("costs_book_truncated_zip", "the workbook cut off at half its size",
              lambda data: data[: len(data) // 2], (REJECTED, "not_a_workbook|malformed"))

    def renamed_sheet(data: bytes) -> bytes:
        sheets = _read_workbook(data)
        return xlsx([("Taul1", header, rows) for _, header, rows in sheets])
    book_case("costs_book_missing_sheet", "the sheet kustannukset renamed Taul1", renamed_sheet,
              (REJECTED, "missing_sheet"))

    def cell(value: object) -> Callable[[bytes], tuple[bytes, tuple]]:
        def make(data: bytes) -> tuple[bytes, tuple]:
            (title, header, rows), *_ = _read_workbook(data)
            rows[0][2] = value
            return xlsx([(title, header, rows)]), _row_fault(len(rows), "kustannus_eur", "costs")
        return make
    book_case("costs_book_huge_number", "1e308 euros in a number cell", cell(1e308))
    book_case("costs_book_text_amount", "text in the amount cell", cell("kolmesataa"))


# --- NGO workbooks -------------------------------------------------------------------------------------


NGO_COLUMNS = ("pvm", "toimintamuoto", "ryhma", "osallistujat_lkm", "vapaaehtoiset_lkm")
"""The activity sheet's columns in order (the MLL workbook names them in words: Päivämäärä, …)."""


def _ngo_workbooks(w: _Writer) -> None:
    feed, partner = "ngo_activity", "ngo_mll"
    w.good(partner, feed, ".xlsx")

    def case(case_id: str, description: str, make: Callable[[bytes], bytes | tuple[bytes, tuple]],
             expected: tuple[str, str] | None = None) -> None:
        day, source = w.base.take(partner, feed, ".xlsx")
        made = make(source.read_bytes())
        data, outcome = made if isinstance(made, tuple) else (made, expected)
        w.write(partner, feed, source.name, data)
        w.add(case_id, feed, partner, "xlsx", description, outcome, day, source.name)

    def edit_sheet(edit: Callable[[list[str], list[list[object]]], tuple[list[str], list[list[object]]]]
                   ) -> Callable[[bytes], bytes]:
        def make(data: bytes) -> bytes:
            sheets = []
            for title, header, rows in _read_workbook(data):
                if title == "toiminta":
                    header, rows = edit(header, rows)
                sheets.append((title, header, rows))
            return xlsx(sheets)
        return make

    def one_cell(name: str, value: object, outcome: tuple[str, str] | None = None
                 ) -> Callable[[bytes], tuple[bytes, tuple]]:
        def make(data: bytes) -> tuple[bytes, tuple]:
            rows_seen: list[int] = []

            def edit(header: list[str], rows: list[list[object]]) -> tuple[list[str], list[list[object]]]:
                rows[0][NGO_COLUMNS.index(name)] = value
                rows_seen.append(len(rows))
                return header, rows
            made = edit_sheet(edit)(data)
            return made, outcome or _row_fault(rows_seen[0], name)
        return make

    def xml_edit(member_of: Callable[[dict[str, bytes]], str], edit: Callable[[bytes], bytes]
                 ) -> Callable[[bytes], bytes]:
        def make(data: bytes) -> bytes:
            members = _zip_members(data)
            member = member_of(members)
            members[member] = edit(members[member])
            return _zip(members)
        return make

    def sheet(members: dict[str, bytes]) -> str:
        return _sheet_member(members, "toiminta")

    case("book_not_a_zip", "CSV text saved with an .xlsx name",
         lambda data: b"pvm;toimintamuoto;ryhma\r\n01.09.2026;x;y\r\n", (REJECTED, "not_a_workbook"))
    case("book_ole2_xls", "an old binary .xls (OLE2) renamed .xlsx",
         lambda data: bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504), (REJECTED, "not_a_workbook"))
    case("book_truncated_zip", "the workbook cut off at two thirds of its size",
         lambda data: data[: len(data) * 2 // 3], (REJECTED, "not_a_workbook|malformed"))
    case("book_empty_file", "an empty .xlsx file (0 bytes: the same content, hence SHA-256, as ngo_csv_empty of "
         "another partner and date)", lambda data: b"",
         (REJECTED, "empty_file|not_a_workbook"))
    case("book_missing_sheet", "the sheet toiminta renamed Taul1",
         lambda data: xlsx([("Taul1" if t == "toiminta" else t, h, r) for t, h, r in _read_workbook(data)]),
         (REJECTED, "missing_sheet"))

    def shared_string_out_of_range(data: bytes) -> bytes:
        # openpyxl writes text inline; Excel writes a shared-string table and indexes into it.
        members = _zip_members(data)
        member = sheet(members)
        members[member], done = re.subn(rb'<c r="B2"([^>]*) t="inlineStr"><is><t>[^<]*</t></is></c>',
                                        rb'<c r="B2"\1 t="s"><v>99999</v></c>', members[member], count=1)
        if not done:
            raise LookupError("the sheet has no text cell B2 to damage")
        members["xl/sharedStrings.xml"] = (b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                                           b'count="1" uniqueCount="1"><si><t>perhekahvila</t></si></sst>')
        members["[Content_Types].xml"] = members["[Content_Types].xml"].replace(b"</Types>", (
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            b'spreadsheetml.sharedStrings+xml"/></Types>'))
        members["xl/_rels/workbook.xml.rels"] = members["xl/_rels/workbook.xml.rels"].replace(b"</Relationships>", (
            b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" '
            b'Target="sharedStrings.xml" Id="rIdStrings"/></Relationships>'))
        return _zip(members)
    case("book_shared_string_out_of_range", "a cell pointing at shared string 99999 of a handful",
         shared_string_out_of_range, (REJECTED, "malformed|not_a_workbook"))
    case("book_row_beyond_excel_limit", "a cell numbered beyond Excel's 1,048,576 rows",
         xml_edit(sheet, lambda xml: xml.replace(b"</sheetData>",
                                                 b'<row r="2000000"><c r="A2000000"><v>1</v></c></row></sheetData>')),
         (REJECTED, "malformed"))
    case("book_missing_column", "the ryhma column left out",
         edit_sheet(lambda h, r: (h[:2] + h[3:], [row[:2] + row[3:] for row in r])),
         (REJECTED, "missing_columns"))
    case("book_extra_column", "a column the contract does not know",
         edit_sheet(lambda h, r: ([*h, "huomio"], [[*row, "x"] for row in r])), (ACCEPTED_WITH_WARNING, "extra"))
    case("book_header_only", "only the header row on the sheet", edit_sheet(lambda h, r: (h, [])),
         (ACCEPTED_WITH_WARNING, "rows"))
    case("book_formula_hyperlink", "a HYPERLINK formula cell as the group name (a formula has no value)",
         one_cell("ryhma", FORMULAS[0]))
    case("book_formula_dde_text", "a DDE command as the activity type (a coded column, mapped by a table)",
         one_cell("toimintamuoto", FORMULAS[1], (ACCEPTED_WITH_WARNING, "unmapped")))
    case("book_huge_number", "1e308 participants", one_cell("osallistujat_lkm", 1e308))
    case("book_impossible_date_text", "31.02.2026 as the date's text", one_cell("pvm", "31.02.2026"))


# --- FHIR exports --------------------------------------------------------------------------------------


def _fhir_exports(w: _Writer, rng: random.Random) -> None:
    feed, partner = "mehilainen_fhir", "mehilainen"
    w.good(partner, feed)

    def case(case_id: str, description: str, make: Callable[[Path], tuple[str, str] | None],
             expected: tuple[str, str] | None = None) -> None:
        day, source = w.base.take(partner, feed, min_rows=15 if expected is None else 0)
        target = w.folder(partner, feed) / source.name
        shutil.copytree(source, target)
        made = make(target)
        outcome = made if isinstance(made, tuple) else expected
        w.add(case_id, feed, partner, "fhir", description, outcome, day, source.name)

    def lines(folder: Path, kind: str) -> list[bytes]:
        return (folder / f"{kind}.000.ndjson").read_bytes().splitlines(keepends=True)

    def set_lines(folder: Path, kind: str, new: list[bytes]) -> None:
        (folder / f"{kind}.000.ndjson").write_bytes(b"".join(new))

    def manifest(folder: Path) -> dict:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))

    def set_manifest(folder: Path, document: object) -> None:
        (folder / "manifest.json").write_text(json.dumps(document, indent=2), encoding="utf-8")

    def replace_encounter(folder: Path, line: bytes) -> None:
        current = lines(folder, "Encounter")
        current[len(current) // 2] = line
        set_lines(folder, "Encounter", current)

    def encounters(folder: Path) -> list[dict]:
        return [json.loads(line) for line in lines(folder, "Encounter")]

    def period_start(value: str) -> Callable[[Path], tuple[str, str]]:
        def make(folder: Path) -> tuple[str, str]:
            resources = encounters(folder)
            resources[len(resources) // 2]["period"]["start"] = value
            set_lines(folder, "Encounter", ndjson(resources).splitlines(keepends=True))
            return _row_fault(len(resources), "period_start")
        return make

    def abandoned_without_manifest(folder: Path) -> None:
        (folder / "manifest.json").unlink()
        two_days_ago = time.time() - 2 * 86400
        for member in (*folder.iterdir(), folder):
            os.utime(member, (two_days_ago, two_days_ago))

    case("fhir_missing_manifest", "an export folder left without manifest.json for two days",
         abandoned_without_manifest, (NOT_A_DELIVERY, "manifest"))

    def lists_missing(folder: Path) -> None:
        document = manifest(folder)
        document["output"].append({"type": "Encounter", "url": "Encounter.001.ndjson", "count": 4})
        set_manifest(folder, document)
    case("fhir_manifest_lists_missing_file", "the manifest lists a file that is not there", lists_missing,
         (REJECTED, "manifest_mismatch"))
    case("fhir_manifest_invalid_json", "manifest.json cut off mid-object",
         lambda f: (f / "manifest.json").write_bytes((f / "manifest.json").read_bytes()[:60]),
         (REJECTED, "manifest_invalid"))
    case("fhir_manifest_not_utf8", "manifest.json in Latin-1 with a non-ASCII letter",
         lambda f: (f / "manifest.json").write_bytes(
             (f / "manifest.json").read_bytes().replace(b'"error"', '"virheet_ä"'.encode("latin-1"))),
         (REJECTED, "manifest_invalid"))
    case("fhir_manifest_is_array", "manifest.json is a JSON array",
         lambda f: set_manifest(f, [manifest(f)]), (REJECTED, "manifest_invalid"))

    def traversal(folder: Path) -> None:
        document = manifest(folder)
        document["output"][0]["url"] = "../../../../etc/passwd"
        set_manifest(folder, document)
    case("fhir_manifest_path_traversal", "a manifest url pointing outside the folder", traversal,
         (REJECTED, "manifest_mismatch"))
    case("fhir_count_mismatch", "the Encounter file lost its last two lines (count says more)",
         lambda f: set_lines(f, "Encounter", lines(f, "Encounter")[:-2]), (REJECTED, "manifest_count_mismatch"))
    def unreadable(edit: Callable[[Path], None]) -> Callable[[Path], tuple[str, str]]:
        def make(folder: Path) -> tuple[str, str]:
            edit(folder)
            return _row_fault(len(lines(folder, "Encounter")), "unreadable_row")
        return make

    case("fhir_truncated_last_line", "the Encounter file cut off inside its last line",
         unreadable(lambda f: set_lines(f, "Encounter", [*lines(f, "Encounter")[:-1], lines(f, "Encounter")[-1][:70]])))
    case("fhir_invalid_json_line", "one Encounter line is not JSON",
         unreadable(lambda f: replace_encounter(f, b'{"resourceType": "Encounter", "id": \n')))
    deep = (b'{"resourceType":"Encounter","id":"deep","extension":' + b"[" * NESTING_DEPTH + b"]" * NESTING_DEPTH
            + b"}\n")
    case("fhir_deeply_nested_line", f"an Encounter line nested {NESTING_DEPTH:,} arrays deep",
         unreadable(lambda f: replace_encounter(f, deep)))
    case("fhir_nul_in_line", "a NUL byte inside an Encounter's JSON string",
         unreadable(lambda f: replace_encounter(f, lines(f, "Encounter")[0].replace(b'"finished"', b'"fini\x00shed"',
                                                                                  1))))
    case("fhir_period_start_year_1", "period.start 0001-01-01T00:00:00+14:00 (before year 1 in UTC)",
         period_start("0001-01-01T00:00:00+14:00"))
    case("fhir_period_start_year_9999", "period.start 9999-12-31T23:59:59-14:00 (after year 9999 in UTC)",
         period_start("9999-12-31T23:59:59-14:00"))
    case("fhir_period_start_impossible", "period.start on 30 February", period_start("2026-02-30T10:00:00+02:00"))

    def invalid_hetu(folder: Path) -> tuple[str, str]:
        patients = [json.loads(line) for line in lines(folder, "Patient")]
        for patient in patients:
            for identifier in patient.get("identifier", []):
                if identifier.get("system") == "urn:oid:1.2.246.21":
                    identifier["value"] = wrong_check_character(identifier["value"], rng)
                    set_lines(folder, "Patient", ndjson(patients).splitlines(keepends=True))
                    visits = encounters(folder)
                    broken = sum(e["subject"]["reference"] == f"Patient/{patient['id']}" for e in visits)
                    return _row_fault(len(visits), "hetu", feed, broken)
        raise LookupError("no Patient with a HETU")
    case("fhir_invalid_identity_code", "a Patient HETU with a wrong check character", invalid_hetu)

    def duplicate_lines(folder: Path) -> tuple[str, str]:
        resources = encounters(folder)
        detail = duplicate_resources(resources, random.Random(3))
        set_lines(folder, "Encounter", ndjson(resources).splitlines(keepends=True))
        document = manifest(folder)
        for entry in document["output"]:
            if entry["type"] == "Encounter":
                entry["count"] = len(resources)
        set_manifest(folder, document)
        count = len(detail["rows"]) if detail else 0
        return _row_fault(len(resources), "duplicate", feed, count)
    case("fhir_duplicate_lines", "Encounter lines repeated exactly", duplicate_lines)

    def utf16_patients(folder: Path) -> None:
        path = folder / "Patient.000.ndjson"
        path.write_bytes(path.read_bytes().decode().encode("utf-16"))
    case("fhir_patients_utf16", "the Patient file in UTF-16", utf16_patients,
         (REJECTED, "encoding|quality_threshold|manifest_count_mismatch"))

    def unknown_type(folder: Path) -> None:
        (folder / "Observation.000.ndjson").write_bytes(b'{"resourceType":"Observation","id":"o1"}\n')
        document = manifest(folder)
        document["output"].append({"type": "Observation", "url": "Observation.000.ndjson", "count": 1})
        set_manifest(folder, document)
    case("fhir_unknown_resource_type", "an Observation file listed beside the agreed types", unknown_type,
         (ACCEPTED_WITH_WARNING, "not part of this feed"))

    outside = w.root / "outside-landing"
    outside.mkdir(parents=True, exist_ok=True)

    def symlinked_member(folder: Path) -> None:
        target = outside / "Encounter.ndjson"
        (folder / "Encounter.000.ndjson").replace(target)
        (folder / "Encounter.000.ndjson").symlink_to(target)
    case("fhir_symlink_member", "Encounter.000.ndjson is a link to a file outside the export",
         symlinked_member, (REJECTED, "link"))

    def symlink_loop(folder: Path) -> None:
        (folder / "Condition.000.ndjson").unlink()
        (folder / "Condition.000.ndjson").symlink_to("loop.ndjson")
        (folder / "loop.ndjson").symlink_to("Condition.000.ndjson")
    case("fhir_symlink_loop", "Condition.000.ndjson is a link in a loop of links", symlink_loop,
         (REJECTED, "link"))

    def non_utf8_member(folder: Path) -> None:
        name = os.fsencode(folder) + b"/Encounter.\xe4.ndjson"
        with open(name, "wb") as f:
            f.write(lines(folder, "Encounter")[0])
    case("fhir_member_name_not_utf8", "an unlisted file whose name is not UTF-8 inside the export",
         non_utf8_member, (REJECTED, "bad_name_in_folder"))

    # Folders that are not deliveries
    day, source = w.base.take(partner, feed)
    for case_id, name, description, reason, when in (
        ("fhir_folder_impossible_date", "20261399", "an export folder named 20261399", "not a real date", None),
        ("fhir_folder_oversized_sequence", f"{day:%Y%m%d}_{'9' * 30}", "a 30-digit correction number",
         "correction number", day),
    ):
        shutil.copytree(source, w.folder(partner, feed) / name)
        w.add(case_id, feed, partner, "fhir", description, (NOT_A_DELIVERY, reason), when, name)
    single = f"{day:%Y%m%d}"
    (w.folder(partner, feed) / single).write_bytes((source / "Encounter.000.ndjson").read_bytes())
    w.add("fhir_file_not_folder", feed, partner, "fhir", "an export delivered as a single file, not a folder",
          (NOT_A_DELIVERY, "single file"), day, single)
    day, source = w.base.take(partner, feed)
    shutil.copytree(source, outside / source.name)
    (w.folder(partner, feed) / source.name).symlink_to(outside / source.name, target_is_directory=True)
    w.add("fhir_folder_symlink", feed, partner, "fhir", "the export folder is a link to a folder elsewhere",
          (NOT_A_DELIVERY, "link"), day, source.name)
