"""The catalog keeps up with publications: a burst of publishes makes one catalog run (a plain asset schedule,
one run at a time), each run says which publications it covered, and a refresh rebuilds only the views of
the tables that changed."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import duckdb

from tesoma.steps.upkeep import publications_of
from tests.unit.test_audit import DAY, event, publish
from tests.unit.test_dag_integrity import ALL_DAGS, FEEDS


def test_catalog_dag_coalesces_publications_into_one_run_at_a_time():
    """Airflow 3.3 queues a plain asset schedule once per asset, not once per event, and creates no run while
    max_active_runs are active: events of a burst are consumed by one next run. A PartitionedAssetTimetable
    would make one run per partition key."""
    from airflow.sdk import AssetAny, PartitionedAssetTimetable
    from airflow.sdk.definitions.timetables.assets import AssetTriggeredTimetable

    dag = ALL_DAGS["catalog"]
    assert dag.max_active_runs == 1
    assert isinstance(dag.timetable, AssetTriggeredTimetable)
    assert not isinstance(dag.timetable, PartitionedAssetTimetable)
    assert isinstance(dag.timetable.asset_condition, AssetAny)
    scheduled_on = {a.uri for a in dag.timetable.asset_condition.objects}
    assert scheduled_on == {o.uri for f in FEEDS for o in ALL_DAGS[f].get_task("publish").outlets}
    assert "coalesce" in dag.doc_md and "**one** run" in dag.doc_md and "note" in dag.doc_md


def test_a_run_lists_the_publications_of_its_events_once():
    def ev(feed, extra=None, key=None):
        return SimpleNamespace(source_dag_id=feed, extra=extra or {}, partition_key=key)

    events = [ev("city_visits", {"partitions": ["city/2026-10-02", "city/2026-10-01"]}),
              ev("city_visits", {"partitions": ["city/2026-10-01"]}),  # the same publication, another table
              ev("ngo_activity", key="ngo_mll/2026-10-01"), ev("costs")]
    assert publications_of(events) == ["city_visits city/2026-10-01", "city_visits city/2026-10-02",
                                       "ngo_activity ngo_mll/2026-10-01"]
    assert publications_of([]) == []


def test_refresh_rebuilds_only_the_views_of_tables_that_changed(data_root):
    from warehouse import catalog
    from warehouse.layout import Layout

    layout = Layout(data_root)
    publish(data_root, "service_event", "city", DAY, [event("p1"), event("p2", 1)], delivery_id="d1")
    first = catalog.update(layout)
    assert first.state_before is None and first.rebuilt == ["service_event"]

    unchanged = catalog.update(layout)
    assert (unchanged.rebuilt, unchanged.state_before, unchanged.state_after) == ([], first.state_after,
                                                                                  first.state_after)

    population = {"year": 2026, "postal_code": "33100", "age_band": "0-6", "sex": "female", "residents": 10,
                  "delivery_id": "d2"}
    publish(data_root, "population", "city", DAY + dt.timedelta(days=1), [population], delivery_id="d2")
    publish(data_root, "service_event", "city", DAY + dt.timedelta(days=1), [event("p3", 1)], delivery_id="d3")
    publish(data_root, "population", "city", DAY + dt.timedelta(days=2), [population], delivery_id="d4")
    later = catalog.update(layout)
    assert later.rebuilt == ["population", "service_event"] and later.state_before == first.state_after

    publish(data_root, "population", "city", DAY + dt.timedelta(days=3), [population], delivery_id="d5")
    only_population = catalog.update(layout)
    assert only_population.rebuilt == ["population"]

    con = duckdb.connect(str(layout.catalog), read_only=True)
    try:
        assert con.execute("select count(*) from service_event").fetchone() == (3,)
        assert con.execute("select count(*) from population").fetchone() == (3,)
        assert con.execute("select count(*) from person").fetchone() == (3,)
        assert con.execute("select state_id from warehouse_state").fetchone() == (only_population.state_after,)
    finally:
        con.close()
    assert catalog.update(layout, full=True).rebuilt == ["population", "service_event"]
