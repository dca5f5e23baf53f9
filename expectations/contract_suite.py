"""Generate a feed's Great Expectations suite from its contract: each rule lives in the contract only.

Every expectation carries ``meta`` with the contract rule name and advice for the partner, so a
validation result can be turned into a precise, actionable rejection reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import contracts

if TYPE_CHECKING:
    import great_expectations as gx


def rules(contract: contracts.FeedContract) -> list[tuple[str, dict, dict]]:
    """(expectation class name, kwargs, meta) per rule, in a form that needs no GX import to test."""
    out: list[tuple[str, dict, dict]] = []
    for c in contract.columns:
        if c.required:
            out.append(("ExpectColumnValuesToNotBeNull", {"column": c.name},
                        {"rule": "required", "column": c.name, "advice": "fill in the value; it is required"}))
        if c.unique:
            out.append(("ExpectColumnValuesToBeUnique", {"column": c.name},
                        {"rule": "unique", "column": c.name,
                         "advice": "each value may appear only once per file; send one row per id"}))
        if c.pattern:
            out.append(("ExpectColumnValuesToMatchRegex", {"column": c.name, "regex": c.pattern},
                        {"rule": "pattern", "column": c.name,
                         "advice": f"the value must match the agreed format {c.pattern}"}))
        if c.allowed:
            out.append(("ExpectColumnValuesToBeInSet", {"column": c.name, "value_set": list(c.allowed)},
                        {"rule": "allowed_values", "column": c.name,
                         "advice": f"use one of the agreed codes: {', '.join(c.allowed)}"}))
        if c.minimum is not None or c.maximum is not None:
            out.append(("ExpectColumnValuesToBeBetween",
                        {"column": c.name, "min_value": c.minimum, "max_value": c.maximum},
                        {"rule": "range", "column": c.name, "advice": f"the value must be {range_text(c)}"}))
        if c.not_after:
            out.append(("ExpectColumnPairValuesAToBeGreaterThanB",
                        {"column_A": c.not_after, "column_B": c.name, "or_equal": True,
                         "ignore_row_if": "either_value_is_missing"},
                        {"rule": "not_after", "column": c.name, "advice": not_after_text(c)}))
    return out


def not_after_text(c: contracts.Column) -> str:
    """What a partner does about a value later than the one it must precede."""
    return (f"{c.name} must be at or before {c.not_after} of the same row; correct whichever time is wrong "
            f"(or leave {c.name} empty if it is not known)")


def suite_for(contract: contracts.FeedContract) -> gx.ExpectationSuite:
    """The feed's expectation suite, named ``<feed>.contract``."""
    import great_expectations.expectations as gxe

    from expectations.gx_runtime import gx

    return gx.ExpectationSuite(
        name=f"{contract.feed}.contract",
        meta={"contract_version": contract.version},
        expectations=[getattr(gxe, name)(**kwargs, meta=meta) for name, kwargs, meta in rules(contract)],
    )


def range_text(c: contracts.Column) -> str:
    """``between 0 and 10``, ``at least 0`` or ``at most 10``."""
    if c.minimum is not None and c.maximum is not None:
        return f"between {c.minimum} and {c.maximum}"
    return f"at least {c.minimum}" if c.minimum is not None else f"at most {c.maximum}"
