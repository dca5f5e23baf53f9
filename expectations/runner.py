"""Run an expectation suite over an Arrow table and report which rows broke which rule.

Only row positions, rule names and counts leave this module; GX's ``unexpected_list`` (the offending
values) is dropped here so that no row value can reach a log, XCom or the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pyarrow as pa


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

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)


def validate(table: pa.Table, suite) -> Validation:
    """Validate ``table`` against a GX ``ExpectationSuite``; rows are identified by position."""
    from expectations.gx_runtime import context

    ctx = context()
    name = "tesoma"
    try:
        source = ctx.data_sources.get(name)
    except (KeyError, ValueError):
        source = ctx.data_sources.add_pandas(name)
    try:
        asset = source.get_asset(suite.name)
    except LookupError:
        asset = source.add_dataframe_asset(suite.name)
    try:
        batch_definition = asset.get_batch_definition("whole")
    except (KeyError, ValueError):
        batch_definition = asset.add_batch_definition_whole_dataframe("whole")

    frame = table.to_pandas(types_mapper=None)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={"result_format": "COMPLETE", "partial_unexpected_count": 0})

    failures: dict[int, list[str]] = defaultdict(list)
    outcome = Validation()
    for r in result.results:
        meta = r.expectation_config.meta or {}
        column = meta.get("column") or r.expectation_config.kwargs.get("column")
        rule = meta.get("rule") or r.expectation_config.type
        if r.exception_info and r.exception_info.get("raised_exception"):
            # A broken expectation is a pipeline defect, not the partner's: fail loudly.
            raise RuntimeError(f"expectation {rule} on {column} could not run: "
                               f"{r.exception_info.get('exception_message')}")
        indexes = r.result.get("unexpected_index_list") or []
        for i in indexes:
            failures[int(i)].append(f"{column}: {rule}")
        outcome.results.append(RuleResult(rule=rule, column=column, failed_rows=len(indexes),
                                          success=bool(r.success), advice=meta.get("advice", "")))
    outcome.row_failures = dict(failures)
    return outcome
