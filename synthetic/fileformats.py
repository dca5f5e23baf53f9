"""How partners' files look on disk: delimited text, Excel workbooks, NDJSON, and their timestamps.

Everything is rendered to bytes first and written in one go, so that fault injection can work on
either the rows (:class:`Table`) or the bytes, and so that the answer key can record each file's
SHA-256. Every file's modification time is set to its simulated arrival time: the pipeline's landing
sensors look at mtimes, and fixed mtimes keep repeated runs identical.

Excel files are made reproducible by fixing the workbook's document properties (openpyxl would stamp
the wall-clock time) and the timestamps of the members of the zip container.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

CRLF = "\r\n"
XLSX_DOCUMENT_TIME = dt.datetime(2026, 1, 1)
ZIP_MEMBER_TIME = (2026, 1, 1, 0, 0, 0)


@dataclass
class Table:
    """A header and rows of text values: one delimited file (or one worksheet) before encoding."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def copy(self) -> Table:
        return Table(list(self.header), [list(row) for row in self.rows])


def delimited_text(table: Table, delimiter: str = ";", line_end: str = CRLF) -> str:
    """Standard CSV quoting: fields with the delimiter, a quote or a line break are quoted, ``"`` doubled."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=line_end, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(table.header)
    writer.writerows(table.rows)
    return buffer.getvalue()


def delimited_lines(table: Table, delimiter: str = ";", line_end: str = CRLF) -> list[str]:
    """The header and each record rendered on their own (a record may span physical lines)."""
    return [delimited_text(Table(row, []), delimiter, line_end) for row in (table.header, *table.rows)]


def ndjson(resources: list[dict]) -> bytes:
    """One JSON object per line, UTF-8, ``\\n`` line ends, as FHIR Bulk Data prescribes."""
    return "".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in resources
    ).encode()


def xlsx(sheets: list[tuple[str, list[str], list[list[object]]]]) -> bytes:
    """A workbook with one sheet per (name, header, rows); dates become real Excel date cells."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, header, rows in sheets:
        sheet = workbook.create_sheet(name)
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for column_cells in sheet.columns:
            if isinstance(column_cells[1].value if len(column_cells) > 1 else None, dt.date):
                for cell in column_cells[1:]:
                    cell.number_format = "DD.MM.YYYY"
    workbook.properties.creator = "Tesoma synthetic data"
    workbook.properties.created = XLSX_DOCUMENT_TIME
    workbook.properties.modified = XLSX_DOCUMENT_TIME
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()
    return _fixed_zip_times(buffer.getvalue())


def _fixed_zip_times(data: bytes) -> bytes:
    """The same zip with every member's timestamp fixed (zipfile stamps the wall clock)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=ZIP_MEMBER_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            target.writestr(member, source.read(info.filename))
    return out.getvalue()


def write(path: Path, data: bytes, arrived_at: dt.datetime) -> None:
    """Write ``data`` to ``path`` and set its modification time to the arrival instant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    set_arrival(path, arrived_at)


def set_arrival(path: Path, arrived_at: dt.datetime) -> None:
    ns = int(arrived_at.timestamp()) * 1_000_000_000
    os.utime(path, ns=(ns, ns))
