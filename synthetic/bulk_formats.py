"""Partners' file formats rendered many rows at once, for the county-scale generator.

The demo generator renders each record in Python (``csv``, ``json.dumps``, openpyxl), which is fine for a
few thousand rows a day. At county scale (tens of thousands of rows a day, five years of days) the same
bytes are made column-wise with Arrow's string kernels instead:

- :func:`csv_lines`: ``;``-separated records with the standard quoting of :func:`fileformats.delimited_text`
  (only fields that need quotes get them), each record ending in its line end; :func:`joined` turns the
  lines into the file's text without a Python string per row;
- :class:`JsonTemplate`: a resource's compact JSON (as ``json.dumps(..., ensure_ascii=False,
  separators=(",", ":"))`` writes it) with slots filled column-wise, one NDJSON line per row;
- :func:`workbook`: a small .xlsx (inline strings, date cells) written directly as its XML parts, about
  thirty times faster than openpyxl, with fixed member times so the bytes are reproducible.

Values put into JSON slots or workbook cells are plain text from the generator's own lists (names,
streets, codes): :func:`JsonTemplate.render` expects text that needs no JSON escaping, and the generator
checks its lists for that once (:func:`json_safe`).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from xml.sax.saxutils import escape

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synthetic.fileformats import CRLF, ZIP_MEMBER_TIME

_NEEDS_QUOTES = r'[;"\r\n]'
_SLOT = re.compile(r"@@(\w+)@@")


def quoted(column: pa.Array) -> pa.Array:
    """CSV quoting of one column: a value holding ``;``, ``"`` or a line break in quotes, ``"`` doubled."""
    needs = pc.match_substring_regex(column, _NEEDS_QUOTES)
    wrapped = pc.binary_join_element_wise('"', pc.replace_substring(column, '"', '""'), '"', "")
    return pc.if_else(needs, wrapped, column)


def csv_lines(columns: list[pa.Array], delimiter: str = ";", line_end: str = CRLF,
              quote: tuple[int, ...] = ()) -> pa.Array:
    """One text per record: the columns joined by ``delimiter`` and ended by ``line_end``. Columns whose
    index is in ``quote`` may need quoting (the others hold no delimiter, quote or line break)."""
    cells = [quoted(c) if i in quote else c for i, c in enumerate(columns)]
    return pc.binary_join_element_wise(pc.binary_join_element_wise(*cells, delimiter), line_end, "")


def header_line(names: list[str], delimiter: str = ";", line_end: str = CRLF) -> str:
    return delimiter.join(names) + line_end


def joined(lines: pa.Array) -> bytes:
    """The UTF-8 bytes of all ``lines`` one after another: a slice of the array's values buffer, with no
    Python string per row."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if len(lines) == 0:
        return b""
    if lines.null_count:
        raise ValueError("a rendered line is null: a column had a missing value")
    if lines.type != pa.string():
        lines = lines.cast(pa.string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=4 * lines.offset)
    return lines.buffers()[2][int(offsets[0]):int(offsets[-1])].to_pybytes()


def json_safe(texts) -> None:
    """Raise when a text would need escaping inside a JSON string (a quote, backslash or control char)."""
    for text in texts:
        if re.search(r'["\\\x00-\x1f]', text):
            raise ValueError(f"text {text!r} needs JSON escaping: the bulk renderer does not escape")


class JsonTemplate:
    """A JSON document with slots ``@@NAME@@``: literal pieces and slot names, alternating.

    Made from a sample document rendered with :func:`json.dumps` (so the key order and spacing are the
    demo generator's), in which each slot's value is the text ``@@NAME@@``; a slot may also stand for a
    whole fragment (``"@@HETU@@"`` replaced beforehand by ``@@HETU_PART@@``, filled with JSON or "")."""

    def __init__(self, text: str):
        parts = _SLOT.split(text)
        self.literals = parts[0::2]
        self.slots = parts[1::2]

    def render(self, values: dict[str, pa.Array | str], line_end: str = "\n") -> pa.Array:
        """One document per row; ``values`` gives each slot an array (or one text for every row)."""
        pieces: list = []
        for literal, slot in zip(self.literals, [*self.slots, None], strict=True):
            if literal:
                pieces.append(literal)
            if slot is not None:
                pieces.append(values[slot])
        pieces.append(line_end)
        if not any(isinstance(p, pa.Array | pa.ChunkedArray) for p in pieces):
            raise ValueError("a template needs at least one column to render")
        return pc.binary_join_element_wise(*pieces, "")


# --- workbooks ---------------------------------------------------------------------------------------------

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "http://schemas.openxmlformats.org/package/2006/content-types"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_STYLES = (
    f'{_XML}<styleSheet xmlns="{_MAIN}"><numFmts count="1"><numFmt numFmtId="164" formatCode="DD.MM.YYYY"/>'
    '</numFmts><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/>'
    '<name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill>'
    '<patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/>'
    '<diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    '</cellStyleXfs><cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)
_HEADER_STYLE, _DATE_STYLE = 1, 2


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell(ref: str, value: object, style: int = 0) -> str:
    s = f' s="{style}"' if style else ""
    if isinstance(value, str):
        return f'<c r="{ref}" t="inlineStr"{s}><is><t>{escape(value)}</t></is></c>'
    if isinstance(value, dt.date):
        return f'<c r="{ref}" s="{_DATE_STYLE}"><v>{(value - _EXCEL_EPOCH).days}</v></c>'
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a workbook cell takes text, a number or a date, not {type(value).__name__}")
    return f'<c r="{ref}"{s}><v>{value!r}</v></c>'


def _sheet(header: list[str], rows: list[list[object]]) -> str:
    letters = [_column_letter(i) for i in range(max(len(header), *(len(r) for r in rows)) if rows
                                                 else len(header))]
    out = [f'{_XML}<worksheet xmlns="{_MAIN}"><sheetData>']
    out.append('<row r="1">' + "".join(_cell(f"{letters[i]}1", h, _HEADER_STYLE) for i, h in enumerate(header))
               + "</row>")
    for n, row in enumerate(rows, start=2):
        out.append(f'<row r="{n}">' + "".join(_cell(f"{letters[i]}{n}", v) for i, v in enumerate(row)
                                              if v is not None) + "</row>")
    out.append("</sheetData></worksheet>")
    return "".join(out)


def workbook(sheets: list[tuple[str, list[str], list[list[object]]]]) -> bytes:
    """A workbook with one sheet per (name, header, rows), as :func:`fileformats.xlsx` makes it for the
    readers (bold header, dates as date cells ``DD.MM.YYYY``), written without openpyxl."""
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(sheets) + 1))
    parts = {
        "[Content_Types].xml": (
            f'{_XML}<Types xmlns="{_CT}"><Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            f'{overrides}<Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'),
        "_rels/.rels": (
            f'{_XML}<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
            f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        "xl/workbook.xml": (
            f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
            + "".join(f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>'
                      for i, (name, _, _) in enumerate(sheets, start=1))
            + "</sheets></workbook>"),
        "xl/_rels/workbook.xml.rels": (
            f'{_XML}<Relationships xmlns="{_PKG_REL}">'
            + "".join(f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
                      for i in range(1, len(sheets) + 1))
            + f'<Relationship Id="rId{len(sheets) + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
            "</Relationships>"),
        "xl/styles.xml": _STYLES,
    }
    for i, (_, header, rows) in enumerate(sheets, start=1):
        parts[f"xl/worksheets/sheet{i}.xml"] = _sheet(header, rows)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            member = zipfile.ZipInfo(name, date_time=ZIP_MEMBER_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            archive.writestr(member, text.encode())
    return out.getvalue()
