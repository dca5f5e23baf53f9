"""Delimited text files as partners export them: encoding detection, `;` separators, decimal comma,
Finnish dates. Reads in bounded memory (streaming blocks) and types values per the feed's contract.

Values that cannot be typed become null and the row gets a reason in ``_errors``; the rule names used
there (``not_a_date``, ``not_a_number``, …) are what partners see in rejection reports.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

import contracts
from connectors.base import (
    EARLIEST_TIME,
    LATEST_TIME,
    ROW_ERRORS,
    ROW_NUMBER,
    DeliveryRejected,
    FileConnector,
    ReadReport,
)
from transforms.reasons import combine_all

_CHUNK = 1 << 20
_BLOCK_BYTES = 1 << 22
"""At most 4 MiB of text per parsed block: a block and its typed batch stay in the CPU cache while the
parser and the typing thread take turns on the two cores (2,000,000 rows: 0.85 s, against 1.3 s with
16 MiB blocks)."""
_OTHER_DELIMITERS = (",", ";", "\t", "|")
MAX_HEADER_CHARS = 1 << 20
"""The longest header row read (a few hundred characters in practice): a file without line ends is not
read whole into memory to find its header."""


def require_file(path: Path, what: str) -> None:
    """Reject a delivery that is not one regular file (a folder given for a file feed, a device…)."""
    if not path.is_file():
        raise DeliveryRejected(
            "not_a_file", f"The delivery must be a single file, {what}, not a folder or another kind of entry.")


def detect_encoding(path: Path, allowed: tuple[str, ...]) -> str:
    """The encoding of a delivered text file, among those its contract allows.

    A UTF-8 byte-order mark means UTF-8; otherwise the file is checked as strict UTF-8 and then as
    Windows-1252 (which leaves only five byte values undefined, so this check is weak: hence the
    contract lists the encodings a partner may use).
    """
    with path.open("rb") as f:
        head = f.read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DeliveryRejected("encoding", f"The file is UTF-16 encoded. Export it as {_named(allowed)}.")
    candidates = ["utf-8-sig"] if head.startswith(codecs.BOM_UTF8) else ["utf-8", "cp1252"]
    accepted = set(allowed) | ({"utf-8"} if "utf-8-sig" in allowed else set())
    for encoding in candidates:
        if encoding in accepted and _decodes(path, encoding):
            return encoding
    if _holds_nul(path):
        raise DeliveryRejected(
            "encoding",
            "The file holds NUL bytes, so it is not a text export (or it is UTF-16 without a byte-order mark). "
            f"Export it again as {_named(allowed)} text.",
        )
    raise DeliveryRejected(
        "encoding",
        f"The file is not valid text in any agreed encoding ({', '.join(allowed)}). "
        f"Export it again as {_named(allowed)}.",
    )


_ENCODING_NAMES = {"utf-8-sig": "UTF-8 (with or without BOM)", "utf-8": "UTF-8", "cp1252": "Windows-1252"}


def _named(encodings: tuple[str, ...]) -> str:
    names = [_ENCODING_NAMES.get(e, e) for e in encodings]
    return " or ".join(names)


_UTF8_LETTERS = tuple(ch.encode("utf-8") for ch in "äöåÄÖÅ")
"""Finnish letters as UTF-8 bytes. Read as Windows-1252 they are "Ã¤", "Ã¶"…, which no Finnish text holds:
in a file that is not UTF-8 they mean rows of both encodings pasted together."""


def _decodes(path: Path, encoding: str) -> bool:
    if encoding in ("utf-8", "utf-8-sig"):
        return _valid_utf8(path)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    last = b""
    with path.open("rb") as f:
        try:
            while chunk := f.read(_CHUNK):
                if b"\x00" in chunk:
                    return False
                decoder.decode(chunk)
                if any(letter in last + chunk[:1] or letter in chunk for letter in _UTF8_LETTERS):
                    raise DeliveryRejected(
                        "encoding",
                        "The file mixes encodings: some rows are UTF-8 and others are not (e.g. 'ä' is written in "
                        "two ways). Export the whole file again in one encoding.",
                    )
                last = chunk[-1:]
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _holds_nul(path: Path) -> bool:
    with path.open("rb") as f:
        return any(b"\x00" in chunk for chunk in iter(lambda: f.read(_CHUNK), b""))


def _valid_utf8(path: Path, piece: int = 1 << 24) -> bool:
    """Whether the file is UTF-8 without NUL bytes. Arrow validates each 16 MiB piece (SIMD: 0.03 s for a
    350 MiB file, against 0.3-0.7 s for Python's decoder); a character cut by a piece's end is carried
    over to the next piece."""
    carry = b""
    with path.open("rb") as f:
        while chunk := f.read(piece):
            if b"\x00" in chunk:
                return False
            data = carry + chunk if carry else chunk
            cut = _whole_characters(data)
            carry = data[cut:]
            if not _utf8(memoryview(data)[:cut]):
                return False
    return not carry


def _whole_characters(data: bytes) -> int:
    """The length of ``data`` without an incomplete UTF-8 sequence at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # a continuation byte: its lead is further back
            continue
        need = 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else 4 if byte >> 3 == 0b11110 else 1
        return len(data) - back if back < need else len(data)
    return len(data)


def _utf8(data: bytes | memoryview) -> bool:
    if not data:
        return True
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int32))
    try:
        pa.BinaryArray.from_buffers(pa.binary(), 1, [None, offsets, pa.py_buffer(data)]).cast(pa.string())
    except pa.ArrowInvalid:
        return False
    return True


