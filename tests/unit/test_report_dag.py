"""The monthly_report DAG: when it runs, what it waits for, and that it links to the report."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "monthly_report.py"


@pytest.fixture(scope="module")
def dag():
    spec = importlib.util.spec_from_file_location("monthly_report_under_test", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def test_waits_for_the_month_then_publishes(dag):
    assert [t.task_id for t in dag.topological_sort()] == ["wait_for_deliveries", "publish"]
    wait = dag.get_task("wait_for_deliveries")
    assert wait.mode == "reschedule"  # gives its worker slot back while the month is incomplete
    assert dag.max_active_runs == 1 and dag.catchup is False


def test_runs_on_the_5th_at_nine_helsinki_for_the_previous_month(dag):
    from tesoma.schedule import delivery_date_for

    timetable = dag.timetable
    assert timetable.expression == "0 9 5 * *" and str(timetable.timezone) == "Europe/Helsinki"
    run = dt.datetime(2026, 11, 5, 7, 0, tzinfo=dt.UTC)  # 09:00 in Helsinki (EET)
    assert delivery_date_for(run, "monthly") == dt.date(2026, 10, 1)


def test_doc_links_the_latest_report(dag):
    assert "/tesoma/reports/latest" in dag.doc_md and "tesoma report --reproduce" in dag.doc_md


def test_missing_deliveries_are_listed_by_feed_and_partner():
    from scorecard.publication import missing_summary

    found = {"missing": {"city_visits/city": [f"2026-10-{d:02d}" for d in range(3, 12)], "costs/mehilainen":
                         ["2026-10-01"]}}
    lines = missing_summary(found)
    assert lines[0].startswith("city_visits/city: 9 date(s) without a published delivery (2026-10-03, ")
    assert lines[0].endswith(", …)")
    assert lines[1] == "costs/mehilainen: 1 date(s) without a published delivery (2026-10-01)"
