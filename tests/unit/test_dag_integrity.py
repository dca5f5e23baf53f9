"""Every DAG imports quickly and without errors, has an owner, tags, docs and retries >= 2; the feed DAGs
wait for their delivery, have a deadline alert and publish partitioned assets that start the catalog DAG."""

from __future__ import annotations

import datetime as dt
import importlib.util
import time
from pathlib import Path

import airflow.sdk
import pytest

import contracts
from tesoma.feed_config import asset_uri, canonical_tables, partition_key, published_partitions
from tesoma.feed_config import load as feed_runs

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))


def dags_in(path: Path) -> list:
    spec = importlib.util.spec_from_file_location(f"dag_under_test_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [v for v in vars(module).values() if isinstance(v, airflow.sdk.DAG)]


ALL_DAGS = {d.dag_id: d for path in DAG_FILES for d in dags_in(path)}
FEEDS = sorted(f for f in feed_runs() if f in contracts.available())


def test_every_feed_with_a_contract_has_a_dag():
    expected = set(FEEDS)
    assert expected and expected <= set(ALL_DAGS)
    assert {"retention", "catalog"} <= set(ALL_DAGS)


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_files_import_fast(path):
    started = time.monotonic()
    found = dags_in(path)
    seconds = time.monotonic() - started
    assert found, f"{path.name} defines no DAG"
    # No heavy work at import time: the scheduler parses DAG files continuously.
    assert seconds < 5, f"{path.name} took {seconds:.1f}s to import"


@pytest.mark.parametrize("dag_id", sorted(ALL_DAGS))
def test_dag_is_sound(dag_id):
    dag = ALL_DAGS[dag_id]
    assert dag.tags, "tags say which partner and feed a DAG serves"
    assert dag.doc_md and "fails" in dag.doc_md, "doc_md tells an operator what to do when it fails"
    for task in dag.tasks:
        assert task.owner and task.owner != "airflow", f"{task.task_id}: set an owner"
        assert task.retries >= 2, f"{task.task_id}: retries must be >= 2"


@pytest.mark.parametrize("dag_id", sorted(ALL_DAGS))
def test_dag_serialises_as_the_scheduler_stores_it(dag_id):
    from airflow.serialization.serialized_objects import DagSerialization

    data = DagSerialization.to_dict(ALL_DAGS[dag_id])
    DagSerialization.validate_schema(data)
    again = DagSerialization.from_dict(data)
    assert again.dag_id == dag_id
    assert {t.task_id for t in again.tasks} == set(ALL_DAGS[dag_id].task_ids)
    if dag_id in FEEDS:
        (alert,) = data["dag"]["deadline"]
        assert alert["callback"]["__data__"]["path"] == "orchestration.delivery_sensor.delivery_late"
        assert alert["reference"] == {"reference_type": "DagRunQueuedAtDeadline"}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_does_no_data_work(path):
    """Thin DAG files: no pandas, SQL or parsing; tasks call tesoma.steps."""
    text = path.read_text()
    for forbidden in ("import pandas", "import pyarrow", "import duckdb", "sqlalchemy", "select "):
        assert forbidden not in text.lower(), f"{path.name} contains {forbidden!r}"


# --- feed DAGs: wait → land → ingest → publish ------------------------------------------------------------

@pytest.mark.parametrize("feed", FEEDS)
def test_feed_dag_shape(feed):
    from orchestration.delivery_sensor import DeliverySensor

    dag, run = ALL_DAGS[feed], feed_runs()[feed]
    order = [t.task_id for t in dag.topological_sort()]
    assert "refresh_catalog" not in order and "audit" not in order, "the catalog DAG does those"
    if run.transport == "drop":
        assert order == ["wait_for_delivery", "land", "ingest", "publish", "report"]
        wait = dag.get_task("wait_for_delivery")
        assert isinstance(wait, DeliverySensor) and not wait.upstream_task_ids
        assert (wait.feed, wait.cadence, wait.expect) == (feed, run.cadence, run.expect)
        assert wait.timeout == run.wait_up_to.total_seconds()
        assert wait.poke_interval == run.poll_every.total_seconds()
        assert wait.soft_fail is (run.if_not_delivered == "skip")
        assert dag.get_task("land").upstream_task_ids == {"wait_for_delivery"}
    else:
        assert order == ["land", "ingest", "publish", "report"]
    assert dag.get_task("publish").upstream_task_ids == {"land", "ingest"}
    # a rejected delivery (its ingest failed) does not hold back the others; the report always runs
    assert dag.get_task("publish").trigger_rule == "all_done_min_one_success"
    assert dag.get_task("report").trigger_rule == "all_done"
    assert dag.get_task("report").upstream_task_ids == {"publish"}


@pytest.mark.parametrize("feed", FEEDS)
def test_feed_dag_creates_tasks_for_any_date_its_contract_covers(feed):
    """Airflow creates no tasks for a run dated before the DAG's start_date: that must lie before the
    first date of the feed's contract, so the task that checks the date is what refuses a run."""
    from tesoma.schedule import run_time_for

    dag, run = ALL_DAGS[feed], feed_runs()[feed]
    first = contracts.load(feed).properties["servicePeriodStart"]
    assert dag.start_date < run_time_for(first, run.cadence, run.run_at) - dt.timedelta(days=400)
    assert dag.catchup is False


@pytest.mark.parametrize("feed", FEEDS)
def test_ingest_links_each_delivery_to_its_data_docs_and_quarantine_report(feed):
    from airflow.serialization.serialized_objects import DagSerialization

    data = DagSerialization.to_dict(ALL_DAGS[feed])
    (ingest,) = [t["__var"] for t in data["dag"]["tasks"] if t["__var"]["task_id"] == "ingest"]
    assert set(ingest["_operator_extra_links"]) == {"Data Docs", "Quarantine report"}


@pytest.mark.parametrize("feed", FEEDS)
def test_feed_dag_has_a_deadline_alert(feed):
    from airflow.sdk import AsyncCallback, DeadlineReference

    dag, run = ALL_DAGS[feed], feed_runs()[feed]
    (alert,) = dag.deadline
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert alert.interval == run.late_after > dt.timedelta(0)
    assert isinstance(alert.callback, AsyncCallback)
    assert alert.callback.path == "orchestration.delivery_sensor.delivery_late"
    assert alert.callback.kwargs == {"feed": feed, "cadence": run.cadence}


@pytest.mark.parametrize("feed", FEEDS)
def test_publish_outlets_are_the_feeds_canonical_tables(feed):
    from tesoma.feeds import pipeline

    assert canonical_tables(feed) == pipeline(feed).tables  # read from source == imported
    outlets = ALL_DAGS[feed].get_task("publish").outlets
    assert all(isinstance(o, airflow.sdk.Asset) for o in outlets)
    assert [o.uri for o in outlets] == [asset_uri(t) for t in pipeline(feed).tables]
    for task in ALL_DAGS[feed].tasks:
        if task.task_id != "publish":
            assert not task.outlets


@pytest.mark.parametrize("feed", FEEDS)
def test_feed_doc_describes_wait_deadline_and_catalog(feed):
    doc, run = ALL_DAGS[feed].doc_md, feed_runs()[feed]
    assert "Deadline alert" in doc and "late" in doc
    assert "`catalog` DAG" in doc and "<partner>/<YYYY-MM-DD>" in doc
    assert ("wait_for_delivery" in doc) is (run.transport == "drop")


# --- the catalog DAG --------------------------------------------------------------------------------------

def test_catalog_dag_runs_on_any_published_table():
    from airflow.sdk import AssetAny

    dag = ALL_DAGS["catalog"]
    assert [t.task_id for t in dag.topological_sort()] == ["wait_for_backfills", "refresh_catalog", "audit"]
    waiting = dag.get_task("wait_for_backfills")
    assert waiting.mode == "reschedule", "waiting for a backfill must not hold a worker slot"
    assert waiting.timeout > 20 * 60, "the sensor lets the refresh go itself after at most 20 minutes"
    assert dag.max_active_runs == 1
    timetable = dag.timetable  # a plain asset schedule: tests/unit/test_catalog_keeps_up.py says why
    assert isinstance(timetable.asset_condition, AssetAny)
    scheduled_on = {a.uri for a in timetable.asset_condition.objects}
    published = {o.uri for f in FEEDS for o in ALL_DAGS[f].get_task("publish").outlets}
    assert scheduled_on == published
    assert "refresh_catalog" in dag.doc_md and "audit" in dag.doc_md and "publications" in dag.doc_md


def test_partition_keys_of_published_deliveries(tmp_path):
    from warehouse.ledger import Ledger

    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = Ledger(url)
    ids = []
    for partner, seq in (("city", 1), ("ngo_mll", 1), ("ngo_mll", 2)):
        d, _ = ledger.record_landed(partner=partner, feed="costs", delivery_date=dt.date(2026, 10, 1), sequence=seq,
                                    source_name=f"costs_202610_{seq}.csv", sha256=f"{partner}{seq}" * 8,
                                    raw_path=f"raw/{partner}/{seq}", size_bytes=1,
                                    arrived_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
        ids.append(d.delivery_id)
    results = [{"delivery_id": ids[0], "state": "published"}, {"delivery_id": ids[1], "state": "superseded"},
               {"delivery_id": ids[2], "state": "published"}, {"delivery_id": "x", "state": "rejected"}]
    assert published_partitions(results, url) == ["city/2026-10-01", "ngo_mll/2026-10-01"]
    assert published_partitions([{"delivery_id": "x", "state": "rejected"}], url) == []
    assert partition_key("city", dt.date(2026, 1, 2)) == "city/2026-01-02"
