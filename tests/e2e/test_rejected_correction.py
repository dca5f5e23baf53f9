"""A day of city_visits published, then a broken ``_2`` re-delivery of it: the correction is rejected and the
original stays published — in the ledger, in the tables and in the analysts' catalog — and everything an
operator or the partner reads says the correction was rejected and why (the run's result, ``tesoma status``,
the ledger's reason, the quarantine report)."""

from __future__ import annotations

import pytest

import warehouse
from tesoma import steps
from tesoma.cli import main
from tests.e2e.test_warehouse_history import DAY, counts, counts_in_csv, head, point_at, publish_day
from warehouse import catalog
from warehouse.iceberg import Place
from warehouse.layout import Layout
from warehouse.ledger import Ledger


@pytest.mark.e2e
def test_a_broken_correction_is_rejected_and_the_original_stays_published(data_root, monkeypatch, capsys):
    point_at(monkeypatch, data_root)
    delivered = publish_day(data_root, residents=200)
    before = head(data_root)
    ledger = Ledger(Place.for_root(data_root).ledger_url)
    (original,) = ledger.all("city_visits")

    # the city sends a "correction" of the day that is not the agreed export at all
    delivered.with_name(delivered.stem + "_2.csv").write_bytes(b"this is not the agreed export\r\n")
    results = {r["delivery_id"]: r for r in steps.process_date("city_visits", DAY)}
    catalog.refresh(Layout(data_root))

    # the run's result: the original published (still), the correction rejected with its reason
    correction = next(d for d in results if d != original.delivery_id)
    assert results[original.delivery_id]["state"] == "published"
    assert results[correction]["state"] == "rejected"
    assert results[correction]["reason"] == "missing_columns"
    assert "Required column(s) missing" in results[correction]["message"]
    # and tells the partner what the warehouse still shows
    in_use = f"The earlier delivery of {DAY} ({delivered.name}, {original.delivery_id}) stays in use"
    assert in_use in results[correction]["message"]

    # the ledger: the original counts, with all its rows; the correction published nothing
    states = {d.delivery_id: d for d in ledger.all("city_visits")}
    assert states[original.delivery_id].state == "published"
    assert states[original.delivery_id].rows_published == original.rows_published > 0
    assert states[correction].state == "rejected" and states[correction].rows_published == 0
    assert states[correction].sequence == 2 and states[correction].reason.startswith("missing_columns: ")

    # the tables and the catalog: the original's rows, in the same warehouse state as before
    assert head(data_root).state_id == before.state_id
    with warehouse.connect(data_root) as con:
        assert counts(con) == counts_in_csv(delivered)
        assert con.execute("select distinct delivery_id from service_event").fetchall() == [(original.delivery_id,)]

    # the partner's quarantine report says why the correction was rejected
    report = (data_root / "quarantine" / "city" / correction / "report.md").read_text(encoding="utf-8")
    assert "missing_columns" in report and in_use in report

    # tesoma status: the date's delivery that counts is published; one rejected, with its reason
    assert main(["status"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("city_visits"))
    assert line.split()[:4] == ["city_visits", "city", DAY.isoformat(), "published"]
    assert line.split()[6:8] == ["2", "1"]  # deliveries, rejected
    assert "missing_columns" in line
