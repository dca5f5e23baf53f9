"""`tesoma check --feed FEED FILE…`: a partner's pre-flight check of a delivery against its contract.

Runs everything the pipeline would check — file name, encoding, header, value formats, duplicates,
the contract's rules, identity codes — and prints every problem with its row, column, rule and what to
do. Writes nothing anywhere (no ledger, no archive, no temporary files) and needs no key.

A delivery the pipeline would reject whole (a damaged workbook, a folder given for a file feed, a file
that cannot be read…) is one line ``<path>: file: <rule> — <what to do>``, and the exit code is 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

import contracts
from connectors.base import ROW_ERRORS, ROW_NUMBER, DeliveryRejected, NotADelivery, ReadReport, shown_name
from expectations.arrow_rules import row_failures
from expectations.contract_suite import not_after_text
from tesoma.feed_config import load as feed_registry
from tesoma.feeds import connector_for
from tesoma.quarantine import ADVICE, rule_of
from transforms import reasons
from transforms.duplicates import exact_duplicates
from transforms.pseudonymise.hetu import PROBLEMS, decode_many


@dataclass(frozen=True)
class Problem:
    row: int | None
    column: str | None
    rule: str
    advice: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "file"
        column = f", column {self.column}" if self.column else ""
        return f"{where}{column}: {self.rule} — {self.advice}"


def check_file(feed: str, path: Path) -> tuple[list[Problem], list[str], int | None]:
    """(problems, warnings, rows read) for one delivery file or folder; rows read is None when the
    delivery would be rejected whole."""
    contract = contracts.load(feed)
    connector = connector_for(feed)
    problems: list[Problem] = []
    # The name is judged as landing judges it: the agreed pattern, a real date, ASCII digits, a sequence
    # within range, no control characters (a name that is not a delivery would never be processed).
    verdict = connector.examine(path)
    if isinstance(verdict, NotADelivery) and verdict.rule not in ("file_not_folder", "not_a_regular_file"):
        problems.append(Problem(None, None, "file_name", f"not a delivery name: {verdict.reason}"))
    report = ReadReport()
    try:
        batches = list(connector.read(path, report))
    except DeliveryRejected as exc:
        return [*problems, Problem(None, None, exc.rule, str(exc))], report.warnings, None
    table = pa.Table.from_batches(batches) if batches else None
    for after, why in report.unreadable_rows:
        problems.append(Problem(after + 1, None, "unreadable_row", why))
    if table is None or table.num_rows == 0:
        return problems, report.warnings, len(report.unreadable_rows)

    dup = exact_duplicates(table, contract.column_names,
                           seldom_repeated=contract.unique_column_names)
    errors = pc.if_else(dup, pa.scalar("duplicate_row"), table[ROW_ERRORS])
    candidates = table.filter(pc.invert(dup))
    failing = row_failures(candidates.select(contract.column_names), contract)
    contract_errors = [None] * candidates.num_rows
    for position, failed in failing.items():
        contract_errors[position] = reasons.SEPARATOR.join(failed)
    identity = contract.columns_classified("identity_code")
    if identity:
        fields = decode_many(pc.utf8_upper(pc.utf8_trim_whitespace(candidates[identity[0]].combine_chunks())))
        for position, problem in enumerate(fields.problem.tolist()):
            if problem >= 0 and candidates[identity[0]][position].is_valid:
                reason = f"{identity[0]}: {PROBLEMS[problem]}"
                contract_errors[position] = reason if contract_errors[position] is None else \
                    contract_errors[position] + reasons.SEPARATOR + reason
    rows = table[ROW_NUMBER].to_pylist()
    all_errors = dict(zip(rows, errors.to_pylist(), strict=True))
    for row, extra in zip(candidates[ROW_NUMBER].to_pylist(), contract_errors, strict=True):
        if extra:
            all_errors[row] = extra if all_errors[row] is None else all_errors[row] + reasons.SEPARATOR + extra
    for row in sorted(r for r, e in all_errors.items() if e):
        for reason in reasons.for_partner(all_errors[row]):
            column, rule = rule_of(reason)
            advice = ADVICE.get(rule, "")
            if rule == "allowed_values" and column:
                advice = f"use one of the agreed codes: {', '.join(contract.column(column).allowed or ())}"
            elif rule == "not_after" and column:
                advice = not_after_text(contract.column(column))
            elif rule == "pattern" and column:
                advice = f"the value must match the agreed format {contract.column(column).pattern}"
            problems.append(Problem(row, column, rule, advice))
    return problems, report.warnings, table.num_rows + len(report.unreadable_rows)


def run(feed: str, paths: list[Path], echo=print) -> int:
    """Check each file, print the verdict; exit code 0 when every file would be accepted whole."""
    if feed not in feed_registry():
        echo(f"unknown feed {feed!r}; known: {', '.join(sorted(feed_registry()))}")
        return 2
    worst = 0
    for path in paths:
        shown = shown_name(str(path))  # (a name that is not UTF-8 could not even be printed)
        if not path.exists():
            echo(f"{shown}: no such file or folder")
            worst = 1
            continue
        try:
            problems, warnings, rows = check_file(feed, path)
        except OSError as exc:  # e.g. no permission to read it: nothing about the delivery to report
            echo(f"{shown}: cannot be read: {exc.strerror or type(exc).__name__}")
            worst = 1
            continue
        for warning in warnings:
            echo(f"{shown}: warning: {warning}")
        for problem in problems:
            echo(f"{shown}: {problem}")
        if rows is not None:  # (a rejection's own line says it all)
            verdict = "OK — would be accepted" if not problems else f"{len(problems)} problem(s)"
            echo(f"{shown}: {rows} rows read; {verdict}")
        worst = max(worst, 1 if problems else 0)
    return worst
