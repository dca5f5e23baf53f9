"""Canonical-table suites and cross-table checks on harmonised output (Great Expectations)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from tesoma.steps import check_canonical
from transforms.harmonise import conform
from warehouse.schemas import EVENT_DIAGNOSIS, SERVICE_EVENT


def events(**overrides) -> pa.Table:
    row = {f.name: None for f in SERVICE_EVENT}
    row.update(event_id="e1", person_id="p1", person_id_kind="hetu", partner="city", feed="city_visits",
               service_area="primary_care", status="completed", sex="female", event_date=dt.date(2026, 10, 1),
               birth_year=1990, delivery_id="d1")
    rows = [dict(row), dict(row, event_id="e2")]
    for i, change in overrides.items():
        rows[int(i[1:])].update(change)
    return conform(pa.Table.from_pylist(rows), SERVICE_EVENT)


def diagnoses(event_ids: list[str]) -> pa.Table:
    return conform(pa.Table.from_pylist([
        {"event_id": e, "person_id": "p1", "partner": "city", "feed": "city_visits", "diagnosis_code": "R74",
         "diagnosis_system": "ICPC-2", "diagnosis_code_source": "R74", "diagnosis_system_source": None,
         "is_primary": True, "delivery_id": "d1"} for e in event_ids]), EVENT_DIAGNOSIS)


@pytest.mark.e2e
def test_clean_output_passes_and_every_result_is_recorded():
    results = check_canonical({"service_event": events(), "event_diagnosis": diagnoses(["e1"])}, "d1")
    assert results and all(r["severity"] == "ok" or r["failed_rows"] == 0 for r in results)
    assert {"service_event.unique", "service_event.canonical_values", "diagnosis_without_event"} <= \
        {r["rule"] for r in results}


@pytest.mark.e2e
def test_broken_invariant_stops_the_delivery():
    with pytest.raises(RuntimeError, match=r"service_event.event_id: unique \(2 rows\)"):
        check_canonical({"service_event": events(r1={"event_id": "e1"})}, "d1")
    with pytest.raises(RuntimeError, match="service_area: canonical_values"):
        check_canonical({"service_event": events(r0={"service_area": "astrology"})}, "d1")


@pytest.mark.e2e
def test_plausibility_problems_are_warnings():
    results = check_canonical({"service_event": events(r1={"birth_year": 2030}),
                               "event_diagnosis": diagnoses(["e1", "nope"])}, "d1")
    warnings = {r["rule"]: r["failed_rows"] for r in results if r["severity"] == "warning"}
    assert warnings == {"service_event.event_before_birth_year": 1, "diagnosis_without_event": 1}


@pytest.mark.e2e
def test_a_delivery_whose_output_breaks_an_invariant_leaves_nothing_staged(data_root, monkeypatch):
    """The staged files are written while the canonical suites run; a broken invariant removes them."""
    from synthetic import generate
    from tesoma import steps
    from tesoma.feeds import FeedPipeline
    from warehouse.layout import Layout
    from warehouse.ledger import Ledger

    day = dt.date(2026, 10, 1)
    generate(data_root, start=day, days=1, residents=60, seed=3, fault_rate=0.0)
    (delivery_id,) = steps.land("city_visits", day)
    real = FeedPipeline.harmonise

    def one_event_id(self, *args, **kwargs):
        harmonised, report = real(self, *args, **kwargs)
        events = harmonised["service_event"]
        same = pa.array([events["event_id"][0].as_py()] * events.num_rows, events.schema.field("event_id").type)
        harmonised["service_event"] = events.set_column(events.column_names.index("event_id"), "event_id", same)
        return harmonised, report

    monkeypatch.setattr(FeedPipeline, "harmonise", one_event_id)
    with pytest.raises(RuntimeError, match="service_event.event_id: unique"):
        steps.ingest(delivery_id, final_attempt=False)  # (on the final attempt: rejected, see test_ingest_failures)
    layout = Layout(data_root)
    assert [t for t in ("service_event", "event_diagnosis") if layout.staging_file(t, delivery_id).exists()] == []
    assert Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}").get(delivery_id).state != "staged"
