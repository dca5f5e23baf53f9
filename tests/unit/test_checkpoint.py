"""Suites run through a GX Checkpoint registered once per suite name; results leave sanitised."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from expectations import checkpoint, gx_runtime
from expectations.runner import validate

gx, gxe = gx_runtime.gx, gx_runtime.gxe

FAKE_CODE = "131052X308T"  # a fake identity code in a wrong format (the century sign)
FAKE_NAME = "Ella Mäki"


def pattern_suite(name: str, regex: str = r"^\d{6}[-+A]\d{3}[0-9A-Y]$") -> gx.ExpectationSuite:
    return gx.ExpectationSuite(name=name, expectations=[
        gxe.ExpectColumnValuesToNotBeNull(column="hetu", meta={"rule": "required", "column": "hetu"}),
        gxe.ExpectColumnValuesToMatchRegex(column="hetu", regex=regex,
                                           meta={"rule": "pattern", "column": "hetu", "advice": "fix the code"}),
    ])


def leaves(value) -> list:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in leaves(v)]
    return [value]


def test_rows_failing_each_rule_through_a_reused_checkpoint():
    table = pa.table({"hetu": ["131052-308T", FAKE_CODE, None]})

    first = validate(table, pattern_suite("t_checkpoint.reuse"))
    assert first.row_failures == {1: ["hetu: pattern"], 2: ["hetu: required"]}
    assert [(r.rule, r.failed_rows, r.success) for r in first.results] == [("required", 1, False),
                                                                           ("pattern", 1, False)]
    # The suite is rebuilt on every call under the same name: one checkpoint, registered once.
    registered = checkpoint.checkpoint_for(pattern_suite("t_checkpoint.reuse"))
    assert checkpoint.checkpoint_for(pattern_suite("t_checkpoint.reuse")) is registered
    assert validate(table, pattern_suite("t_checkpoint.reuse")).row_failures == first.row_failures
    mine = pattern_suite("t_checkpoint.mine")
    validate(table, mine)
    assert [e.id for e in mine.expectations] == [None, None]  # the caller's suite is left as it was
    ctx = gx_runtime.context()
    assert [c.name for c in ctx.checkpoints.all()].count("t_checkpoint.reuse") == 1


def test_a_changed_suite_replaces_the_registered_one():
    table = pa.table({"hetu": ["131052-308T", FAKE_CODE]})
    assert validate(table, pattern_suite("t_checkpoint.change")).row_failures == {1: ["hetu: pattern"]}

    # Same name, another rule: the checkpoint validates with the new rule, the stored suite is replaced.
    changed = validate(table, pattern_suite("t_checkpoint.change", regex=r"^\d{6}X\d{3}[0-9A-Y]$"))
    assert changed.row_failures == {0: ["hetu: pattern"]}
    ctx = gx_runtime.context()
    stored = ctx.suites.get("t_checkpoint.change")
    assert [e.regex for e in stored.expectations if hasattr(e, "regex")] == [r"^\d{6}X\d{3}[0-9A-Y]$"]
    assert validate(table, pattern_suite("t_checkpoint.change")).row_failures == {1: ["hetu: pattern"]}


def test_gx_keeps_no_result_of_its_own():
    validate(pa.table({"hetu": [FAKE_CODE]}), pattern_suite("t_checkpoint.unkept"))
    ctx = gx_runtime.context()
    assert isinstance(ctx.validation_results_store, checkpoint.UnkeptValidationResultsStore)
    assert ctx.validation_results_store.list_keys() == []


def test_sanitised_result_holds_counts_and_rules_but_no_value():
    table = pa.table({"hetu": ["131052-308T", FAKE_CODE, None, FAKE_CODE],
                      "nimi": ["Aino", FAKE_NAME, "Aino", "Aino"],
                      "ika": [30, 137, 41, 52]})
    suite = gx.ExpectationSuite(name="t_checkpoint.sanitise", expectations=[
        gxe.ExpectColumnValuesToMatchRegex(column="hetu", regex=r"^\d{6}[-+A]\d{3}[0-9A-Y]$",
                                           meta={"rule": "pattern", "column": "hetu"}),
        gxe.ExpectColumnValuesToBeInSet(column="nimi", value_set=["Aino"],
                                        meta={"rule": "allowed_values", "column": "nimi"}),
        gxe.ExpectColumnMaxToBeBetween(column="ika", min_value=0, max_value=120,  # observed value = a row's
                                       meta={"rule": "max_age", "column": "ika"}),
    ])
    raw = json.dumps(checkpoint.run(table.to_pandas(), suite).to_json_dict(), ensure_ascii=False)
    assert FAKE_CODE in raw and "Mäki" in raw and '"observed_value": 137' in raw  # what GX itself holds

    outcome = validate(table, suite)
    assert outcome.row_failures == {1: ["hetu: pattern", "nimi: allowed_values"], 3: ["hetu: pattern"]}

    (sanitised,) = outcome.gx_results
    text = json.dumps(sanitised, ensure_ascii=False)
    for value in (FAKE_CODE, "131052-308T", "Mäki"):
        assert value not in text, value
    assert 137 not in leaves(sanitised)  # the out-of-range age (GX's observed maximum)
    for field in ("unexpected_list", "unexpected_index_list", "partial_unexpected", "unexpected_index_query",
                  "observed_value", "details", "batch_markers", "batch_parameters"):
        assert field not in text, field
    pattern, allowed, maximum = sanitised["results"]
    assert pattern["success"] is False
    assert pattern["result"] == {"element_count": 4, "missing_count": 1, "missing_percent": 25.0,
                                 "unexpected_count": 2, "unexpected_percent": pytest.approx(200 / 3),
                                 "unexpected_percent_total": 50.0,
                                 "unexpected_percent_nonmissing": pytest.approx(200 / 3)}
    assert pattern["expectation_config"]["type"] == "expect_column_values_to_match_regex"
    assert pattern["expectation_config"]["kwargs"]["regex"] == r"^\d{6}[-+A]\d{3}[0-9A-Y]$"  # the rule, kept
    assert pattern["expectation_config"]["meta"] == {"rule": "pattern", "column": "hetu"}
    assert allowed["result"]["unexpected_count"] == 1
    assert maximum["success"] is False and maximum["result"] == {}
    assert sanitised["statistics"]["unsuccessful_expectations"] == 3
    # GX's own schema reads it back: it is a validation result, minus the values.
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResultSchema

    loaded = ExpectationSuiteValidationResultSchema().load(sanitised)
    assert loaded.success is False and loaded.results[0].result["unexpected_count"] == 2


def test_an_expectation_that_cannot_run_fails_loudly_and_its_message_is_dropped():
    suite = gx.ExpectationSuite(name="t_checkpoint.broken", expectations=[  # no such column
        gxe.ExpectColumnValuesToMatchRegex(column="missing", regex="^1$",
                                           meta={"rule": "pattern", "column": "missing"})])
    result = checkpoint.run(pa.table({"n": [1, 2]}).to_pandas(), suite)
    (entry,) = checkpoint.sanitise(result)["results"]
    assert entry["exception_info"] == {"raised_exception": True, "exception_message": None,
                                       "exception_traceback": None}
    with pytest.raises(RuntimeError, match="pattern on missing could not run"):
        validate(pa.table({"n": [1, 2]}), suite)