def read_header(path: Path, encoding: str, delimiter: str) -> list[str]:
    with path.open("r", encoding=encoding, newline="") as f:
        first = f.readline(MAX_HEADER_CHARS + 1)
    if not first.strip():
        raise DeliveryRejected("empty_file", "The file is empty or has no header row. Send the full export.")
    if len(first) > MAX_HEADER_CHARS:
        raise DeliveryRejected(
            "malformed",
            f"The first line (the header row) is longer than {MAX_HEADER_CHARS:,} characters: the file has no "
            "line ends where expected. Export the file again as the agreed CSV, one row per line.",
        )
    try:
        return [h.strip() for h in next(csv.reader(io.StringIO(first), delimiter=delimiter))]
    except csv.Error:  # e.g. a header cell longer than the csv module's field limit
        raise DeliveryRejected(
            "malformed", "The header row cannot be read as delimited text. Export the file again as the agreed CSV."
        ) from None


def resolve_aliases(header: list[str], contract: contracts.FeedContract) -> list[str]:
    """The header with partners' alternative column names (the contract's ``synonyms``) replaced by the
    contract's names; matching ignores case and surrounding spaces."""
    by_alias = {}
    for column in contract.columns:
        for name in (column.name, *column.aliases):
            by_alias.setdefault(name.strip().casefold(), column.name)
    resolved = [by_alias.get(h.strip().casefold(), h) for h in header]
    # Two file columns resolving to one contract column: keep the first, leave the other as extra.
    seen: set[str] = set()
    out = []
    for original, name in zip(header, resolved, strict=True):
        out.append(name if name not in seen else original)
        seen.add(name)
    return out


def check_header(header: list[str], contract: contracts.FeedContract, report: ReadReport) -> None:
    """Reject a delivery whose header lacks required columns; warn on extra or missing optional ones."""
    delimiter = contract.file_format.delimiter
    expected = contract.column_names
    missing_required = [c.name for c in contract.columns if c.required and c.name not in header]
    if missing_required:
        if len(header) == 1:
            used = next((d for d in _OTHER_DELIMITERS if d != delimiter and d in header[0]), None)
            if used is not None:
                raise DeliveryRejected(
                    "delimiter",
                    f"The columns are separated by {used!r}, but the agreed separator is {delimiter!r}. "
                    "Export the file again with the agreed separator.",
                )
        raise DeliveryRejected(
            "missing_columns",
            f"Required column(s) missing from the header: {', '.join(missing_required)}. "
            f"The agreed columns are: {', '.join(expected)}.",
        )
    extra = [h for h in header if h not in expected]
    if extra:
        report.warnings.append(f"extra column(s) ignored: {', '.join(extra)}")
    missing_optional = [c for c in expected if c not in header]
    if missing_optional:
        report.warnings.append(f"optional column(s) missing, read as empty: {', '.join(missing_optional)}")


