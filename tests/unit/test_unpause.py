"""Unpausing a feed DAG starts nothing by itself; a DAG that is running keeps every daily run
(orchestration/timetable.py, DeliveryDateTimetable.next_dagrun_info).

The schedule is asked exactly as Airflow's scheduler and DAG processor ask it: the feed DAG's own timetable,
``start_date`` and ``catchup`` from dags/feeds.py, with the last scheduled run's data interval (or none).
"""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction

from orchestration import timetable as timetable_module
from tesoma.demo import load_dag

HELSINKI = "Europe/Helsinki"


@pytest.fixture(scope="module")
def feeds():
    return {feed: load_dag(feed) for feed in ("city_visits", "ngo_activity", "costs")}


@pytest.fixture
def clock(monkeypatch):
    """Set "now" for Airflow's cron trigger and for ours."""
    import airflow.timetables.trigger as trigger

    def set_now(moment: pendulum.DateTime) -> None:
        monkeypatch.setattr(trigger, "utcnow", lambda: moment.in_tz("UTC"))
        monkeypatch.setattr(timetable_module, "utcnow", lambda: moment.in_tz("UTC"))

    return set_now


def next_run(dag, last: pendulum.DateTime | None = None):
    """When the scheduler would create the DAG's next scheduled run (``last``: its last scheduled run)."""
    restriction = TimeRestriction(pendulum.instance(dag.start_date), None, dag.catchup)
    interval = DataInterval(last, last) if last is not None else None
    info = dag.timetable.next_dagrun_info(last_automated_data_interval=interval, restriction=restriction)
    return info.run_after.in_tz(HELSINKI)


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> pendulum.DateTime:
    return pendulum.datetime(2026, month, day, hour, minute, tz=HELSINKI)


def test_the_feed_dags_are_what_this_test_assumes(feeds):
    for dag in feeds.values():
        assert isinstance(dag.timetable, timetable_module.DeliveryDateTimetable)
        assert dag.catchup is False and dag.start_date.year == 2000


def test_unpausing_a_new_feed_in_the_afternoon_waits_for_tomorrows_run(feeds, clock):
    clock(at(5, 14))  # 14:00: Airflow's cron trigger alone would create today's 07:00 run at once
    assert next_run(feeds["city_visits"]) == at(6, 7)
    assert next_run(feeds["ngo_activity"]) == at(6, 7)


def test_unpausing_a_monthly_feed_after_its_day_waits_for_next_month(feeds, clock):
    clock(at(5, 14))  # the costs feed ran on the 2nd; its window (7 days) is not over
    assert next_run(feeds["costs"]) == pendulum.datetime(2027, 1, 2, 7, tz=HELSINKI)


def test_unpausing_before_the_run_time_runs_today(feeds, clock):
    clock(at(5, 6, 30))
    assert next_run(feeds["city_visits"]) == at(5, 7)


def test_a_run_just_due_is_still_created(feeds, clock):
    # the DAG processor may ask again in the seconds between 07:00 and the scheduler creating the run
    clock(at(5, 7, 2))
    assert next_run(feeds["city_visits"]) == at(5, 7)
    clock(at(5, 7) + timetable_module.LATE_START_GRACE + dt.timedelta(seconds=1))
    assert next_run(feeds["city_visits"]) == at(6, 7)


def test_a_late_scheduler_still_creates_the_next_run_of_the_sequence(feeds, clock):
    # yesterday's run exists; the scheduler was down at 07:00 and asks at 11:00: today's run is not skipped
    clock(at(5, 11))
    assert next_run(feeds["city_visits"], last=at(4, 7)) == at(5, 7)


def test_a_running_dag_gets_one_run_per_day(feeds, clock):
    clock(at(5, 7, 0))
    runs, last = [], None
    for _ in range(3):
        moment = next_run(feeds["city_visits"], last)
        runs.append(moment)
        clock(moment.add(seconds=3))  # the scheduler creates the run three seconds late
        last = moment
    assert runs == [at(5, 7), at(6, 7), at(7, 7)]


def test_unpausing_after_a_pause_over_runs_resumes_at_the_next_run(feeds, clock):
    # paused after the 1 December run, unpaused on the 5th at 14:00: the 2nd…5th are not run by themselves
    clock(at(5, 14))
    assert next_run(feeds["city_visits"], last=at(1, 7)) == at(6, 7)


def test_catchup_keeps_airflows_behaviour(feeds, clock):
    clock(at(5, 14))
    dag = feeds["city_visits"]
    restriction = TimeRestriction(pendulum.instance(dag.start_date), None, True)
    info = dag.timetable.next_dagrun_info(last_automated_data_interval=DataInterval(at(1, 7), at(1, 7)),
                                          restriction=restriction)
    assert info.run_after.in_tz(HELSINKI) == at(2, 7)
