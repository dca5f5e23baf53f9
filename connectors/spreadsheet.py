"""Excel workbooks (.xlsx) as small partners deliver them, and feeds that arrive as a workbook from some
partners and as delimited text from others.

A workbook is read in openpyxl's read-only mode, streaming one row at a time (bounded memory whatever
the sheet's size), from the sheet the contract names (customProperty ``worksheet``; the only sheet when
the contract names none). Cells are turned into the text a delimited file would hold, so that one typing
step (:func:`connectors.delimited.type_batch`) and one set of rule names serve both formats:

- date and date-time cells are written in the contract column's ``format`` (e.g. ``%d.%m.%Y``), so a
  real Excel date and a date typed as text read the same; text cells are kept as they are;
- number cells are written as Excel shows them at full precision (15 significant digits, no exponent),
  so ``3021.05`` stays ``3021.05`` and ``24.0`` becomes ``24``;
- empty cells and cells holding only spaces are empty (null); booleans become ``true``/``false``.

Header names go through the contract's aliases (``synonyms``) exactly as in delimited files. The header is
the first row that is not empty. Row numbers count data rows from the header (row N is the sheet's row
N + 1 when the header is on row 1), so they point at the row the partner sees in Excel; empty rows are
skipped but keep their numbers.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from xml.etree.ElementTree import ParseError

import pyarrow as pa

import contracts
from connectors.base import ROW_NUMBER, DeliveryRejected, FileConnector, ReadReport
from connectors.delimited import DelimitedFileConnector, check_header, require_file, resolve_aliases, type_batch

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
_DEFAULT_FORMAT = {"date": "%Y-%m-%d", "timestamp": "%Y-%m-%dT%H:%M:%S"}  # as connectors.delimited._parse
_BROKEN = (zipfile.BadZipFile, zlib.error, EOFError, ParseError)  # a damaged zip container or sheet XML
_DAMAGED = (*_BROKEN, LookupError, ValueError, TypeError, AttributeError, ArithmeticError)
"""What openpyxl raises on a damaged workbook: it parses cells as it goes, so a shared-string index out of
range is an IndexError, a number cell holding text or an impossible date a ValueError, a missing part a
KeyError, cut-off XML a ParseError. Raised while openpyxl reads a partner's bytes, each means the same:
the workbook cannot be read (from that row on)."""
EXCEL_MAX_ROWS = 1_048_576
"""Excel's row limit. A sheet numbering its rows beyond it is damaged (and openpyxl would fill the gap up
to such a row with empty rows, one at a time)."""
MAX_UNSTREAMED_BYTES = 256 << 20
"""The most a workbook's parts other than its sheets may hold uncompressed (as their sizes are declared in
the zip; reading stops at a declared size). openpyxl reads those parts (shared strings, styles) whole, so
this bounds memory against a zip bomb; an ordinary workbook's are a few MiB."""
_GUARDED_ROWS = 1024
"""Rows openpyxl reads per step with its warnings silenced (they quote cell values: no row data in logs)."""


