"""A day of city_visits published, then a broken ``_2`` re-delivery of it: the correction is rejected and the
original stays published — in the ledger, in the tables and in the analysts' catalog — and everything an
operator or the partner reads says the correction was rejected and why (the run's result, ``tesoma status``,
the ledger's reason, the quarantine report).

Also when the original is published while its correction is only landed (its ingest not run yet, or failed
before a verdict): a correction displaces the original only once it passed validation itself, whichever way
the original is published (one delivery, a run's deliveries in order, a backfill's batch). And when a
correction that had replaced the original is rejected later (ingested again), the original comes back."""

from __future__ import annotations

from pathlib import Path

import pytest

import warehouse
from synthetic import generate
from tesoma import steps
from tesoma.cli import main
from tests.e2e.test_warehouse_history import (
    DAY,
    counts,
    counts_in_csv,
    head,
    land_correction,
    point_at,
    publish_day,
)
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


# --- the original published while its correction is only landed -----------------------------------------

FEED = "city_visits"
PUBLISH_PATHS = {
    "publish": lambda ids: [steps.publish(d) for d in ids],
    "publish_in_order": steps.publish_in_order,  # a daily run's publish task
    "publish_batch": steps.publish_batch,  # a backfill's batch
}


def ingest_original(root: Path) -> tuple[str, Path]:
    """A generated day of city_visits landed and ingested (staged, not published); its id and file."""
    generate(root, start=DAY, days=1, residents=200, seed=7, fault_rate=0.0)
    (original,) = steps.land(FEED, DAY)
    assert steps.ingest(original)["state"] == "staged"
    (delivered,) = sorted((root / "landing" / "city" / FEED).glob("*.csv"))
    return original, delivered


def land_too(original: str) -> str:
    """Land the date again (the correction is in landing now); the correction's id, still ``landed``."""
    (correction,) = [d for d in steps.land(FEED, DAY) if d != original]
    return correction


def shown(root: Path) -> tuple:
    """What an analyst sees of the day: the counts, and which deliveries the rows come from."""
    catalog.refresh(Layout(root))
    with warehouse.connect(root) as con:
        return counts(con), con.execute("select distinct delivery_id from service_event").fetchall()


@pytest.mark.e2e
@pytest.mark.parametrize("path", PUBLISH_PATHS)
def test_the_original_published_while_its_broken_correction_is_landed_stays_published(
        path, data_root, monkeypatch, capsys):
    point_at(monkeypatch, data_root)
    original, delivered = ingest_original(data_root)
    delivered.with_name(delivered.stem + "_2.csv").write_bytes(b"this is not the agreed export\r\n")
    correction = land_too(original)
    ledger = Ledger(Place.for_root(data_root).ledger_url)
    assert ledger.get(correction).state == "landed"

    # the publish runs before the correction is ingested: the original is published, the correction waits
    (result,) = PUBLISH_PATHS[path]([original])
    assert result["state"] == "published" and result["rows_published"] > 0
    assert {d.delivery_id: d.state for d in ledger.all(FEED)} == {original: "published", correction: "landed"}
    assert shown(data_root) == (counts_in_csv(delivered), [(original,)])
    assert main(["status"]) == 0  # the date's delivery that counts is the published one
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(FEED))
    assert line.split()[:4] == [FEED, "city", DAY.isoformat(), "published"]
    before = head(data_root)

    # the correction is ingested: rejected, and the partner is told the original stays in use
    rejected = steps.ingest(correction)
    assert rejected["state"] == "rejected" and rejected["reason"] == "missing_columns"
    in_use = f"The earlier delivery of {DAY} ({delivered.name}, {original}) stays in use"
    assert in_use in rejected["message"] and in_use in ledger.get(correction).reason
    assert steps.publish(correction)["state"] == "rejected"

    # the warehouse still shows the original, in the same state, without anyone publishing it again
    assert {d.delivery_id: d.state for d in ledger.all(FEED)} == {original: "published", correction: "rejected"}
    assert ledger.get(original).rows_published == result["rows_published"]
    assert head(data_root).state_id == before.state_id
    assert shown(data_root) == (counts_in_csv(delivered), [(original,)])


@pytest.mark.e2e
def test_a_valid_correction_landed_after_the_original_was_published_replaces_it(data_root, monkeypatch):
    point_at(monkeypatch, data_root)
    original, delivered = ingest_original(data_root)
    corrected = land_correction(delivered)
    correction = land_too(original)
    assert steps.publish_in_order([original])[0]["state"] == "published"

    assert steps.ingest(correction)["state"] == "staged"
    results = {r["delivery_id"]: r["state"] for r in steps.publish_in_order([original, correction])}
    assert results == {original: "superseded", correction: "published"}
    ledger = Ledger(Place.for_root(data_root).ledger_url)
    assert {d.delivery_id: d.state for d in ledger.all(FEED)} == {original: "superseded", correction: "published"}
    assert shown(data_root) == (counts_in_csv(corrected), [(correction,)])


@pytest.mark.e2e
def test_a_correction_rejected_when_ingested_again_gives_the_original_back(data_root, monkeypatch):
    """The correction had replaced the original; ingested again (a reprocess), it fails on our side and is
    rejected. Publishing it puts the original back: the date is never left with a rejected delivery's rows."""
    point_at(monkeypatch, data_root)
    delivered = publish_day(data_root, residents=200)
    ledger = Ledger(Place.for_root(data_root).ledger_url)
    (original,) = [d.delivery_id for d in ledger.all(FEED)]
    corrected = land_correction(delivered)
    results = {r["delivery_id"]: r["state"] for r in steps.process_date(FEED, DAY)}
    (correction,) = [d for d in results if d != original]
    assert results == {original: "superseded", correction: "published"}
    assert shown(data_root)[0] == counts_in_csv(corrected)

    def broken_harmonise(*args, **kwargs):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr("tesoma.steps.stages.harmonise", broken_harmonise)
    assert steps.ingest(correction)["reason"].startswith("internal_error")
    result = steps.publish(correction)
    assert result["state"] == "rejected" and result["rows_published"] == 0
    assert result["restored"] == original
    assert {d.delivery_id: d.state for d in ledger.all(FEED)} == {original: "published", correction: "rejected"}
    assert ledger.get(original).rows_published > 0
    assert shown(data_root) == (counts_in_csv(delivered), [(original,)])
    assert steps.publish(correction) == {"delivery_id": correction, "state": "rejected", "rows_published": 0}