class DelimitedFileConnector(FileConnector):
    """A feed delivered as delimited text; everything about the format comes from the contract."""

    def read(self, path: Path, report: ReadReport, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        contract = self.contract
        fmt = contract.file_format
        require_file(path, "a delimited text file (.csv)")
        encoding = detect_encoding(path, fmt.encodings)
        file_header = read_header(path, encoding, fmt.delimiter)
        header = resolve_aliases(file_header, contract)
        check_header(header, contract, report)
        # Arrow reports an unreadable row while parsing a block, without its position (quoted line breaks
        # are allowed). Rows are numbered as yielded until the first one; from that block on, batches are
        # held back and numbered exactly by one pass of Python's csv module (only broken files pay this).
        state = {"rows": 0}

        def on_invalid_row(row: pacsv.InvalidRow) -> str:
            report.unreadable_rows.append((
                state["rows"],
                f"row has {row.actual_columns} fields, expected {row.expected_columns} "
                f"(a truncated file, a stray {fmt.delimiter!r} or an unquoted line break)",
            ))
            return "skip"

        held: list[pa.RecordBatch] = []
        try:
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(
                    encoding="utf8" if encoding.startswith("utf-8") else encoding,
                    block_size=max(1 << 16, min(batch_rows * 256, _BLOCK_BYTES)),
                    # Our names for the columns (aliases resolved); duplicates in the file stay distinct.
                    column_names=_unique(header),
                    skip_rows=1,
                ),
                parse_options=pacsv.ParseOptions(
                    delimiter=fmt.delimiter, newlines_in_values=True, invalid_row_handler=on_invalid_row
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={h: pa.string() for h in _unique(header)},
                    include_columns=[h for h in _unique(header) if h in contract.column_names],
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                    null_values=[""],
                ),
            )
            # Typing a batch (Arrow compute, which releases the GIL) runs on a second thread while the
            # reader parses the next block: the two cores work at once. At most two batches wait.
            with ThreadPoolExecutor(1, thread_name_prefix="type-batch") as typing:
                typed: deque[Future] = deque()
                for batch in reader:
                    if report.unreadable_rows or held:
                        held.append(batch)
                        continue
                    first = state["rows"] + 1
                    state["rows"] += batch.num_rows
                    typed.append(typing.submit(type_batch, batch, contract, first))
                    while len(typed) > 2:
                        yield typed.popleft().result()
                while typed:
                    yield typed.popleft().result()
        except pa.ArrowInvalid as exc:
            # Parse errors other than ragged rows (e.g. an unterminated quote at a cut-off end).
            raise DeliveryRejected(
                "malformed",
                f"The file cannot be parsed after data row {state['rows']}: {_describe(exc)}. "
                "It may be truncated; send the complete file again.",
            ) from None
        if report.unreadable_rows:
            yield from self._renumbered(path, encoding, len(header), held, state["rows"], report)

    def _renumbered(self, path: Path, encoding: str, fields: int, held: list[pa.RecordBatch], already: int,
                    report: ReadReport) -> Iterator[pa.RecordBatch]:
        """Give held-back rows their true record numbers and unreadable rows exact positions."""
        readable: list[int] = []
        unreadable: list[int] = []
        with path.open(encoding=encoding, newline="") as f:
            records = csv.reader(f, delimiter=self.contract.file_format.delimiter)
            try:
                next(records, None)  # header
                number = 0
                for record in records:
                    if not record:
                        continue  # blank lines are skipped by Arrow too
                    number += 1
                    (readable if len(record) == fields else unreadable).append(number)
            except csv.Error:  # a field beyond the csv module's size limit: keep the running numbers below
                readable, unreadable = [], []
        if len(unreadable) == len(report.unreadable_rows):
            report.unreadable_rows[:] = [(n - 1, why) for n, (_, why) in zip(unreadable, report.unreadable_rows,
                                                                               strict=True)]
        positions = readable[already:]
        offset = 0
        for batch in held:
            numbers = positions[offset:offset + batch.num_rows]
            if len(numbers) != batch.num_rows:  # the two parsers disagree: fall back to running numbers
                numbers = list(range(already + offset + 1, already + offset + 1 + batch.num_rows))
            typed = type_batch(batch, self.contract, 1)
            offset += batch.num_rows
            yield typed.set_column(typed.schema.get_field_index(ROW_NUMBER), ROW_NUMBER, pa.array(numbers, pa.int64()))


