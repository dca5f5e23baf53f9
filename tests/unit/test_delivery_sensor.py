"""The deferrable delivery sensor, its trigger and the deadline-alert callback (orchestration/delivery_sensor.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowException, TaskDeferred

import orchestration.delivery_sensor as delivery_sensor
from orchestration.delivery_sensor import DeliverySensor, DeliveryTrigger, deadline_alert, delivery_late
from tesoma.schedule import run_time_for

DAY = dt.date(2026, 10, 1)
MONTH = dt.date(2026, 10, 1)
COST_PARTNERS = ("city", "mehilainen", "ngo_mll", "ngo_setlementti")


def drop(root: Path, partner: str, folder: str, name: str, text: str = "x\n") -> Path:
    path = root / "landing" / partner / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def sensor(feed: str = "city_visits", cadence: str = "daily", **kwargs) -> DeliverySensor:
    return DeliverySensor(task_id=f"wait_{feed}", feed=feed, cadence=cadence, poll_interval=60,
                          timeout=dt.timedelta(hours=5), **kwargs)


def context(day: dt.date = DAY, cadence: str = "daily") -> dict:
    return {"logical_date": run_time_for(day, cadence)}


@pytest.fixture(autouse=True)
def morning_of_the_run(monkeypatch):
    """Now is DAY's scheduled run: the dates here are within their waiting window, so the sensor still
    defers whatever today's date (after the window it gives up at once: test_delivery_sensor_backfill.py)."""
    monkeypatch.setattr(delivery_sensor, "utcnow", lambda: run_time_for(DAY))


# --- the sensor -------------------------------------------------------------------------------------------

def test_succeeds_at_once_when_the_delivery_is_there(data_root):
    drop(data_root, "city", "city_visits", "city_visits_20261001.csv")
    drop(data_root, "city", "city_visits", "city_visits_20260930.csv")  # another day: not reported

    result = sensor().execute(context())

    assert result == {"feed": "city_visits", "delivery_date": "2026-10-01",
                      "files": ["city/city_visits_20261001.csv"], "partners_delivered": ["city"],
                      "partners_missing": []}


def test_defers_to_the_delivery_trigger_when_nothing_has_arrived(data_root):
    drop(data_root, "city", "city_visits", "city_visits_20260930.csv")  # yesterday's file does not count
    drop(data_root, "city", "city_visits", "visits-2026-10-01.csv")  # not named as the contract agrees

    with pytest.raises(TaskDeferred) as deferred:
        sensor().execute(context())

    trigger = deferred.value.trigger
    assert isinstance(trigger, DeliveryTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == dt.timedelta(hours=5)
    classpath, kwargs = trigger.serialize()
    assert classpath == "orchestration.delivery_sensor.DeliveryTrigger"
    assert kwargs == {"feed": "city_visits", "delivery_date": "2026-10-01",
                      "landing": str(data_root / "landing"), "expect": "all", "poll_interval": 60.0}
    # The triggerer re-creates the trigger from exactly that.
    from airflow.sdk._shared.module_loading import import_string

    again = import_string(classpath)(**kwargs)
    assert again.serialize() == (classpath, kwargs)


def test_monthly_delivery_date_and_every_partner_expected(data_root):
    drop(data_root, "city", "costs", "costs_202610.csv")
    with pytest.raises(TaskDeferred):  # 1 of 4 partners: not complete
        sensor("costs", "monthly").execute(context(MONTH, "monthly"))

    assert sensor("costs", "monthly", expect="any").execute(context(MONTH, "monthly"))["files"] == [
        "city/costs_202610.csv"]

    for partner in COST_PARTNERS[1:]:
        drop(data_root, partner, "costs", "costs_202610.xlsx")
    result = sensor("costs", "monthly").execute(context(MONTH, "monthly"))
    assert result["partners_delivered"] == sorted(COST_PARTNERS) and result["partners_missing"] == []


def test_a_fhir_export_counts_only_once_its_manifest_is_there(data_root):
    export = data_root / "landing" / "mehilainen" / "mehilainen_fhir" / "20261001"
    export.mkdir(parents=True)
    (export / "Patient.ndjson").write_text("{}\n")
    with pytest.raises(TaskDeferred):
        sensor("mehilainen_fhir").execute(context())
    (export / "manifest.json").write_text("{}")
    assert sensor("mehilainen_fhir").execute(context())["files"] == ["mehilainen/20261001"]


def test_execute_complete_returns_the_event_summary_and_rejects_an_empty_event(data_root):
    event = {"status": "delivered", "feed": "city_visits", "delivery_date": "2026-10-01",
             "files": ["city/city_visits_20261001.csv"], "partners_delivered": ["city"], "partners_missing": []}
    assert sensor().execute_complete(context(), event) == {k: v for k, v in event.items() if k != "status"}
    with pytest.raises(AirflowException):
        sensor().execute_complete(context(), None)


def test_expect_is_checked():
    with pytest.raises(ValueError, match="expect"):
        sensor(expect="most")


# --- the trigger ------------------------------------------------------------------------------------------

def test_trigger_fires_once_the_file_appears(tmp_path):
    landing = tmp_path / "landing"

    async def scenario():
        trigger = DeliveryTrigger(feed="city_visits", delivery_date="2026-10-01", landing=str(landing),
                                  poll_interval=0.01)
        events = trigger.run()
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.2)
        assert not first.done(), "fired before anything arrived"
        drop(tmp_path, "city", "city_visits", "city_visits_20261002.csv")  # the wrong day
        await asyncio.sleep(0.2)
        assert not first.done(), "fired for another day's file"
        drop(tmp_path, "city", "city_visits", "city_visits_20261001.csv")
        event = await asyncio.wait_for(first, timeout=10)
        with pytest.raises(StopAsyncIteration):  # a single-event trigger
            await anext(events)
        return event

    event = asyncio.run(scenario())
    assert event.payload == {"status": "delivered", "feed": "city_visits", "delivery_date": "2026-10-01",
                             "files": ["city/city_visits_20261001.csv"], "partners_delivered": ["city"],
                             "partners_missing": []}


