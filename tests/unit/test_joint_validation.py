"""validate_jointly: several deliveries checked by the same rules in one Great Expectations run per frame
must give each delivery exactly what validating it alone gives — its failing rows (numbered from its own
first row), its counts — with "unique" holding within a delivery, never across deliveries."""

from __future__ import annotations

import pyarrow as pa
import pytest

from expectations import runner
from expectations.runner import validate_jointly, validate_rules

RULES = [
    ("ExpectColumnValuesToNotBeNull", {"column": "id"}, {"rule": "required", "column": "id"}),
    ("ExpectColumnValuesToBeUnique", {"column": "id"}, {"rule": "unique", "column": "id"}),
    ("ExpectColumnValuesToMatchRegex", {"column": "id", "regex": r"^K\d{3}$"}, {"rule": "pattern", "column": "id"}),
    ("ExpectColumnValuesToBeInSet", {"column": "code", "value_set": ["a", "b"]},
     {"rule": "allowed_values", "column": "code"}),
    ("ExpectColumnPairValuesAToBeGreaterThanB",
     {"column_A": "event_year", "column_B": "birth_year", "or_equal": True, "ignore_row_if": "either_value_is_missing"},
     {"rule": "event_before_birth_year", "column": "event_date"}),
]


def delivery(ids, codes, births):
    return pa.table({"id": pa.array(ids, pa.string()), "code": pa.array(codes, pa.string()),
                     "event_year": pa.array([2026] * len(ids), pa.int64()),
                     "birth_year": pa.array(births, pa.int64())})


# K001 is in both deliveries once each (unique in each); K002 repeats inside the first only.
FIRST = delivery(["K001", "K002", "K002", None], ["a", "z", "b", "a"], [1990, 2027, 1980, 1990])
SECOND = delivery(["K001", "X9", "K003"], ["b", "a", "z"], [1990, 1950, 2030])

EXPECTED = [
    {1: ["id: unique", "code: allowed_values", "event_date: event_before_birth_year"], 2: ["id: unique"],
     3: ["id: required"]},
    {1: ["id: pattern"], 2: ["code: allowed_values", "event_date: event_before_birth_year"]},
]


def failed_rows(outcome):
    return {f"{r.column}: {r.rule}": r.failed_rows for r in outcome.results}


def test_each_delivery_gets_its_own_rows_and_counts():
    first, second = validate_jointly([FIRST, SECOND], RULES, "joint")
    assert [first.row_failures, second.row_failures] == EXPECTED
    assert failed_rows(first) == {"id: required": 1, "id: unique": 2, "id: pattern": 0, "code: allowed_values": 1,
                                  "event_date: event_before_birth_year": 1}
    assert failed_rows(second) == {"id: required": 0, "id: unique": 0, "id: pattern": 1, "code: allowed_values": 1,
                                   "event_date: event_before_birth_year": 1}
    assert [r.success for r in second.results] == [True, True, False, False, False]


def test_the_same_as_validating_each_alone():
    tables = [FIRST, SECOND, FIRST.slice(0, 0), SECOND, FIRST]
    jointly = validate_jointly(tables, RULES, "joint")
    alone = [validate_rules(t, RULES, "alone") for t in tables]
    assert [j.row_failures for j in jointly] == [a.row_failures for a in alone]
    assert [failed_rows(j) for j in jointly] == [failed_rows(a) for a in alone]


def test_one_gx_run_per_frame_for_all_deliveries(monkeypatch):
    runs = []
    real = runner.validate
    monkeypatch.setattr(runner, "validate", lambda frame, suite: runs.append(suite.name) or real(frame, suite))
    validate_jointly([FIRST, SECOND, SECOND], RULES, "joint")
    jointly = len(runs)
    runs.clear()
    validate_rules(FIRST, RULES, "alone")
    assert jointly == len(runs)  # three deliveries cost what one does


def test_big_or_different_tables_are_validated_apart(monkeypatch):
    monkeypatch.setattr(runner, "JOINT_ROWS", 7)
    other = FIRST.drop_columns(["code"])
    rules = [r for r in RULES if r[1].get("column") != "code"]
    parts = runner._joint_parts([FIRST, SECOND, SECOND, other])
    assert [[t.num_rows for t in part] for part in parts] == [[4, 3], [3], [4]]
    first, second, third = validate_jointly([FIRST, SECOND, SECOND], rules, "joint")
    assert second.row_failures == third.row_failures == {1: ["id: pattern"], 2: ["event_date: event_before_birth_year"]}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_deliveries_agree_with_alone(seed):
    import random

    rng = random.Random(seed)
    tables = []
    for _ in range(rng.randint(2, 6)):
        n = rng.randint(0, 40)
        tables.append(delivery([rng.choice(["K001", "K002", "K003", "Q1", None]) for _ in range(n)],
                               [rng.choice(["a", "b", "c", None]) for _ in range(n)],
                               [rng.choice([1950, 2026, 2030, None]) for _ in range(n)]))
    jointly = validate_jointly(tables, RULES, "joint")
    alone = [validate_rules(t, RULES, "alone") for t in tables]
    assert [j.row_failures for j in jointly] == [a.row_failures for a in alone]
    assert [failed_rows(j) for j in jointly] == [failed_rows(a) for a in alone]
