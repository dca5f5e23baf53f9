"""Feed runs are named by feed and delivery date, whoever starts them (orchestration/timetable.py)."""

from __future__ import annotations

import datetime as dt
import re

import pendulum
from airflow.timetables.base import DataInterval
from airflow.utils.types import DagRunType

from orchestration.timetable import DeliveryDateTimetable

HELSINKI = "Europe/Helsinki"


def timetable(cadence: str = "daily", cron: str = "0 7 * * *") -> DeliveryDateTimetable:
    return DeliveryDateTimetable(cron, timezone=HELSINKI, feed="city_visits", cadence=cadence)


def test_a_scheduled_run_is_named_by_the_delivery_it_processes():
    morning = pendulum.datetime(2026, 10, 2, 7, tz=HELSINKI)  # runs at 07:00 for the day before
    name = timetable().generate_run_id(run_type=DagRunType.SCHEDULED, run_after=morning,
                                       data_interval=DataInterval(morning, morning))
    assert name == "city_visits__2026-10-01"


def test_a_monthly_run_is_named_by_the_month_delivered():
    second = pendulum.datetime(2026, 11, 2, 7, tz=HELSINKI)
    name = timetable("monthly", "0 7 2 * *").generate_run_id(
        run_type=DagRunType.SCHEDULED, run_after=second, data_interval=DataInterval(second, second))
    assert name == "city_visits__2026-10-01"


def test_runs_started_by_hand_or_backfill_name_their_date_and_kind_and_never_collide():
    logical = pendulum.datetime(2026, 10, 6, 7, tz=HELSINKI)
    now = pendulum.datetime(2026, 12, 4, 12, tz="UTC")
    manual = {timetable().generate_run_id(run_type=DagRunType.MANUAL, run_after=now,
                                          data_interval=DataInterval(logical, logical)) for _ in range(3)}
    assert len(manual) == 3
    assert all(re.fullmatch(r"city_visits__2026-10-05__manual_[0-9a-f]{6}", m) for m in manual)
    backfill = timetable().generate_run_id(run_type=DagRunType.BACKFILL_JOB, run_after=logical,
                                           data_interval=DataInterval(logical, logical))
    assert backfill.startswith("city_visits__2026-10-05__backfill")
    # without a logical date, a manual run processes yesterday's delivery, as its tasks do
    undated = timetable().generate_run_id(run_type=DagRunType.MANUAL, run_after=now, data_interval=None)
    assert undated.startswith("city_visits__2026-12-03__manual_")


def test_the_schedule_survives_serialisation_for_the_scheduler():
    original = timetable()
    again = DeliveryDateTimetable.deserialize(original.serialize())
    assert (again.feed, again.cadence, again.serialize()) == ("city_visits", "daily", original.serialize())
    after = dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC)
    assert again.summary == original.summary
    assert again.infer_manual_data_interval(run_after=pendulum.instance(after)) == \
        original.infer_manual_data_interval(run_after=pendulum.instance(after))


def test_every_feed_dag_serialises_with_its_run_naming(monkeypatch):
    """What the DAG processor stores and the scheduler reads back: only a registered timetable survives."""
    from airflow.serialization.serialized_objects import DagSerialization

    from tesoma.demo import load_dag

    dag = load_dag("city_visits")
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert type(restored.timetable).__name__ == "DeliveryDateTimetable"
    assert restored.timetable.feed == "city_visits"
