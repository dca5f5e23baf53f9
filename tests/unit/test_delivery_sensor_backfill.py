"""The delivery sensor does not wait when waiting cannot help: in a backfill, or once the date's window is over.

Then the feed's ``if_not_delivered`` applies at once (``skip``: AirflowSkipException; ``fail``:
AirflowSensorTimeout), exactly as when a deferral times out. The context is what Airflow passes to
``execute``, reduced to what the sensor reads.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk.api.datamodels._generated import DagRunType
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException, TaskDeferred

import orchestration.delivery_sensor as delivery_sensor
from orchestration.delivery_sensor import DeliverySensor
from tesoma.schedule import run_time_for

SUNDAY = dt.date(2026, 10, 4)  # an NGO feed's day without sessions: no delivery
RUN = run_time_for(SUNDAY)  # the scheduled run that processes it (Monday 07:00 Helsinki)
WAIT_UP_TO = dt.timedelta(hours=6)


def ngo_sensor(if_not_delivered: str = "skip") -> DeliverySensor:
    """Set up as dags/feeds.py does for ngo_activity (config/feeds.yaml: wait_up_to 6h, skip)."""
    return DeliverySensor(task_id="wait_for_delivery", feed="ngo_activity", cadence="daily", expect="any",
                          poll_interval=300, timeout=WAIT_UP_TO, soft_fail=if_not_delivered == "skip")


def airflow_context(run_type: DagRunType, day: dt.date = SUNDAY) -> dict:
    run_time = run_time_for(day)
    # CronTriggerTimetable (Airflow 3's default): the data interval is the scheduled moment itself.
    dag_run = SimpleNamespace(run_type=run_type, run_after=run_time, logical_date=run_time)
    return {"dag_run": dag_run, "logical_date": run_time, "data_interval_start": run_time,
            "data_interval_end": run_time}


@pytest.fixture
def clock(monkeypatch):
    """Sets the sensor's "now"; by default the run's scheduled time, when waiting makes sense."""
    def set_now(moment: dt.datetime) -> None:
        monkeypatch.setattr(delivery_sensor, "utcnow", lambda: moment)

    set_now(RUN)
    return set_now


def log_lines(capsys, text: str) -> list[str]:
    """The sensor's log lines containing ``text`` (outside a task runner, Airflow's structlog writes the
    task log to stdout), without structlog's timestamp, level and logger name."""
    return [line.split("] ", 1)[1].rsplit(" [airflow.task", 1)[0]
            for line in capsys.readouterr().out.splitlines() if text in line]


def deliver(root: Path, partner: str = "ngo_mll", day: dt.date = SUNDAY) -> None:
    path = root / "landing" / partner / "ngo_activity" / f"ngo_activity_{day:%Y%m%d}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_the_constant_is_airflows_backfill_run_type():
    from airflow.utils.types import DagRunType as CoreDagRunType

    assert delivery_sensor.BACKFILL == DagRunType.BACKFILL.value == CoreDagRunType.BACKFILL_JOB.value


def test_backfill_without_files_skips_at_once_instead_of_deferring(data_root, clock, capsys):
    deliver(data_root, day=SUNDAY - dt.timedelta(days=1))  # Saturday's file does not count for Sunday

    with pytest.raises(AirflowSkipException) as skipped:
        ngo_sensor("skip").execute(airflow_context(DagRunType.BACKFILL))

    # The same outcome as a deferral that timed out: Airflow's sensor timeout, turned into a skip.
    assert isinstance(skipped.value.__cause__, AirflowSensorTimeout)
    assert log_lines(capsys, "not waiting") == [
        "ngo_activity 2026-10-04: not delivered (partners missing: ngo_mll, ngo_setlementti); "
        "not waiting (backfill run): if_not_delivered applies now: skip"]


def test_backfill_without_files_fails_when_the_feed_says_fail(data_root, clock):
    with pytest.raises(AirflowSensorTimeout):
        ngo_sensor("fail").execute(airflow_context(DagRunType.BACKFILL))


def test_backfill_with_the_files_succeeds(data_root, clock):
    deliver(data_root)

    result = ngo_sensor().execute(airflow_context(DagRunType.BACKFILL))

    assert result["files"] == ["ngo_mll/ngo_activity_20261004.xlsx"]
    assert result["partners_missing"] == ["ngo_setlementti"]  # expect: any


def test_scheduled_run_for_a_recent_date_defers(data_root, clock):
    clock(RUN + dt.timedelta(hours=1))

    with pytest.raises(TaskDeferred) as deferred:
        ngo_sensor().execute(airflow_context(DagRunType.SCHEDULED))

    assert deferred.value.timeout == WAIT_UP_TO
    assert deferred.value.trigger.serialize()[1]["delivery_date"] == "2026-10-04"


def test_a_run_at_the_very_end_of_its_window_still_defers(data_root, clock):
    clock(RUN + WAIT_UP_TO)

    with pytest.raises(TaskDeferred):
        ngo_sensor().execute(airflow_context(DagRunType.MANUAL))


@pytest.mark.parametrize("run_type", [DagRunType.SCHEDULED, DagRunType.MANUAL])
def test_any_run_after_its_window_applies_the_policy_at_once(data_root, clock, capsys, run_type):
    clock(RUN + WAIT_UP_TO + dt.timedelta(seconds=1))

    with pytest.raises(AirflowSkipException):
        ngo_sensor("skip").execute(airflow_context(run_type))
    with pytest.raises(AirflowSensorTimeout):
        ngo_sensor("fail").execute(airflow_context(run_type))

    why = log_lines(capsys, "not waiting")
    assert len(why) == 2 and all("not waiting (its waiting window ended at 2026-10-05T10:00:00+00:00)" in line
                                 for line in why)
    assert why[0].endswith("applies now: skip") and why[1].endswith("applies now: fail")


def test_a_run_without_a_dag_run_in_its_context_still_waits(data_root, clock):
    # dag.test() and older callers may pass only the logical date: not a backfill, window from that date.
    with pytest.raises(TaskDeferred):
        ngo_sensor().execute({"logical_date": RUN})
