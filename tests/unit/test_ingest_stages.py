"""Ingest's stages (``tesoma.steps.stages``) on tiny tables: given rows → expected rows."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from connectors.base import ROW_ERRORS, ROW_NUMBER, ReadReport
from tesoma.feeds import pipeline
from tesoma.steps import stages
from transforms.pseudonymise import PseudonymKey

KEY = PseudonymKey(b"unit-test-key-" + b"0123456789abcdef" * 2)
GOOD_CODE, OTHER_CODE = "010190-123M", "020202A002F"  # valid identity codes (check characters computed)


def visits(*rows: dict) -> pa.Table:
    """City visits in the contract's schema; each row gives only what differs from an ordinary visit."""
    schema = stages.contract_empty("city_visits").schema
    base = {"kaynti_id": "v1", "henkilotunnus": GOOD_CODE, "palvelu": "LAAK", "yhteystapa": "vastaanotto",
            "ammattiryhma": "laakari", "toimipiste": "T1", "alkuaika": dt.datetime(2026, 10, 1, 9),
            "kesto_min": 20, "tila": "toteutunut", "paivitetty": dt.datetime(2026, 10, 1, 18), ROW_ERRORS: None}
    return pa.Table.from_pylist([{**base, ROW_NUMBER: n, **row} for n, row in enumerate(rows, 1)], schema=schema)


def work(spec=None) -> stages.DeliveryWork:
    feed = pipeline("city_visits")
    return stages.DeliveryWork("d1", None, None, None, None, feed, spec, KEY if spec else None)


def test_account_sets_exact_copies_apart_and_counts_every_row():
    table = visits({"kaynti_id": "v1"}, {"kaynti_id": "v2"}, {"kaynti_id": "v1"})
    report = ReadReport(unreadable_rows=[(3, "too many fields")])

    accounted = stages.account(work(), stages.Read(table, report, None))

    assert accounted.candidates[ROW_NUMBER].to_pylist() == [1, 2]
    assert accounted.copies[ROW_NUMBER].to_pylist() == [3]
    assert accounted.copies[ROW_ERRORS].to_pylist() == ["duplicate_row"]
    assert accounted.rows_read == 4


def test_account_keeps_a_delivery_without_copies_whole():
    table = visits({"kaynti_id": "v1"}, {"kaynti_id": "v2"})
    accounted = stages.account(work(), stages.Read(table, ReadReport(), None))
    assert accounted.candidates[ROW_NUMBER].to_pylist() == [1, 2] and accounted.copies.num_rows == 0


def test_pseudonymise_splits_rows_that_go_on_from_rows_for_quarantine():
    feed = pipeline("city_visits")
    table = visits({"kaynti_id": "v1"}, {"kaynti_id": "v2", "henkilotunnus": "010190-123A"},
                   {"kaynti_id": "v3", "henkilotunnus": OTHER_CODE, ROW_ERRORS: "palvelu: required"},
                   {"kaynti_id": "v1"})
    w = work(feed.identity_spec("city"))
    accounted = stages.account(w, stages.Read(table, ReadReport(), None))

    split = stages.pseudonymise(w, accounted, stages.ContractChecked(accounted.candidates, None))

    assert split.good.num_rows == 1
    assert "henkilotunnus" not in split.good.column_names and ROW_ERRORS not in split.good.column_names
    assert split.rejected[ROW_NUMBER].to_pylist() == [4, 2, 3]
    assert split.rejected["henkilotunnus"].to_pylist() == [GOOD_CODE, "010190-123A", OTHER_CODE]  # as delivered
    assert split.rejected[ROW_ERRORS].to_pylist() == [
        "duplicate_row", "henkilotunnus: identity_code_check_character", "palvelu: required"]


def test_row_problems_name_each_reason_with_its_rows():
    rejected = visits({ROW_ERRORS: "alkuaika: not_a_date_time|palvelu: required"}, {ROW_ERRORS: "palvelu: required"})
    problems = stages.row_problems(rejected, [(1, "too many fields")])
    assert dict(problems.by_reason) == {"alkuaika: not_a_date_time": 1, "palvelu: required": 2, "unreadable_row": 1}
    assert problems.rows_by_reason["palvelu: required"] == [1, 2]


def test_judge_rejects_a_delivery_over_the_quality_threshold():
    with pytest.raises(stages.TooManyBadRows) as rejected:
        stages.judge(work(), stages.Counts(rows_read=10, rows_valid=7, rows_quarantined=3))
    assert rejected.value.rule == "quality_threshold"
    assert str(rejected.value).startswith("3 of 10 rows (30%) broke the contract; the agreed maximum is 20%")


def test_judge_lets_a_few_bad_rows_through():
    counts = stages.Counts(rows_read=10, rows_valid=8, rows_quarantined=2)
    assert stages.judge(work(), counts) == counts
    assert stages.judge(work(), stages.Counts(0, 0, 0)).rows_read == 0  # an empty delivery is not "too broken"
