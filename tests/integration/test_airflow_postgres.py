"""Every feed DAG on the production shape of Airflow: scheduler, DAG processor, triggerer and API server
as separate processes on PostgreSQL (LocalExecutor), all feeds backfilled at once, in parallel.

What it shows: the DAGs parse and run outside ``dag.test()``; concurrent runs of different feeds share
the data root, the ledger and the catalog without losing a delivery; the warehouse adds up afterwards;
and stopping the stack leaves no process behind. It prints the time of each phase.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres): skipped when it is down, failed under
CI=true. It creates its own databases (``airflow_it_…``) and drops them at the end.
"""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from orchestration.stack import AirflowStack, temporary_database
from tesoma.feed_config import load as feed_runs
from tesoma.feeds import connector_for, pipeline
from tesoma.schedule import run_time_for
from tests.conftest import TEST_KEY, require_service
from tests.integration.conftest import wait_for
from warehouse.layout import Layout
from warehouse.ledger import Ledger

START = dt.date(2026, 10, 1)  # the demo's first day
DAYS = 3  # daily feeds: three delivery dates each; monthly and yearly feeds: the one period they fall in
RESIDENTS = 500  # small: the test is about orchestration, not volume
RUNS_DONE = {"success", "failed"}
# Imported once in the scheduler and shared by every forked task (AirflowStack.write_preload): about
# 5 s of CPU per task otherwise, which on two cores is most of this test's time.
PRELOAD = ("great_expectations", "tesoma.steps", "orchestration.delivery_sensor")
SETTLE_SECONDS = 10
RUNS_TIMEOUT = 300


def delivery_dates(cadence: str) -> list[dt.date]:
    """The delivery dates the generated data has for a feed of ``cadence``."""
    if cadence == "monthly":
        return [START.replace(day=1)]
    if cadence == "yearly":
        return [dt.date(START.year, 1, 1)]
    return [START + dt.timedelta(days=i) for i in range(DAYS)]


class Clock:
    """Named phase timings, printed as a table at the end (also when the test fails)."""

    def __init__(self):
        self.phases: list[tuple[str, float]] = []
        self._started = self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.phases.append((name, now - self._last))
        print(f"  [{now - self._started:6.1f} s] {name}: {now - self._last:.1f} s", flush=True)
        self._last = now

    def total(self) -> float:
        return time.monotonic() - self._started


