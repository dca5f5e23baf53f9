"""Run an expectation suite over an Arrow table and report which rows broke which rule.

Only row positions, rule names and counts leave this module; GX's ``unexpected_list`` (the offending
values) is dropped here so that no row value can reach a log, XCom or the ledger.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class RuleResult:
    rule: str
    column: str | None
    failed_rows: int
    success: bool
    advice: str = ""


@dataclass
class Validation:
    """Row-level outcome: for each failing row position, the ``column: rule`` reasons."""

    row_failures: dict[int, list[str]] = field(default_factory=dict)
    results: list[RuleResult] = field(default_factory=list)
    gx_results: list[dict] = field(default_factory=list)
    """One entry per GX run: its ``ExpectationSuiteValidationResult`` sanitised by
    :func:`expectations.checkpoint.sanitise` (counts, rules, success; no value) — for the Data Docs."""

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)


def validate(table: pa.Table, suite) -> Validation:
    """Validate ``table`` against a GX ``ExpectationSuite`` through the suite's GX Checkpoint
    (:mod:`expectations.checkpoint`); rows are identified by position."""
    from expectations import checkpoint

    frame = table.to_pandas(types_mapper=None)
    result = checkpoint.run(frame, suite)

    failures: dict[int, list[str]] = defaultdict(list)
    outcome = Validation()
    for r in result.results:
        meta = r.expectation_config.meta or {}
        column = meta.get("column") or r.expectation_config.kwargs.get("column")
        rule = meta.get("rule") or r.expectation_config.type
        problem = checkpoint.exception_of(r)
        if problem is not None:
            # A broken expectation is a pipeline defect, not the partner's: fail loudly.
            # GX's message may quote the offending value; keep only the part before any quote or colon.
            safe = re.split(r"[:'\"]", str(problem), maxsplit=1)[0].strip()[:120]
            raise RuntimeError(f"expectation {rule} on {column} could not run: {safe} (see the GX docs for the "
                               "expectation; no row value is shown here)")
        indexes = r.result.get("unexpected_index_list") or []
        for i in indexes:
            failures[int(i)].append(f"{column}: {rule}")
        outcome.results.append(RuleResult(rule=rule, column=column, failed_rows=len(indexes),
                                          success=bool(r.success), advice=meta.get("advice", "")))
    outcome.row_failures = dict(failures)
    outcome.gx_results.append(checkpoint.sanitise(result))
    return outcome


@dataclass
class _Group:
    """Rules checked together on one small frame; frame row ``i`` stands for the table rows whose
    ``codes`` equal ``i`` (or, for ``rows``, the table row ``rows[i]``)."""

    part: str
    rules: list
    frame: pa.Table
    codes: pa.Array | None = None
    rows: np.ndarray | None = None

    def table_rows(self, positions: list[int]) -> np.ndarray:
        if self.rows is not None:
            return self.rows[np.asarray(positions, dtype=np.int64)]
        mask = pc.is_in(self.codes, value_set=pa.array(positions, self.codes.type))
        return np.asarray(pc.indices_nonzero(pc.fill_null(mask, False)))


def validate_rules(table: pa.Table, chosen: list[tuple[str, dict, dict]], name: str) -> Validation:
    """Run a list of rules (expectation class, kwargs, meta) as Great Expectations suites, each on the
    smallest frame that gives every row the same verdict as validating the whole table:

    - rules about a value (pattern, allowed codes, range): the column's *distinct* values, plus one null
      if it has any — a day's 2,000,000 visits hold a few thousand distinct times, codes and fees;
    - "required" alone: one present value and one null — whether a value is missing does not depend on
      which value it is (this keeps all-distinct ids, e.g. record ids, out of the frame);
    - "unique": only the rows whose value occurs more than once (a value seen once is unique whatever
      the other rows hold; GX marks every copy of a repeated value);
    - comparisons of two columns: the distinct pairs of values.

    The failing rows are exactly the rows that the failing frame rows stand for; a test holds these
    verdicts to those of one suite over every row.
    """
    from expectations.gx_runtime import context, gx, gxe

    context()
    outcome = Validation()
    order = {f"{m['column']}: {m['rule']}": i for i, (_, _, m) in enumerate(chosen)}
    if table.num_rows == 0:  # nothing to break a rule
        outcome.results = [RuleResult(rule=m["rule"], column=m["column"], failed_rows=0, success=True,
                                      advice=m.get("advice", "")) for _, _, m in chosen]
        return outcome

    failures: dict[int, list[str]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    results: dict[str, RuleResult] = {}
    for group in _groups(table, chosen):
        suite = gx.ExpectationSuite(name=f"{name}.{group.part}",
                                    expectations=[getattr(gxe, n)(**kw, meta=m) for n, kw, m in group.rules])
        checked = validate(group.frame, suite)
        outcome.gx_results += checked.gx_results
        failing: dict[str, list[int]] = defaultdict(list)
        for position, reasons in checked.row_failures.items():
            for reason in reasons:
                failing[reason].append(position)
        for reason, positions in failing.items():
            rows = group.table_rows(positions)
            counts[reason] += len(rows)
            for row in rows.tolist():
                failures[row].append(reason)
        for r in checked.results:
            results[f"{r.column}: {r.rule}"] = r
    for _, _, meta in chosen:
        reason = f"{meta['column']}: {meta['rule']}"
        r, n = results[reason], counts.get(reason, 0)
        outcome.results.append(RuleResult(rule=r.rule, column=r.column, failed_rows=n, success=n == 0,
                                          advice=r.advice))
    # Keep the rules' order within each row, as a single-suite run gives it.
    outcome.row_failures = {row: sorted(reasons, key=lambda r: order.get(r, 0)) for row, reasons in failures.items()}
    return outcome


def _groups(table: pa.Table, chosen: list[tuple[str, dict, dict]]) -> list[_Group]:
    encoded: dict[str, pa.DictionaryArray] = {}

    def encode(column: str) -> pa.DictionaryArray:
        if column not in encoded:
            encoded[column] = pc.dictionary_encode(table[column].combine_chunks())
        return encoded[column]

    def with_null(e: pa.DictionaryArray) -> tuple[pa.Array, pa.Array]:
        """Distinct values plus a null entry at the end; each row's code (nulls → the null entry)."""
        size = len(e.dictionary)
        values = pa.concat_arrays([e.dictionary, pa.nulls(1 if e.indices.null_count else 0, e.dictionary.type)])
        return values, pc.fill_null(e.indices.cast(pa.int64()), size)

    groups: list[_Group] = []
    by_column: dict[str, list] = defaultdict(list)
    for rule in chosen:
        kind, kwargs, _ = rule
        if kind == "ExpectColumnValuesToBeUnique":
            column = kwargs["column"]
            e = encode(column)
            occurrences = np.bincount(e.indices.fill_null(len(e.dictionary)).to_numpy(zero_copy_only=False),
                                      minlength=len(e.dictionary) + 1)
            occurrences[len(e.dictionary)] = 0  # nulls are not duplicates of each other
            repeated = occurrences[e.indices.fill_null(len(e.dictionary)).to_numpy(zero_copy_only=False)] > 1
            rows = np.flatnonzero(repeated)
            groups.append(_Group(f"unique.{column}", [rule], table.select([column]).take(rows), rows=rows))
        elif kind == "ExpectColumnPairValuesAToBeGreaterThanB":
            a_values, a_codes = with_null(encode(kwargs["column_A"]))
            b_values, b_codes = with_null(encode(kwargs["column_B"]))
            pairs = pc.dictionary_encode(pc.add(pc.multiply(a_codes, len(b_values)), b_codes))
            a_of, b_of = np.divmod(pairs.dictionary.to_numpy(), len(b_values))
            frame = pa.table({kwargs["column_A"]: a_values.take(a_of), kwargs["column_B"]: b_values.take(b_of)})
            groups.append(_Group(f"pairs.{kwargs['column_A']}.{kwargs['column_B']}", [rule], frame,
                                 codes=pairs.indices))
        else:
            by_column[kwargs["column"]].append(rule)
    for column, rules in sorted(by_column.items()):
        e = encode(column)
        if all(kind == "ExpectColumnValuesToNotBeNull" for kind, _, _ in rules):
            # One present value stands for all present values; the null entry for the missing ones.
            present = e.dictionary[:1]
            values = pa.concat_arrays([present, pa.nulls(1 if e.indices.null_count else 0, e.dictionary.type)])
            codes = pc.if_else(pc.is_null(e.indices), len(present), 0)
        else:
            values, codes = with_null(e)
        groups.append(_Group(f"values.{column}", rules, pa.table({column: values}), codes=codes))
    return groups


def validate_contract(table: pa.Table, contract) -> Validation:
    """The contract's suite (``expectations.contract_suite``) on a delivery, as :func:`validate_rules` runs it."""
    from expectations.contract_suite import rules

    return validate_rules(table, rules(contract), f"{contract.feed}.contract")