def test_trigger_with_expect_any_fires_on_the_first_partner(tmp_path):
    async def scenario():
        trigger = DeliveryTrigger(feed="ngo_activity", delivery_date="2026-10-01",
                                  landing=str(tmp_path / "landing"), expect="any", poll_interval=0.01)
        first = asyncio.ensure_future(anext(trigger.run()))
        await asyncio.sleep(0.1)
        assert not first.done()
        drop(tmp_path, "ngo_mll", "ngo_activity", "ngo_activity_20261001.xlsx")
        return await asyncio.wait_for(first, timeout=10)

    event = asyncio.run(scenario())
    assert event.payload["partners_delivered"] == ["ngo_mll"]
    assert event.payload["partners_missing"] == ["ngo_setlementti"]


# --- the deadline alert -----------------------------------------------------------------------------------

def test_deadline_alert_calls_delivery_late_after_late_after():
    from airflow.sdk import AsyncCallback, DeadlineReference
    from airflow.sdk._shared.module_loading import import_string

    alert = deadline_alert("costs", "monthly", dt.timedelta(hours=3))
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert alert.interval == dt.timedelta(hours=3)
    assert isinstance(alert.callback, AsyncCallback)
    assert import_string(alert.callback.path) is delivery_late
    assert alert.callback.kwargs == {"feed": "costs", "cadence": "monthly"}


def test_delivery_late_names_feed_date_missing_partners_and_contacts(data_root, caplog):
    drop(data_root, "city", "costs", "costs_202610.csv", text="identity 010101-123N;Virtanen\n")
    airflow_context = {
        "dag_run": {"dag_id": "costs", "run_id": "scheduled__2026-11-02T05:00:00+00:00",
                    "logical_date": "2026-11-02T05:00:00Z"},
        "deadline": {"id": "d-1", "deadline_time": "2026-11-02T08:00:00+00:00"},
    }
    # Run it the way Airflow does: the triggerer's CallbackTrigger imports the path and passes the context.
    from airflow.triggers.callback import CallbackTrigger

    alert = deadline_alert("costs", "monthly", dt.timedelta(hours=3))
    trigger = CallbackTrigger(alert.callback.path, {**alert.callback.kwargs, "context": airflow_context})

    async def collect():
        return [e async for e in trigger.run()]

    with caplog.at_level(logging.WARNING, logger="orchestration.delivery_sensor"):
        events = asyncio.run(collect())

    assert [e.payload["state"] for e in events] == ["running", "success"]
    message = events[-1].payload["body"]
    assert message.startswith("DELIVERY LATE: feed costs, delivery date 2026-10-01")
    assert "not delivered by: mehilainen, ngo_mll, ngo_setlementti" in message
    assert "delivered (1 file(s)) by: city" in message
    assert "alliance-finance" in message and "mailto:data@tesoma.example" in message
    assert message in caplog.text
    assert "Virtanen" not in caplog.text and "010101" not in caplog.text  # names only, never contents


def test_delivery_late_when_everything_arrived_points_at_the_run(data_root):
    drop(data_root, "city", "city_visits", "city_visits_20261001.csv")
    message = asyncio.run(delivery_late("city_visits", "daily", context={
        "dag_run": {"run_id": "r", "logical_date": run_time_for(DAY).isoformat()}}))
    assert "delivery date 2026-10-01" in message
    assert "every partner has delivered: the run itself is slow or stuck" in message
    assert "not delivered by" not in message
