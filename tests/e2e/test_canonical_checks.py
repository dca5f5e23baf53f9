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