def cell_text(value: object, column: contracts.Column | None = None) -> str | None:
    """A cell's value as the text a delimited export would hold (see the module docstring)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):  # datetime too
        if column is not None and column.logical_type in _DEFAULT_FORMAT:
            return value.strftime(column.format or _DEFAULT_FORMAT[column.logical_type])
        if isinstance(value, dt.datetime) and value.time() != dt.time(0):
            return value.isoformat(sep=" ")
        return (value.date() if isinstance(value, dt.datetime) else value).isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    return str(value)


def _number_text(value: float) -> str:
    # Excel keeps 15 significant digits; beyond them a double only carries binary noise (0.1 + 0.2).
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return format(Decimal(format(value, ".15g")), "f")


def read_xlsx(path: Path, contract: contracts.FeedContract, report: ReadReport, batch_rows: int = 65_536,
              worksheet: str | None = None) -> Iterator[pa.RecordBatch]:
    """Yield the sheet's rows as batches in the contract schema plus ``_row`` and ``_errors``."""
    # openpyxl is imported here: importing it takes ~0.2 s, which every other feed's task would pay too.
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    require_file(path, "an Excel workbook (.xlsx)")
    _check_unstreamed_size(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (openpyxl's warnings may quote the workbook's contents)
            workbook = load_workbook(path, read_only=True, data_only=True)  # data_only: formulas' last values
    except (*_DAMAGED, InvalidFileException, OSError):
        raise _not_a_workbook() from None
    try:
        try:
            sheet = _sheet(workbook, worksheet)
            # Read-only mode trusts the sheet's declared size, which some writers get wrong: read what is there.
            sheet.reset_dimensions()
        except _DAMAGED:
            raise _not_a_workbook() from None
        yield from _batches(_sheet_rows(sheet), contract, report, batch_rows)
    finally:
        workbook.close()


def _not_a_workbook() -> DeliveryRejected:
    return DeliveryRejected(
        "not_a_workbook",
        "The file is not a readable Excel workbook (.xlsx); it may be truncated, password-protected or "
        "in the old .xls format. Save it again as an Excel workbook (.xlsx) and send it again.",
    )


def _check_unstreamed_size(path: Path) -> None:
    """Reject a workbook whose parts read whole would not fit in bounded memory (see MAX_UNSTREAMED_BYTES)."""
    try:
        with zipfile.ZipFile(path) as archive:
            size = sum(i.file_size for i in archive.infolist() if not i.filename.startswith("xl/worksheets/"))
    except (*_BROKEN, ValueError):
        raise _not_a_workbook() from None
    if size > MAX_UNSTREAMED_BYTES:
        raise DeliveryRejected(
            "not_a_workbook",
            f"The workbook's text and styles take more than {MAX_UNSTREAMED_BYTES >> 20} MiB unpacked, more than "
            "a delivery's rows need. Save only the agreed sheet(s) as a new workbook and send that.",
        )


def _sheet_rows(sheet) -> Iterator[tuple]:
    """The sheet's rows as value tuples, one per sheet row from row 1 (openpyxl fills gaps with empty rows).

    Whatever openpyxl raises while it reads (see ``_DAMAGED``) becomes :class:`DeliveryRejected` naming
    the last row read; its warnings are silenced.
    """
    rows = sheet.iter_rows(values_only=True)
    done = 0
    while True:
        chunk: list[tuple] = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                chunk.extend(itertools.islice(rows, _GUARDED_ROWS))
        except _DAMAGED:
            raise DeliveryRejected(
                "malformed",
                f"The workbook cannot be read beyond sheet row {done + len(chunk)}: it is damaged or truncated there "
                "(e.g. a cell refers to text the workbook does not hold, or a number or date cell holds something "
                "else). Open it in Excel, save it again as .xlsx and send the complete file again.",
            ) from None
        if not chunk:
            return
        if done + len(chunk) > EXCEL_MAX_ROWS:
            raise DeliveryRejected(
                "malformed",
                f"The sheet numbers its rows beyond Excel's limit of {EXCEL_MAX_ROWS:,}; the workbook is damaged. "
                "Open it in Excel, save it again as .xlsx and send it again.",
            )
        done += len(chunk)
        yield from chunk


def _sheet(workbook, name: str | None):
    titles = [ws.title for ws in workbook.worksheets]
    if not titles:  # e.g. the sheets' parts are missing from the zip
        raise DeliveryRejected("missing_sheet", "The workbook has no readable sheet. Save it again in Excel as "
                                                f"an .xlsx workbook{f' with a sheet named {name!r}' if name else ''}.")
    if name is None:
        if len(titles) == 1:
            return workbook.worksheets[0]
        raise DeliveryRejected("missing_sheet", f"The workbook has {len(titles)} sheets; send one sheet only.")
    for ws in workbook.worksheets:
        if ws.title.strip().casefold() == name.casefold():
            return ws
    raise DeliveryRejected(
        "missing_sheet",
        f"The workbook has no sheet named {name!r} (it has: {', '.join(titles)}). "
        f"Put the rows on a sheet named {name!r}, as agreed.",
    )


def _batches(rows: Iterator[tuple], contract: contracts.FeedContract, report: ReadReport,
             batch_rows: int) -> Iterator[pa.RecordBatch]:
    header_cells: tuple = ()
    for header_cells in rows:
        if any(cell_text(v) is not None for v in header_cells):
            break
    else:
        raise DeliveryRejected("empty_file", "The sheet is empty or has no header row. Send the full export.")
    header = _header(header_cells)
    resolved = resolve_aliases(header, contract)
    check_header(resolved, contract, report)
    # The first file column of each contract column (a repeated name stays an ignored extra, as in CSV).
    positions = {}
    for i, name in enumerate(resolved):
        positions.setdefault(name, i)
    wanted = [(c, positions[c.name]) for c in contract.columns if c.name in positions]
    width = len(header)

    numbers: list[int] = []
    values: dict[str, list[str | None]] = {c.name: [] for c, _ in wanted}
    outside = 0
    for number, cells in enumerate(rows, start=1):
        texts = [cell_text(v) for v in cells]
        if all(t is None for t in texts):
            continue
        outside += sum(t is not None for t in texts[width:])
        numbers.append(number)
        for column, i in wanted:
            values[column.name].append(cell_text(cells[i], column) if i < len(cells) else None)
        if len(numbers) == batch_rows:
            yield _typed(values, numbers, contract)
            numbers, values = [], {name: [] for name in values}
    if numbers:
        yield _typed(values, numbers, contract)
    if outside:
        report.warnings.append(f"{outside} cell(s) right of the header's last column ignored")


def _header(cells: tuple) -> list[str]:
    names = [cell_text(v) or "" for v in cells]
    while names and not names[-1]:
        names.pop()
    from openpyxl.utils import get_column_letter

    # An empty header cell among named ones: name it by its Excel column so a warning can point at it.
    return [name.strip() or f"column {get_column_letter(i + 1)}" for i, name in enumerate(names)]


def _typed(values: dict[str, list[str | None]], numbers: list[int],
           contract: contracts.FeedContract) -> pa.RecordBatch:
    if values:
        text = pa.RecordBatch.from_pydict({k: pa.array(v, pa.string()) for k, v in values.items()})
    else:  # no contract column in the file at all: only possible without required columns
        text = pa.RecordBatch.from_pydict({"_": pa.nulls(len(numbers), pa.string())})
    typed = type_batch(text, contract, 1)
    return typed.set_column(typed.schema.get_field_index(ROW_NUMBER), ROW_NUMBER, pa.array(numbers, pa.int64()))


class _DelimitedPerContract(DelimitedFileConnector):
    """The delimited reader bound to a given contract (it has no ``feed``, so the registry skips it).

    Needed because :meth:`DelimitedFileConnector.read` takes its contract from ``self.contract``, and a
    connector that derives a column (see ``connectors.ngo``) reads the file against the contract without it.
    """

    def __init__(self, contract: contracts.FeedContract):
        self._contract = contract

    @property
    def contract(self) -> contracts.FeedContract:
        return self._contract


def read_delivery(path: Path, contract: contracts.FeedContract, report: ReadReport,
                  batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
    """Read a workbook or a delimited file, by its suffix, as batches in ``contract``'s schema."""
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        worksheet = contract.properties.get("worksheet")
        return read_xlsx(path, contract, report, batch_rows, str(worksheet) if worksheet else None)
    return _DelimitedPerContract(contract).read(path, report, batch_rows)


class SpreadsheetConnector(FileConnector):
    """A feed whose partners send either an Excel workbook or delimited text (chosen by the file's
    suffix). The sheet comes from the contract's ``worksheet``; the text format from its ``landing`` server."""

    def read(self, path: Path, report: ReadReport, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        return read_delivery(path, self.contract, report, batch_rows)
