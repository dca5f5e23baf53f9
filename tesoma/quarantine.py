"""Quarantine: what a partner reads when (part of) a delivery is not accepted.

``quarantine/<partner>/<delivery_id>/`` holds ``report.md`` (for people), ``report.json`` (for
machines) and, for row-level problems, ``rows.parquet`` with the rejected rows as delivered and
``rows.csv``, the same rows for a spreadsheet (``;``-separated, UTF-8 with a byte-order mark, so Excel
reads it right). Text a spreadsheet would run as a formula (``=HYPERLINK(…)``) is written with a quote in
front there (:mod:`transforms.formulas`); the Parquet copy keeps it as delivered. This zone may hold
identifiable data: it is restricted like ``raw/`` and purged with it.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from transforms.formulas import neutralise_table
from warehouse.publish import write_parquet

ADVICE = {
    "required": "fill in the value; it is required",
    "unique": "each id may appear only once per file; send one row per id",
    "pattern": "the value does not have the agreed format",
    "allowed_values": "use one of the codes agreed in the contract",
    "range": "the value is outside the agreed range",
    "not_after": "the time is later than the time it must precede (e.g. a care-need assessment after the visit); "
                 "correct whichever time is wrong, or leave the later-recorded one empty if it is not known",
    "not_a_date_time": "write a real date and time in the agreed format (see the feed's page)",
    "not_a_date": "write a real calendar date in the agreed format (see the feed's page)",
    "dangling_reference": "the record refers to a resource missing from the delivery (e.g. an Encounter's "
                          "Patient); include it in the same export",
    "missing_reference": "the record lacks a required reference (e.g. an Encounter without a subject)",
    "not_an_integer": "write a whole number",
    "not_a_number": "write a number with a decimal comma, at most the agreed decimals",
    "duplicate_row": "the row is an exact copy of an earlier row; remove the copy",
    "unreadable_row": "the row could not be split into the agreed columns; check quoting and separators",
    "not_an_identity_code": "the identity code must look like DDMMYYCZZZQ",
    "identity_code_date": "the identity code's date part is not a real date",
    "identity_code_individual_number": "the individual number must be 002–999",
    "identity_code_check_character": "the check character does not match; re-check the identity code",
}


@dataclass
class RowProblems:
    """Row-level problems of one delivery: reason counts and which rows (by number) broke which rule."""

    by_reason: Counter = field(default_factory=Counter)
    rows_by_reason: dict[str, list[int]] = field(default_factory=dict)

    def add(self, reason: str, row: int | None) -> None:
        self.by_reason[reason] += 1
        if row is not None:
            self.rows_by_reason.setdefault(reason, []).append(row)


def rule_of(reason: str) -> tuple[str | None, str]:
    """``"alkuaika: not_a_date_time"`` → (``"alkuaika"``, ``"not_a_date_time"``)."""
    column, _, rule = reason.rpartition(": ")
    return (column or None), rule


def write_rows_csv(rows: pa.Table, path: Path) -> None:
    """The rows for a spreadsheet: formulas neutralised; nested columns (a CSV cell cannot hold them) left out."""
    flat = rows.select([f.name for f in rows.schema if not pa.types.is_nested(f.type)])
    with path.open("wb") as f:
        f.write("\ufeff".encode())  # Excel reads a CSV as UTF-8 only with the byte-order mark
        pa_csv.write_csv(neutralise_table(flat), f, pa_csv.WriteOptions(delimiter=";"))


ROWS_ACCEPTED = "The other rows were accepted."
"""The row report's last word, true unless the delivery is then rejected whole."""


def write_rows(directory: Path, rows: pa.Table, problems: RowProblems, *, delivery_id: str, source_name: str,
               unreadable: list[tuple[int, str]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if rows.num_rows:
        write_parquet(rows, directory / "rows.parquet")
        write_rows_csv(rows, directory / "rows.csv")
    lines = [f"# Delivery {delivery_id}: rows not accepted", "",
             f"File `{source_name}`: {sum(problems.by_reason.values())} row problem(s). " + ROWS_ACCEPTED,
             "", "| column | rule | rows | what to do | first row numbers |", "|---|---|---|---|---|"]
    for reason, count in problems.by_reason.most_common():
        column, rule = rule_of(reason)
        rows_list = sorted(problems.rows_by_reason.get(reason, []))
        shown = ", ".join(str(r) for r in rows_list[:20]) + (" …" if len(rows_list) > 20 else "")
        lines.append(f"| {column or '–'} | {rule} | {count} | {ADVICE.get(rule, '')} | {shown} |")
    for after, why in unreadable:
        lines.append(f"| – | unreadable_row | 1 | {why} | after data row {after} |")
    lines += ["", "Row numbers count records from 1 (in a CSV the header is not counted; in an NDJSON export, "
              "the records of the feed's main resource across its files)."]
    (directory / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = {
        "delivery_id": delivery_id, "source_name": source_name, "state": "partially_accepted",
        "problems": [
            {"column": rule_of(r)[0], "rule": rule_of(r)[1], "rows": c, "advice": ADVICE.get(rule_of(r)[1], ""),
             "row_numbers": problems.rows_by_reason.get(r, [])}
            for r, c in problems.by_reason.most_common()
        ],
        "unreadable_rows": [{"after_data_row": a, "reason": w} for a, w in unreadable],
    }
    (directory / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_rejection(directory: Path, *, delivery_id: str, source_name: str, rule: str, message: str) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / "report.md").write_text(
        f"# Delivery {delivery_id}: rejected\n\nFile `{source_name}` was not accepted ({rule}).\n\n{message}\n\n"
        "Nothing from this file was published. Send a corrected file with the same date "
        "(add `_2`, `_3`… to the name); it replaces this one.\n",
        encoding="utf-8",
    )
    (directory / "report.json").write_text(json.dumps(
        {"delivery_id": delivery_id, "source_name": source_name, "state": "rejected", "rule": rule,
         "message": message}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def clear(directory: Path) -> None:
    if directory.exists():
        shutil.rmtree(directory)


def write_rejection_note(directory: Path, *, rule: str, message: str) -> None:
    """Mark a row-level quarantine as a whole-delivery rejection (report.md gets the verdict on top)."""
    report_md = directory / "report.md"
    body = report_md.read_text(encoding="utf-8") if report_md.exists() else ""
    # The row report was written before the verdict: under a rejection no row of the file was accepted.
    body = body.replace(ROWS_ACCEPTED, "None of the file was used (see above).")
    report_md.write_text(f"# REJECTED ({rule})\n\n{message}\n\n{body}", encoding="utf-8")
    report_json = directory / "report.json"
    data = json.loads(report_json.read_text(encoding="utf-8")) if report_json.exists() else {}
    data.update({"state": "rejected", "rule": rule, "message": message})
    report_json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_internal_error(directory: Path, *, delivery_id: str, source_name: str, message: str) -> None:
    """The report of a delivery we could not process because of an error of our own (nothing about its rows:
    whatever an earlier stage wrote here is removed)."""
    clear(directory)
    directory.mkdir(parents=True)
    (directory / "report.md").write_text(
        f"# Delivery {delivery_id}: not processed\n\nFile `{source_name}` could not be processed because of an "
        f"error on our side.\n\n{message}\n\nNothing from this file was published.\n", encoding="utf-8")
    (directory / "report.json").write_text(json.dumps(
        {"delivery_id": delivery_id, "source_name": source_name, "state": "rejected", "rule": "internal_error",
         "message": message}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
