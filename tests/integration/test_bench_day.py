"""`tesoma bench day` at its smallest: one day of every feed, from files in landing/ to queryable, through
``airflow standalone`` (the embedded default that ``make airflow`` runs), and a table with every row.

What it shows: the bench prepares a data root of its own (not the caller's), the last day's files appear
only when the clock starts, every delivering feed's run for that date is triggered through the REST API
and succeeds, at least one ``catalog`` run follows, and the catalog answers with rows of every feed's
delivery of that day. The standalone needs no service (SQLite); it shares the machine, hence the group.
"""

from __future__ import annotations

import os

import pytest

from tesoma import benchmarks
from tesoma.cli import parser

RESIDENTS = 300  # the smallest demo that still has a delivery of every daily feed on its second day
DAYS = 2


@pytest.mark.integration
@pytest.mark.xdist_group("services")
@pytest.mark.timeout(300)
def test_bench_day_measures_files_to_queryable_and_prints_every_row(tmp_path, data_root):
    lines: list[str] = []
    figures = benchmarks.day(tmp_path / "bench", residents=RESIDENTS, days=DAYS, fault_rate=0.0,
                             echo=lambda line: (lines.append(line), print(line)))

    measured = figures.values["measured"]
    feeds = set(measured["feed_runs"])
    assert {"city_visits", "city_activity", "city_access", "mehilainen_fhir"} <= feeds
    assert {f: r["state"] for f, r in measured["feed_runs"].items()} == {f: "success" for f in feeds}
    assert measured["catalog_runs"] and all(r["state"] == "success" for r in measured["catalog_runs"])
    assert all(measured["rows"][f] > 0 for f in feeds), measured["rows"]  # the day's rows, queryable
    assert 0 < measured["triggered_s"] < measured["seconds"]
    task_ids = {ti["task_id"] for ti in measured["tasks"]}
    assert {"wait_for_delivery", "land", "ingest", "publish", "refresh_catalog", "audit"} <= task_ids

    table = "\n".join(lines)
    for row in ("prepare: generate, process the earlier days", "airflow standalone up, DAGs unpaused",
                "one day of every feed: files to queryable", f"catalog runs: {len(measured['catalog_runs'])}",
                "all tasks: running (summed)", "feed task ingest", "catalog task refresh_catalog",
                *(f"  {feed} run" for feed in feeds)):
        assert row in table, f"no row {row!r} in the table:\n{table}"
    assert "≤ 60 s" in table

    # its own data root: the caller's is left as it was
    assert os.environ["TESOMA_DATA_ROOT"] == str(data_root)
    assert list(data_root.iterdir()) == []
    assert (tmp_path / "bench" / f"day-{RESIDENTS}r-{DAYS}d-s42" / "data" / "ledger.sqlite").exists()


def test_bench_day_is_a_bench_choice():
    args = parser().parse_args(["bench", "day", "--days", "3", "--residents", "500"])
    assert (args.what, args.days, args.residents) == ("day", 3, 500)
