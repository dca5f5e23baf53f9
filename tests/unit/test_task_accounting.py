"""The row accounting the feed and history runs show (orchestration.delivery_tasks.accounting): the ledger's
figures per delivery, the quarantined rows per reason, in the order asked, however many deliveries."""

from __future__ import annotations

import datetime as dt

import pytest

from orchestration import batch_tasks
from orchestration.delivery_tasks import accounting


def _ledger(root):
    from warehouse.ledger import Ledger

    return Ledger(f"sqlite:///{root / 'ledger.sqlite'}")


def _delivery(ledger, day: int, sequence: int = 1, partner: str = "city", **figures) -> str:
    d, _ = ledger.record_landed(partner=partner, feed="city_visits", delivery_date=dt.date(2026, 10, day),
                                sequence=sequence, source_name=f"city_visits_202610{day:02d}.csv",
                                sha256=f"{day:02d}{sequence}{partner}".ljust(64, "0"), raw_path="raw/x.csv",
                                size_bytes=10, arrived_at=None)
    if figures:
        ledger.update(d.delivery_id, **figures)
    return d.delivery_id


def test_each_delivery_with_its_quarantined_rows_per_reason(data_root):
    ledger = _ledger(data_root)
    clean = _delivery(ledger, 1, state="published", rows_read=5, rows_published=5, rows_quarantined=0)
    some_bad = _delivery(ledger, 2, state="published", rows_read=6, rows_published=3, rows_quarantined=3)
    rejected = _delivery(ledger, 3, state="rejected", rows_read=4, rows_published=0, rows_quarantined=4,
                         reason="quality_threshold: 4 of 4 rows broke the contract")
    error = {"stage": "contract", "severity": "error"}
    ledger.replace_quality_results(some_bad, [
        {**error, "rule": "valid_hetu", "column_name": "henkilotunnus", "failed_rows": 2},
        {**error, "rule": "valid_hetu", "column_name": "henkilotunnus", "failed_rows": 0},  # passed: not a reason
        {**error, "rule": "row_parse", "column_name": None, "failed_rows": 1},
        {**error, "stage": "canonical", "rule": "unique_key", "column_name": "event_id", "failed_rows": 9},
        {"stage": "contract", "severity": "warning", "rule": "late", "column_name": None, "failed_rows": 6},
    ])
    ledger.replace_quality_results(rejected, [{**error, "rule": "valid_date", "column_name": "alkuaika",
                                               "failed_rows": 4}])

    rows = accounting([rejected, clean, some_bad])

    assert [(r["delivery_id"], r["state"], r["rows_read"], r["rows_published"], r["rows_quarantined"])
            for r in rows] == [(rejected, "rejected", 4, 0, 4), (clean, "published", 5, 5, 0),
                               (some_bad, "published", 6, 3, 3)]
    assert [r["quarantined_by_reason"] for r in rows] == [
        {"alkuaika: valid_date": 4}, {}, {"henkilotunnus: valid_hetu": 2, "row_parse": 1}]
    assert [r["reason"] for r in rows] == ["quality_threshold: 4 of 4 rows broke the contract", None, None]
    assert accounting([]) == []
    with pytest.raises(KeyError, match="no delivery 'nothing-such'"):
        accounting([clean, "nothing-such"])


def test_a_months_deliveries_in_date_partner_and_sequence_order(data_root):
    ledger = _ledger(data_root)
    later = _delivery(ledger, 2)
    correction = _delivery(ledger, 1, sequence=2)
    other_partner = _delivery(ledger, 1, partner="mehilainen")
    first = _delivery(ledger, 1)
    _delivery(ledger, 3)  # a date the run did not plan

    days = [dt.date(2026, 10, 1), dt.date(2026, 10, 2)]
    assert batch_tasks._delivery_ids(ledger, "city_visits", days) == [
        d.delivery_id for day in days for d in ledger.for_date("city_visits", day)] == [
        first, correction, other_partner, later]
    assert batch_tasks._delivery_ids(ledger, "city_visits", []) == []