@pytest.fixture
def databases():
    """Two fresh databases: Airflow's metadata and the pipeline's ledger (as in production, both on
    PostgreSQL, apart)."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    with temporary_database() as airflow_db, temporary_database(prefix="airflow_it_ledger_") as ledger_db:
        yield airflow_db, ledger_db


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_all_feeds_backfilled_in_parallel_on_postgres(databases, tmp_path):
    from synthetic import generate

    airflow_db, ledger_db = databases
    clock = Clock()
    root = tmp_path / "data"
    generate(root, start=START, days=DAYS, residents=RESIDENTS, seed=11, fault_rate=0.0)
    clock.lap(f"generate {DAYS} days of demo data ({RESIDENTS} residents)")

    runs = {feed: run for feed, run in feed_runs().items() if feed in set(_carried())}
    # Every backfilled date must have a delivery: a drop feed's first task waits (deferred, for hours)
    # for a delivery that is missing, which would stall this test rather than fail it.
    missing = [(f, d) for f, run in runs.items() for d in delivery_dates(run.cadence)
               if not connector_for(f).discover_all(Layout(root).landing, d)]
    assert not missing, f"the generated data has no delivery for {missing}: choose other dates"
    stack = AirflowStack(airflow_db, root, home=tmp_path / "airflow", ledger_url=ledger_db, pseudonym_key=TEST_KEY,
                         preload=PRELOAD)
    stack.migrate()
    clock.lap("airflow db migrate (PostgreSQL)")
    try:
        stack.start()
        clock.lap("start scheduler, dag-processor, triggerer, api-server until healthy")

        # The DAG processor parses dags/ asynchronously; wait until every feed has its DAG.
        def parsed():
            dag_ids = {d["dag_id"] for d in stack.dags()}
            return dag_ids if set(runs) <= dag_ids else None

        dags = wait_for("the feed DAGs to be parsed", parsed, 120, stack)
        downstream = sorted(d for d in dags if d not in runs and _scheduled_on_assets(stack, d))
        clock.lap(f"DAGs parsed: {len(runs)} feeds, downstream on assets: {downstream or 'none'}")

        # Backfills are created while the DAGs are still paused: unpausing a DAG with catchup=False makes
        # the scheduler create its latest scheduled run, which for the monthly and yearly feeds is the
        # very date backfilled here; created first, the backfill run is the one that exists.
        windows = {feed: [run_time_for(d, run.cadence, run.run_at) for d in delivery_dates(run.cadence)]
                   for feed, run in runs.items()}

        def backfill(feed: str) -> str:
            first, last = windows[feed][0], windows[feed][-1]
            return stack.airflow("backfill", "create", "--dag-id", feed, "--from-date", first.isoformat(),
                                 "--to-date", last.isoformat(), "--max-active-runs", str(len(windows[feed])),
                                 "--reprocess-behavior", "completed").stdout

        with ThreadPoolExecutor(max_workers=len(runs)) as pool:
            list(pool.map(backfill, runs))
        clock.lap(f"`airflow backfill create` for {len(runs)} DAGs at once "
                  f"({sum(map(len, windows.values()))} runs)")

        for dag_id in [*runs, *downstream]:
            stack.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        clock.lap("unpause feeds and downstream DAGs")

        def backfill_runs_done():
            states = {feed: [r["state"] for r in stack.dag_runs(feed, run_type="backfill")] for feed in runs}
            finished = all(len(s) == len(windows[f]) and set(s) <= RUNS_DONE for f, s in states.items())
            return states if finished else None

        states = wait_for("every backfill run to finish", backfill_runs_done, RUNS_TIMEOUT, stack)
        clock.lap("all backfill runs finished")
        failed = {f: s for f, s in states.items() if set(s) != {"success"}}
        assert not failed, f"backfill runs not successful: {failed}\n{_failed_tasks(stack, failed)}"

        # Downstream DAGs run on the feeds' asset events; wait until they have run and are quiet.
        seen: list = []
        down_states = wait_for("the downstream DAGs to settle", lambda: _settled(stack, downstream, seen),
                                RUNS_TIMEOUT, stack) if downstream else {}
        if downstream:
            clock.lap(f"downstream DAG runs finished and quiet for {SETTLE_SECONDS} s: "
                      f"{ {d: len(s) for d, s in down_states.items()} } runs")
            assert all(s and set(s) == {"success"} for s in down_states.values()), down_states

        # Unpausing also started each daily feed's latest scheduled run (today: no delivery); it is
        # reported, not asserted: how a missing delivery should end is the feed DAG's business.
        scheduled = {f: [r["state"] for r in stack.dag_runs(f, run_type="scheduled")] for f in runs}
        print(f"  scheduled runs created on unpause: { {f: s for f, s in scheduled.items() if s} }")
        retried = _retried_tasks(stack, [*runs, *downstream])
        print(f"  task instances that needed a retry: {retried or 'none'}")

        _check_warehouse(root, ledger_db, runs)
        clock.lap("warehouse checks (ledger, partitions, DuckDB)")
    finally:
        report = stack.stop()
        clock.lap(f"stop: SIGKILL needed for {report.killed or 'none'}, stragglers {report.stragglers or 'none'}")
        left = stack.leftovers()
        print("  phases:")
        for name, seconds in clock.phases:
            print(f"    {seconds:7.1f} s  {name}")
        print(f"    {clock.total():7.1f} s  total")
    assert not report.killed, f"components needed SIGKILL: {report.killed}"
    assert not left, f"processes of the stack still running after stop: {left}"


def _carried() -> list[str]:
    from tesoma.feeds import carried

    return carried()


def _scheduled_on_assets(stack: AirflowStack, dag_id: str) -> bool:
    """Whether a DAG is scheduled on assets (a downstream DAG of the feeds), from its details."""
    details = stack.api("GET", f"/api/v2/dags/{dag_id}/details")
    return bool(details.get("asset_expression"))


def _settled(stack: AirflowStack, dag_ids: list[str], seen: list) -> dict | None:
    """States of the DAGs' runs once each has a run, none is queued or running, and nothing changed for
    SETTLE_SECONDS (the scheduler may still be turning the last asset events into runs)."""
    states = {d: sorted((r["dag_run_id"], r["state"]) for r in stack.dag_runs(d)) for d in dag_ids}
    if not seen or seen[-1][1] != states:
        seen.append((time.monotonic(), states))
    done = all(runs and {state for _, state in runs} <= RUNS_DONE for runs in states.values())
    if done and time.monotonic() - seen[-1][0] >= SETTLE_SECONDS:
        return {d: [state for _, state in runs] for d, runs in states.items()}
    return None


def _task_instances(stack: AirflowStack, dag_id: str) -> list[dict]:
    return stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances?limit=1000")["task_instances"]


def _retried_tasks(stack: AirflowStack, dag_ids) -> list[str]:
    return [f"{t['dag_id']}.{t['task_id']}[{t['map_index']}] {t['dag_run_id']} try {t['try_number']}"
            for d in dag_ids for t in _task_instances(stack, d) if (t.get("try_number") or 0) > 1]


def _failed_tasks(stack: AirflowStack, dag_ids) -> str:
    return "\n".join(f"{t['dag_id']}.{t['task_id']}[{t['map_index']}] {t['dag_run_id']}: {t['state']}"
                     for d in dag_ids for t in _task_instances(stack, d) if t["state"] not in ("success", "skipped"))


def _check_warehouse(root, ledger_url: str, runs: dict) -> None:
    """The ledger has each feed's deliveries published with whole accounting; their partitions are in the
    warehouse's current state; the DuckDB catalog counts exactly the rows of that state."""
    import warehouse
    from warehouse.readers import read_table

    all_tables = sorted({t for feed in runs for t in pipeline(feed).tables})
    rows = {t: read_table(root, t, ledger_url=ledger_url) for t in all_tables}
    partitions = {t: set() if r is None else set(zip(r["partner"].to_pylist(), r["delivery_date"].to_pylist(),
                                                     strict=True))
                  for t, r in rows.items()}
    ledger = Ledger(ledger_url)
    try:
        for feed, run in runs.items():
            deliveries = ledger.all(feed)
            published = [d for d in deliveries if d.state == "published"]
            dates = {d.delivery_date for d in published}
            assert dates == set(delivery_dates(run.cadence)), (
                f"{feed}: published dates {sorted(dates)}; ledger: {[(d.delivery_id, d.state) for d in deliveries]}")
            tables = pipeline(feed).tables
            for d in published:
                assert d.rows_read == d.rows_published + d.rows_quarantined, d
                if d.rows_published:
                    assert any((d.partner, d.delivery_date) in partitions[t] for t in tables), (
                        f"{d.delivery_id}: no partition in {tables}")
            print(f"  {feed:<17} {len(published)} published: read {sum(d.rows_read for d in published)}, "
                  f"published {sum(d.rows_published for d in published)}, "
                  f"quarantined {sum(d.rows_quarantined for d in published)}")
    finally:
        ledger.engine.dispose()
    con = warehouse.connect(root)
    try:
        for table in all_tables:
            in_state = 0 if rows[table] is None else rows[table].num_rows
            in_catalog = con.execute(f"select count(*) from {table}").fetchone()[0]  # table names are our own
            print(f"  {table:<17} {len(partitions[table])} partitions, {in_catalog} rows in the catalog")
            assert in_catalog == in_state, f"{table}: catalog {in_catalog} rows, warehouse state {in_state}"
        assert con.execute("select count(*) from service_event").fetchone()[0] > 0
    finally:
        con.close()
