"""validate_rules checks each rule on a reduced frame (distinct values, repeated ids only, distinct
pairs); its verdicts must be exactly those of one Great Expectations suite over every row."""

from __future__ import annotations

import pyarrow as pa
import pytest

from expectations.runner import validate, validate_rules

RULES = [
    ("ExpectColumnValuesToNotBeNull", {"column": "id"}, {"rule": "required", "column": "id"}),
    ("ExpectColumnValuesToBeUnique", {"column": "id"}, {"rule": "unique", "column": "id"}),
    ("ExpectColumnValuesToMatchRegex", {"column": "id", "regex": r"^K\d{3}$"}, {"rule": "pattern", "column": "id"}),
    ("ExpectColumnValuesToNotBeNull", {"column": "code"}, {"rule": "required", "column": "code"}),
    ("ExpectColumnValuesToBeInSet", {"column": "code", "value_set": ["a", "b"]},
     {"rule": "allowed_values", "column": "code"}),
    ("ExpectColumnValuesToBeBetween", {"column": "fee", "min_value": 0, "max_value": 50},
     {"rule": "range", "column": "fee"}),
    ("ExpectColumnPairValuesAToBeGreaterThanB",
     {"column_A": "event_year", "column_B": "birth_year", "or_equal": True, "ignore_row_if": "either_value_is_missing"},
     {"rule": "event_before_birth_year", "column": "event_date"}),
]

GIVEN = pa.table({
    "id":         ["K001", "K002", "K002", None,   "X9",   "K003", "K004", "K004", "K004", "K005"],
    "code":       ["a",    "b",    "c",    None,   "a",    "a",    None,   "b",    "z",    "a"],
    "fee":        [10,     60,     None,   5,      -1,     10,     0,      50,     10,     10],
    "event_year": [2026,   2026,   2026,   2026,   2026,   None,   2026,   2026,   2026,   2026],
    "birth_year": [1990,   2027,   2030,   None,   1950,   1990,   2026,   2027,   1990,   2026],
})

EXPECTED = {  # row → the rules it breaks, in rule order
    1: ["id: unique", "fee: range", "event_date: event_before_birth_year"],
    2: ["id: unique", "code: allowed_values", "event_date: event_before_birth_year"],
    3: ["id: required", "code: required"],
    4: ["id: pattern", "fee: range"],
    6: ["id: unique", "code: required"],
    7: ["id: unique", "event_date: event_before_birth_year"],
    8: ["id: unique", "code: allowed_values"],
}


@pytest.fixture(scope="module")
def gx_suite():
    from expectations.gx_runtime import gx, gxe

    return gx.ExpectationSuite(name="frames.full", expectations=[getattr(gxe, n)(**kw, meta=m) for n, kw, m in RULES])


def test_reduced_frames_give_the_expected_verdicts():
    outcome = validate_rules(GIVEN, RULES, "frames")
    assert outcome.row_failures == EXPECTED
    failed = {f"{r.column}: {r.rule}": r.failed_rows for r in outcome.results}
    assert failed == {"id: required": 1, "id: unique": 5, "id: pattern": 1, "code: required": 2,
                      "code: allowed_values": 2, "fee: range": 2, "event_date: event_before_birth_year": 3}
    assert [r.success for r in outcome.results] == [False] * len(RULES)


def test_reduced_frames_agree_with_one_suite_over_every_row(gx_suite):
    assert validate_rules(GIVEN, RULES, "frames").row_failures == validate(GIVEN, gx_suite).row_failures


def test_all_distinct_ids_and_no_nulls_pass_every_rule():
    table = pa.table({"id": [f"K{i:03d}" for i in range(200)], "code": ["a", "b"] * 100, "fee": [1] * 200,
                      "event_year": [2026] * 200, "birth_year": [2000] * 200})
    outcome = validate_rules(table, RULES, "frames")
    assert outcome.row_failures == {}
    assert all(r.success and r.failed_rows == 0 for r in outcome.results)


def test_an_empty_table_breaks_nothing():
    outcome = validate_rules(GIVEN.slice(0, 0), RULES, "frames")
    assert outcome.row_failures == {} and len(outcome.results) == len(RULES)


def test_a_column_with_no_values_fails_required_on_every_row(gx_suite):
    table = pa.table({"id": pa.array([None, None, None], pa.string()), "code": ["a", "a", "b"], "fee": [1, 2, 3],
                      "event_year": [2026] * 3, "birth_year": [2000] * 3})
    outcome = validate_rules(table, RULES, "frames")
    assert outcome.row_failures == {0: ["id: required"], 1: ["id: required"], 2: ["id: required"]}
    assert outcome.row_failures == validate(table, gx_suite).row_failures


def _many_ids(bad: dict[int, str | None], n: int = 60_000) -> pa.Table:
    """``n`` distinct ids (more than share a frame), some replaced by ``bad`` values."""
    ids = [bad.get(i, f"K{i:06d}") for i in range(n)]
    return pa.table({"id": ids})


ID_RULES = [
    ("ExpectColumnValuesToNotBeNull", {"column": "id"}, {"rule": "required", "column": "id"}),
    ("ExpectColumnValuesToMatchRegex", {"column": "id", "regex": r"^K\d{6}$"}, {"rule": "pattern", "column": "id"}),
]


@pytest.mark.parametrize(("bad", "failing"), [
    ({5: "X1", 59_999: "K12", 100: None}, [5, 100, 59_999]),  # ASCII: only RE2's suspects reach GX
    # An Arabic-Indic digit: Python's \d (GX) matches it, RE2's does not; GX's verdict stands.
    ({7: "K00000٣", 8: "k000008"}, [8]),
])
def test_many_distinct_ids_get_the_verdicts_of_one_suite_over_every_row(bad, failing):
    from expectations.gx_runtime import gx, gxe

    table = _many_ids(bad)
    full = gx.ExpectationSuite(name="frames.ids", expectations=[getattr(gxe, n)(**kw, meta=m) for n, kw, m in ID_RULES])
    expected = validate(table, full).row_failures
    assert validate_rules(table, ID_RULES, "frames").row_failures == expected
    assert sorted(expected) == failing


def test_pattern_suspects_are_few_for_ascii_and_none_otherwise():
    from expectations.runner import _pattern_suspects

    values = pa.chunked_array([[f"K{i:06d}" for i in range(1000)] + ["X1", None, "X1"]])
    assert _pattern_suspects(values, ID_RULES).to_pylist() == ["X1", "K000000", None]
    negated = [(k, {**kw, "regex": r"^K\D*"} if "regex" in kw else kw, m) for k, kw, m in ID_RULES]
    assert _pattern_suspects(values, negated) is None
    assert _pattern_suspects(pa.chunked_array([["K00000٣", "K000001"]]), ID_RULES) is None
    in_set = [*ID_RULES, ("ExpectColumnValuesToBeInSet", {"column": "id", "value_set": ["K1"]}, {"rule": "allowed"})]
    assert _pattern_suspects(values, in_set) is None
