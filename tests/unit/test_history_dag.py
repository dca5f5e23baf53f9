"""The history DAGs: a month of a feed in batches, mapped over a pool, for Airflow's backfill.

The shape of every ``<feed>_history`` DAG, and one real run of a month (``dag.test()``, in process) over
landed files with a rejected delivery: the batch and the run fail, the others are published in one
warehouse state, and the report names the rejection.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import airflow.sdk
import pytest

import contracts
from orchestration import batch_tasks
from tesoma.feed_config import asset_uri
from tesoma.feed_config import load as feed_runs

HISTORY = Path(__file__).resolve().parents[2] / "dags" / "history.py"
FEEDS = sorted(f for f in feed_runs() if f in contracts.available())


def history_dags() -> dict:
    spec = importlib.util.spec_from_file_location(f"history_under_test_{time.monotonic_ns()}", HISTORY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {v.dag_id: v for v in vars(module).values() if isinstance(v, airflow.sdk.DAG)}


def test_one_history_dag_per_feed_parses_fast():
    history_dags()  # the first parse of a process pays Airflow's own imports, as any DAG file's does
    started = time.monotonic()
    dags = history_dags()
    assert time.monotonic() - started < 0.5
    assert set(dags) == {f"{feed}_history" for feed in FEEDS}


@pytest.mark.parametrize("feed", FEEDS)
def test_a_month_in_batches_mapped_over_the_pool(feed, monkeypatch):
    from airflow.timetables.interval import CronDataIntervalTimetable

    dag = history_dags()[f"{feed}_history"]
    assert [t.task_id for t in dag.topological_sort()] == ["plan", "process_batch", "announce", "report"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable) and dag.timetable._expression == "0 0 1 * *"
    assert dag.catchup is False and dag.is_paused_upon_creation is True
    batch = dag.get_task("process_batch")
    assert batch.is_mapped and batch.op_kwargs_expand_input.value.keys() == {"partitions"}  # over plan's batches
    assert batch.pool == "default_pool"  # no pool configured: one that surely exists
    assert dag.get_task("report").trigger_rule == "all_done"
    assert dag.get_task("report").upstream_task_ids == {"plan", "announce"}
    # announce tells the catalog: an asset per harmonised table of the feed, as the daily DAG's publish
    announce = dag.get_task("announce")
    assert announce.trigger_rule == "all_done" and announce.upstream_task_ids == {"plan", "process_batch"}
    assert sorted(a.uri for a in announce.outlets) == sorted(asset_uri(t) for t in feed_runs()[feed].tables)
    assert [t.task_id for t in dag.tasks if t.outlets] == ["announce"]

    monkeypatch.setenv("TESOMA_BATCH_POOL", batch_tasks.POOL)
    assert history_dags()[f"{feed}_history"].get_task("process_batch").pool == "tesoma_batches"


def test_batch_size_is_configurable(monkeypatch):
    monkeypatch.delenv("TESOMA_BATCH_DATES", raising=False)
    assert batch_tasks.batch_size() == 31  # a whole month in one batch
    monkeypatch.setenv("TESOMA_BATCH_DATES", "3")
    assert batch_tasks.batch_size() == 3
    monkeypatch.setenv("TESOMA_BATCH_DATES", "0")
    with pytest.raises(ValueError, match="TESOMA_BATCH_DATES"):
        batch_tasks.batch_size()


class TaskInstance:
    """What ``report`` asks of its task instance: which run it is in and how many of its tasks failed."""

    dag_id, run_id = "city_access_history", "backfill__2026-10-01"

    def __init__(self, failed: int):
        self.failed = failed

    def get_ti_count(self, **_) -> int:
        return self.failed


def test_a_month_in_batches_publishes_the_good_deliveries_and_fails_on_the_rejected_one(data_root, monkeypatch):
    """city_access, October 2026, through the history DAG's task functions: three dates in batches of two,
    the third date's file broken."""
    from airflow.sdk.exceptions import AirflowFailException

    from synthetic import generate
    from warehouse import states
    from warehouse.ledger import Ledger

    generate(data_root, start=dt.date(2026, 10, 1), days=3, residents=200, seed=5, fault_rate=0.0)
    for other in (data_root / "landing").glob("*/*"):
        if other.name != "city_access":
            shutil.rmtree(other)
    (broken,) = (data_root / "landing" / "city" / "city_access").glob("*20261003*")
    broken.write_bytes(b"nothing like the agreed columns\n")
    monkeypatch.setenv("TESOMA_BATCH_DATES", "2")
    helsinki = ZoneInfo("Europe/Helsinki")
    october = batch_tasks.month_of({"data_interval_start": dt.datetime(2026, 10, 1, tzinfo=helsinki)})
    assert october == dt.date(2026, 10, 1)

    batches = batch_tasks.plan_month("city_access", october)
    assert batches == [["2026-10-01", "2026-10-02"], ["2026-10-03"]]
    # a backfill's range that ends on the 2nd (the run's configuration) plans only the range's dates
    ranged = {"dag_run": type("Run", (), {"conf": {"from": "2026-09-20", "to": "2026-10-02"}})()}
    assert batch_tasks.range_of(ranged) == (dt.date(2026, 9, 20), dt.date(2026, 10, 2))
    assert batch_tasks.plan_month("city_access", october, batch_tasks.range_of(ranged)) == [
        ["2026-10-01", "2026-10-02"]]
    assert batch_tasks.range_of({"dag_run": type("Run", (), {"conf": {}})()}) is None
    before = dt.datetime.now(dt.UTC)
    first = batch_tasks.run_batch("city_access", batches[0])
    with pytest.raises(AirflowFailException, match="1 of 1 delivery.*rejected") as failed:
        batch_tasks.run_batch("city_access", batches[1])

    assert first["counts"]["published"] == 2
    ledger = Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}")
    by_day = {d.delivery_date.day: d for d in ledger.all("city_access")}
    assert {day: d.state for day, d in by_day.items()} == {1: "published", 2: "published", 3: "rejected"}
    assert by_day[3].delivery_id in str(failed.value)
    assert len(states.all_states(ledger.engine)) == 1  # days 1 and 2 were one batch: one state
    # what the run tells the catalog: the published partitions, also those of the batch that failed
    assert batch_tasks.announce("city_access", batches, before) == ["city/2026-10-01", "city/2026-10-02"]
    assert batch_tasks.announce("city_access", batches, dt.datetime.now(dt.UTC)) == []  # a later run's: none
    with pytest.raises(AirflowFailException, match=f"REJECTED {by_day[3].delivery_id}: missing_columns"):
        batch_tasks.report_month("city_access", october, batches, {"ti": TaskInstance(failed=1)})


