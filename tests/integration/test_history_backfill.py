"""History through Airflow in batches: ``tesoma backfill`` over two months of a small county, before the
contracts' service period (``TESOMA_HISTORY_FROM``), through the ``<feed>_history`` DAGs on a real stack
(scheduler, DAG processor, triggerer, API server on PostgreSQL, LocalExecutor).

What it shows: every delivery in landing/ gets its own ledger row; the batches publish with fewer
warehouse states than deliveries; a broken delivery is rejected with its reason in the run's note and the
command's summary; the ``catalog`` DAG runs after (asset events of the history runs' ``announce``); and
running the same command again creates no run and changes nothing. It prints its figures: deliveries per
second, the mean duration of the tasks that do almost nothing (per-task overhead), states per delivery.

Needs PostgreSQL on 127.0.0.1:5432 (skipped when it is down, failed under CI=true); creates its own
databases and drops them.
"""

from __future__ import annotations

import datetime as dt
import io
import statistics
import time

import pytest

from orchestration.stack import AirflowStack
from tesoma import backfill
from tesoma.feed_config import HISTORY_FROM
from tests.conftest import TEST_KEY
from tests.integration.conftest import wait_for
from tests.integration.test_airflow_postgres import PRELOAD, databases  # noqa: F401  (a fixture)
from warehouse import states
from warehouse.ledger import Ledger

FEEDS = ("city_visits", "costs")  # a daily feed and a monthly one (four partners)
# A week across two months, before every contract's servicePeriodStart: city_visits' history runs of January
# and February each process part of their month (one batch of up to 4 dates), costs' of February its 1st.
FIRST, LAST = dt.date(2022, 1, 28), dt.date(2022, 2, 3)
RUNS = {"city_visits": 2, "costs": 1}
RESIDENTS = 1500
BROKEN = "city_visits_20220130.csv"


def _landed_files(root, feed: str, first: dt.date, last: dt.date) -> int:
    """The feed's deliveries of those dates in landing/ (corrections included)."""
    from tesoma.feeds import connector_for

    return sum(1 for f in connector_for(feed).discover_all(root / "landing") if first <= f.delivery_date <= last)


