"""Exact duplicate rows within one delivery: the first copy stays, later copies are flagged."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa

from transforms.duplicates import exact_duplicates


def flagged(table: pa.Table, columns: list[str]) -> list[int]:
    """Row numbers of the rows the mask flags."""
    mask = exact_duplicates(table, columns)
    assert mask.type == pa.bool_() and len(mask) == table.num_rows
    return table["_row"].filter(mask).to_pylist()


def test_later_copies_are_flagged_first_stays():
    table = pa.table({
        "kaynti_id": ["K1", "K2", "K1", "K1", "K3"],
        "tila": ["toteutunut", "peruttu", "toteutunut", "toteutunut", "toteutunut"],
        "_row": [1, 2, 3, 4, 5],
    })
    assert exact_duplicates(table, ["kaynti_id", "tila"]).to_pylist() == [False, False, True, True, False]


def test_a_row_differing_in_one_column_is_not_a_duplicate():
    table = pa.table({"kaynti_id": ["K1", "K1"], "tila": ["toteutunut", "peruttu"], "_row": [1, 2]})
    assert flagged(table, ["kaynti_id", "tila"]) == []


def test_only_the_given_columns_count():
    table = pa.table({"kaynti_id": ["K1", "K1"], "tila": ["toteutunut", "peruttu"], "_row": [1, 2]})
    assert flagged(table, ["kaynti_id"]) == [2]


def test_nulls_compare_equal():
    table = pa.table({
        "kaynti_id": ["K1", "K1", "K1", None, None],
        "diagnoosi": [None, None, "A01", None, None],
        "_row": [1, 2, 3, 4, 5],
    })
    assert flagged(table, ["kaynti_id", "diagnoosi"]) == [2, 5]


def test_typed_columns():
    t = dt.datetime(2026, 10, 1, 8, 30)
    table = pa.table({
        "alkuaika": pa.array([t, t, t, None, None], pa.timestamp("s")),
        "asiakasmaksu": pa.array([Decimal("20.90"), Decimal("20.90"), Decimal("20.9"), None, None],
                                 pa.decimal128(9, 2)),
        "kesto_min": pa.array([20, 20, 20, None, None], pa.int64()),
        "_row": [1, 2, 3, 4, 5],
    })
    # 20.9 and 20.90 are the same decimal(9,2) value
    assert flagged(table, ["alkuaika", "asiakasmaksu", "kesto_min"]) == [2, 3, 5]


def test_order_of_rows_does_not_matter_the_lowest_row_number_stays():
    table = pa.table({"kaynti_id": ["K1", "K2", "K1"], "_row": [7, 3, 2]})
    assert flagged(table, ["kaynti_id"]) == [7]


def test_multichunk_table():
    part = pa.table({"kaynti_id": ["K1", "K2"], "_row": [1, 2]})
    again = pa.table({"kaynti_id": ["K2", "K3"], "_row": [3, 4]})
    table = pa.concat_tables([part, again])
    assert flagged(table, ["kaynti_id"]) == [3]


def test_empty_table():
    table = pa.table({"kaynti_id": pa.array([], pa.string()), "_row": pa.array([], pa.int64())})
    assert exact_duplicates(table, ["kaynti_id"]).to_pylist() == []


def test_custom_row_column_and_input_untouched():
    table = pa.table({"a": [1, 1, 2], "n": [10, 11, 12]})
    before = table.to_pylist()
    assert exact_duplicates(table, ["a"], row_column="n").to_pylist() == [False, True, False]
    assert table.to_pylist() == before


def test_comparing_first_on_a_seldom_repeated_column_gives_the_same_verdicts():
    table = pa.table({
        "kaynti_id": ["K1", "K2", "K1", "K1", None, "K3", None, "K2"],
        "tila": ["a", "b", "a", "c", "a", "a", "a", "b"],
        "_row": [1, 2, 3, 4, 5, 6, 7, 8],
    })
    full = exact_duplicates(table, ["kaynti_id", "tila"]).to_pylist()
    assert full == [False, False, True, False, False, False, True, True]
    assert exact_duplicates(table, ["kaynti_id", "tila"], seldom_repeated=["kaynti_id"]).to_pylist() == full


def test_all_ids_distinct_means_no_duplicates_whatever_the_other_columns():
    table = pa.table({"kaynti_id": ["K1", "K2", "K3"], "tila": ["a", "a", "a"], "_row": [1, 2, 3]})
    assert flagged(table, ["kaynti_id", "tila"]) == []
    mask = exact_duplicates(table, ["kaynti_id", "tila"], seldom_repeated=["kaynti_id", "not_a_column"])
    assert mask.to_pylist() == [False, False, False]