def _unique(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate in out:
            n += 1
            candidate = f"{name}_{n}"
        out.append(candidate)
    return out


def _describe(exc: Exception) -> str:
    if "straddl" in str(exc):  # Arrow's "straddling object straddles two block boundaries"
        return (f"a row of more than {_BLOCK_BYTES >> 20} MiB (an unterminated quote, or a value far longer than "
                "the agreed columns hold)")
    # Arrow's messages may quote the offending row; keep only the part before any quoted data.
    text = str(exc).split(":", 1)[0]
    return text[:120]


def type_batch(batch: pa.RecordBatch, contract: contracts.FeedContract, first_row: int) -> pa.RecordBatch:
    """Turn a batch of strings into the contract's types; failures become null plus a reason."""
    n = batch.num_rows
    arrays, errors = [], []
    decimal_comma = contract.file_format.decimal_separator == ","
    for column in contract.columns:
        idx = batch.schema.get_field_index(column.name)
        text = batch.column(idx) if idx >= 0 else pa.nulls(n, pa.string())
        if pa.types.is_string(column.arrow_type):
            values = pc.utf8_trim_whitespace(text)
            values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
            arrays.append(values)
            continue
        # Typed columns repeat few values (a day has at most 1,440 distinct minutes; fees, durations…):
        # parse each distinct text once and spread the results with ``take``.
        encoded = pc.dictionary_encode(text)
        typed, bad = _parse(pc.utf8_trim_whitespace(encoded.dictionary), column, decimal_comma)
        arrays.append(pc.take(typed, encoded.indices))
        if pc.any(bad).as_py():  # (usually every distinct text parses: no reason column to build)
            reason = pa.array([f"{column.name}: {_RULE[column.logical_type]}"], pa.string())
            errors.append(pc.take(pc.if_else(bad, reason[0], pa.scalar(None, pa.string())), encoded.indices))
    arrays.append(pa.array(np.arange(first_row, first_row + n, dtype=np.int64)))
    arrays.append(combine_all(errors, n))
    schema = pa.schema(
        [pa.field(c.name, c.arrow_type) for c in contract.columns]
        + [pa.field(ROW_NUMBER, pa.int64()), pa.field(ROW_ERRORS, pa.string())]
    )
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


_RULE = {
    "integer": "not_an_integer",
    "number": "not_a_number",
    "date": "not_a_date",
    "timestamp": "not_a_date_time",
    "boolean": "not_a_boolean",
}


def _parse(text: pa.Array, column: contracts.Column, decimal_comma: bool) -> tuple[pa.Array, pa.Array]:
    """Parse one column; returns (typed values, mask of non-empty values that failed to parse)."""
    present = pc.is_valid(text)
    kind = column.logical_type
    if kind == "integer":
        ok = pc.match_substring_regex(text, r"^[-+]?\d{1,18}$")
        typed = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), pa.int64())
    elif kind == "number":
        normal = pc.replace_substring(text, ",", ".") if decimal_comma else text
        if pa.types.is_decimal(column.arrow_type):
            t = column.arrow_type
            pattern = rf"^[-+]?\d{{1,{t.precision - t.scale}}}(\.\d{{1,{t.scale}}})?$"
        else:
            pattern = r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$"
        ok = pc.match_substring_regex(normal, pattern)
        typed = pc.cast(pc.if_else(ok, normal, pa.scalar(None, pa.string())), column.arrow_type)
        if pa.types.is_floating(column.arrow_type):  # 1e999 parses as infinity: not a number one can use
            ok = pc.and_kleene(ok, pc.is_finite(typed))
            typed = pc.if_else(ok, typed, pa.scalar(None, typed.type))
    elif kind in ("date", "timestamp"):
        fmt = column.format or ("%Y-%m-%d" if kind == "date" else "%Y-%m-%dT%H:%M:%S")
        stamp = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
        ok = pc.and_kleene(pc.is_valid(stamp), _calendar_matches(text, stamp, fmt))
        # Arrow reads year 0 (and %Y takes any digits); Python and the rest of the pipeline cannot hold it.
        ok = pc.and_kleene(ok, pc.and_(pc.greater_equal(stamp, _EARLIEST), pc.less_equal(stamp, _LATEST)))
        stamp = pc.if_else(ok, stamp, pa.scalar(None, stamp.type))
        typed = pc.cast(stamp, column.arrow_type)
    elif kind == "boolean":
        lowered = pc.utf8_lower(text)
        truthy = pc.is_in(lowered, pa.array(["1", "true", "kyllä", "k", "yes"]))
        falsy = pc.is_in(lowered, pa.array(["0", "false", "ei", "e", "no"]))
        ok = pc.or_(truthy, falsy)
        typed = pc.if_else(ok, truthy, pa.scalar(None, pa.bool_()))
    else:
        raise ValueError(f"cannot parse logical type {kind!r}")
    bad = pc.and_(present, pc.invert(pc.fill_null(ok, False)))
    return typed, pc.fill_null(bad, False)


_EARLIEST = pa.scalar(EARLIEST_TIME.replace(tzinfo=None), pa.timestamp("s"))
_LATEST = pa.scalar(LATEST_TIME.replace(tzinfo=None), pa.timestamp("s"))


def _calendar_matches(text: pa.Array, stamp: pa.Array, fmt: str) -> pa.Array:
    """strptime rolls 31.02 over to 03.03; a date is real only if its day and month survive parsing."""
    if not fmt.startswith("%d.%m."):
        return pa.array([True] * len(text))
    parts = pc.extract_regex(text, r"^(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.")
    day = pc.cast(pc.struct_field(parts, "d"), pa.int64())
    month = pc.cast(pc.struct_field(parts, "m"), pa.int64())
    return pc.and_(pc.equal(day, pc.day(stamp)), pc.equal(month, pc.month(stamp)))