@pytest.mark.integration
@pytest.mark.xdist_group("services")
@pytest.mark.timeout(360)
def test_two_months_of_history_go_through_the_history_dags_in_batches(databases, tmp_path,  # noqa: F811
                                                                     monkeypatch):
    from synthetic.county_deliveries import generate_county_deliveries

    airflow_db, ledger_db = databases
    root = tmp_path / "data"
    generate_county_deliveries(root, residents=RESIDENTS, months=2, last_month=dt.date(2022, 2, 1))
    (root / "landing" / "city" / "city_visits" / BROKEN).write_bytes(b"this is not the agreed export\n")
    files = {feed: _landed_files(root, feed, FIRST, LAST) for feed in FEEDS}
    # The command and the tasks read the same data root and ledger, and both load history from before the
    # contracts' service period.
    monkeypatch.setenv("TESOMA_DATA_ROOT", str(root))
    monkeypatch.setenv("TESOMA_LEDGER_URL", ledger_db)
    monkeypatch.setenv(HISTORY_FROM, "2021-11-01")
    stack = AirflowStack(airflow_db, root, home=tmp_path / "airflow", ledger_url=ledger_db, pseudonym_key=TEST_KEY,
                         preload=PRELOAD, extra_env={HISTORY_FROM: "2021-11-01", "TESOMA_BATCH_DATES": "4",
                                                   "TESOMA_CATALOG_POKE_SECONDS": "3"})
    try:
        stack.migrate()
        stack.start()
        wanted = {f"{feed}_history" for feed in FEEDS} | {"catalog"}
        wait_for("history DAGs parsed", lambda: wanted <= {d["dag_id"] for d in stack.dags()}, 120, stack)
        stack.api("PATCH", "/api/v2/dags/catalog", {"is_paused": False})

        out = io.StringIO()
        began = time.monotonic()
        status, summary = backfill.run(list(FEEDS), FIRST, LAST, url=stack.url, poll=2, out=out, tty=False, every=0,
                                       history=True)
        seconds = time.monotonic() - began
        print(out.getvalue())
        assert "through the history DAGs" in out.getvalue()
        assert "in part: 2022-01 from the 28., 2022-02 to the 3." in out.getvalue()  # the range rides along
        assert status == 0, out.getvalue()  # the failed run is explained by its rejected delivery

        # Every delivery has its own ledger row; the broken one is rejected, with its reason.
        ledger = Ledger(ledger_db)
        try:
            rows = {feed: [d for d in ledger.all(feed) if FIRST <= d.delivery_date <= LAST] for feed in FEEDS}
            state_count = len(states.all_states(ledger.engine))
            head = states.head(ledger.engine).state_id
        finally:
            ledger.engine.dispose()
        assert {feed: len(r) for feed, r in rows.items()} == files
        deliveries = sum(files.values())
        # the file broken here, and any the generator's usual faults made (a Sunday's 6 visits, 2 invalid)
        rejections = [d for d in rows["city_visits"] if d.state == "rejected"]
        (rejected,) = [d for d in rejections if d.source_name == BROKEN]
        assert rejected.reason.startswith("missing_columns")
        assert summary.rejected == [(d.delivery_id, " ".join(d.reason.split())) for d in rejections]
        assert {d.state for r in rows.values() for d in r} <= {"published", "superseded", "rejected"}
        assert summary.published == sum(d.state == "published" for r in rows.values() for d in r)
        # one warehouse state per batch (3: January and February of city_visits, February of costs)
        assert state_count <= 3 < deliveries, f"{state_count} warehouse states for {deliveries} deliveries"

        # One run per feed and month; January of city_visits failed and its note names the rejection.
        runs = {feed: stack.dag_runs(f"{feed}_history", run_type="backfill") for feed in FEEDS}
        assert {feed: len(r) for feed, r in runs.items()} == RUNS
        (failed,) = [r for r in runs["city_visits"] if r["state"] == "failed"]
        assert failed["logical_date"].startswith("2021-12-31T22:00:00")  # January, Helsinki time
        assert f"REJECTED {rejected.delivery_id}" in (failed.get("note") or "")
        assert all(r["state"] == "success" for feed in FEEDS for r in runs[feed] if r is not failed)

        # The history runs' asset events started the catalog, which coalesced them.
        catalog = wait_for("a finished catalog run after the backfill",
                        lambda: [r for r in stack.dag_runs("catalog") if r["state"] in ("success", "failed")]
                        and all(r["state"] in ("success", "failed") for r in stack.dag_runs("catalog"))
                        and stack.dag_runs("catalog"), 180, stack)
        assert {r["state"] for r in catalog} == {"success"}
        assert len(catalog) < sum(len(r) for r in runs.values()), "the catalog did not coalesce the events"
        # ... and held its refresh until the backfill had ended: the burst is refreshed after, not during it.
        ended = max(dt.datetime.fromisoformat(r["end_date"]) for feed in FEEDS for r in runs[feed])
        refreshes = stack.api("GET", "/api/v2/dags/catalog/dagRuns/~/taskInstances?task_id=refresh_catalog")
        started = [dt.datetime.fromisoformat(t["start_date"]) for t in refreshes["task_instances"]]
        assert started and min(started) >= ended, f"a refresh began at {min(started)}, the backfill ended {ended}"
        first_run = min(dt.datetime.fromisoformat(r["start_date"]) for r in catalog)
        print(f"  catalog: first run began {(ended - first_run).total_seconds():.1f} s before the backfill ended; "
              f"its refresh {(min(started) - ended).total_seconds():.1f} s after it")

        # Figures: per-task overhead from the tasks that do almost nothing (plan, announce, report).
        light = []  # (the scheduled run unpausing made does nothing: its plan counts too)
        for feed in FEEDS:
            for task_id in ("plan", "announce", "report"):
                found = stack.api("GET", f"/api/v2/dags/{feed}_history/dagRuns/~/taskInstances?task_id={task_id}")
                light += [t["duration"] for t in found["task_instances"] if t.get("duration") is not None]
        batches = stack.api("GET", "/api/v2/dags/city_visits_history/dagRuns/~/taskInstances?task_id=process_batch")
        print(f"  figures: {deliveries} deliveries in {seconds:.1f} s = {deliveries / seconds:.2f} deliveries/s; "
              f"{len(batches['task_instances'])} city_visits batches; light tasks {statistics.mean(light):.2f} s "
              f"mean ({len(light)} tasks); {state_count} warehouse states = {state_count / deliveries:.2f} per "
              f"delivery; {len(catalog)} catalog run(s) for {sum(len(r) for r in runs.values())} history runs")

        # Running the same command again: nothing to do, nothing changed.
        again = io.StringIO()
        status, second = backfill.run(list(FEEDS), FIRST, LAST, url=stack.url, poll=2, out=again, tty=False,
                                      history=True)
        print(again.getvalue())
        assert status == 0 and "nothing to do: every date already ran" in again.getvalue()
        assert {feed: len(stack.dag_runs(f"{feed}_history", run_type="backfill")) for feed in FEEDS} == RUNS
        ledger = Ledger(ledger_db)
        try:
            assert states.head(ledger.engine).state_id == head
            assert {feed: [(d.delivery_id, d.state) for d in ledger.all(feed)
                           if FIRST <= d.delivery_date <= LAST] for feed in FEEDS} == {
                feed: [(d.delivery_id, d.state) for d in r] for feed, r in rows.items()}
        finally:
            ledger.engine.dispose()
        assert (second.published, second.rejected) == (summary.published, summary.rejected)
    finally:
        report = stack.stop()
    assert not report.killed, f"components needed SIGKILL: {report.killed}"
    stack.cleanup()
