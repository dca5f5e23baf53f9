"""The contract's rules evaluated directly on Arrow, without Great Expectations.

Used where GX cannot be: the partners' pre-flight check (``tesoma check`` must write nothing, and a GX
context creates temporary folders) and anywhere a quick row-level verdict is needed. The rules are the
same list GX's suite is built from (``expectations.contract_suite.rules``), and a test holds the two
evaluators to the same verdicts, so each rule still lives in one place: the contract.
"""

from __future__ import annotations

from collections import defaultdict

import pyarrow as pa
import pyarrow.compute as pc

import contracts
from expectations.contract_suite import rules


def _failing(table: pa.Table, name: str, kwargs: dict) -> pa.Array:
    if name == "ExpectColumnPairValuesAToBeGreaterThanB":  # A >= B (or A > B); a missing value passes
        compare = pc.greater_equal if kwargs.get("or_equal") else pc.greater
        return pc.invert(pc.fill_null(compare(table[kwargs["column_A"]], table[kwargs["column_B"]]), True))
    values = table[kwargs["column"]]
    present = pc.is_valid(values)
    if name == "ExpectColumnValuesToNotBeNull":
        return pc.invert(present)
    if name == "ExpectColumnValuesToBeUnique":
        counts = pc.value_counts(values)
        repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
        return pc.and_(present, pc.is_in(values, value_set=repeated))
    if name == "ExpectColumnValuesToMatchRegex":
        # The same patterns in RE2 (Arrow) as in Python's re (GX); contracts use the common subset.
        ok = pc.match_substring_regex(values.cast(pa.string()), kwargs["regex"])
    elif name == "ExpectColumnValuesToBeInSet":
        ok = pc.is_in(values.cast(pa.string()), value_set=pa.array([str(v) for v in kwargs["value_set"]]))
    elif name == "ExpectColumnValuesToBeBetween":
        ok = pa.chunked_array([pa.array([True] * len(values))]) if len(values) else pa.array([], pa.bool_())
        numeric = values.cast(pa.float64())
        if kwargs.get("min_value") is not None:
            ok = pc.and_(ok, pc.greater_equal(numeric, float(kwargs["min_value"])))
        if kwargs.get("max_value") is not None:
            ok = pc.and_(ok, pc.less_equal(numeric, float(kwargs["max_value"])))
    else:
        raise ValueError(f"no Arrow evaluation for {name}")
    return pc.and_(present, pc.invert(pc.fill_null(ok, True)))


def row_failures(table: pa.Table, contract: contracts.FeedContract) -> dict[int, list[str]]:
    """For each failing row position, its ``column: rule`` reasons (same shape as the GX runner's)."""
    failures: dict[int, list[str]] = defaultdict(list)
    for name, kwargs, meta in rules(contract):
        mask = _failing(table, name, kwargs)
        for position in pc.indices_nonzero(mask).to_pylist():
            failures[position].append(f"{meta['column']}: {meta['rule']}")
    return dict(failures)