def test_the_scheduler_makes_no_history_run_but_a_backfill_lists_every_month():
    """Unpausing a history DAG (tesoma backfill must) leaves no run of its own; a backfill gets its months."""
    import datetime as dt

    from airflow.timetables.base import TimeRestriction

    from orchestration.timetable import BackfillOnlyTimetable

    timetable = BackfillOnlyTimetable("0 0 1 * *", timezone="Europe/Helsinki")
    earliest = dt.datetime(2021, 11, 1, tzinfo=dt.UTC)
    assert timetable.next_dagrun_info(last_automated_data_interval=None,
                                      restriction=TimeRestriction(earliest, None, catchup=False)) is None
    restriction = TimeRestriction(dt.datetime(2022, 1, 1, tzinfo=dt.UTC), dt.datetime(2022, 3, 31, tzinfo=dt.UTC),
                                  catchup=True)
    months, info = [], None
    while (info := timetable.next_dagrun_info(last_automated_data_interval=info and info.data_interval,
                                              restriction=restriction)) is not None:
        months.append(info.data_interval.start.astimezone(dt.timezone(dt.timedelta(hours=2))).date())
    assert months == [dt.date(2022, 2, 1), dt.date(2022, 3, 1)]  # the months starting inside the range
    assert BackfillOnlyTimetable.deserialize(timetable.serialize()).serialize() == timetable.serialize()
