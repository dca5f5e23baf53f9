"""The same DAGs scaled out: every feed's history DAG backfilled over the demo month on the
CeleryExecutor (Redis broker, PostgreSQL metadata and ledger) with two workers, against the same deliveries
processed without Airflow.

What it shows: the task instances ran on both workers (their ``hostname`` in the REST API names the
worker, see ``orchestration.stack.worker_hostname``); and the warehouse the workers built is the one the
LocalExecutor's code path builds: per table the same rows (a digest of every row, whatever the files and
commits), and a ledger with the same deliveries (ids, content SHA-256, state, row accounting).

The reference side does not start a second Airflow: ``tesoma.steps.runs.process_range`` (``tesoma run
--from … --to …``: the history DAGs' months and batches in one process, what the LocalExecutor's tasks call)
in a second data root with a copy of the same deliveries and the same pseudonym key, run in a thread while
the Celery stack starts. The Celery side runs ``<feed>_history`` on two workers, its batches' tasks wherever
Celery sends them: the same warehouse must come out.

Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379: skipped when either is down, failed under
CI=true. Creates its own databases (dropped at the end) and uses a Redis database number free at the
start (flushed at start and stop). Prints the time of each phase and the tasks each worker ran.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from orchestration.stack import REDIS, AirflowStack, temporary_database
from tesoma.feeds import carried, connector_for, pipeline
from tests.conftest import TEST_KEY, require_service
from tests.integration.conftest import wait_for
from tests.integration.test_airflow_postgres import Clock
from warehouse.layout import Layout
from warehouse.ledger import Ledger

MONTH = dt.date(2026, 10, 1)  # the demo's first month
DAYS = 31  # the month of every feed (October 2026)
BATCH_DATES = "16"  # two batches of a feed's month: a month spreads over both workers, each batch pays little
RESIDENTS = 300  # small: the test is about where tasks run and what they write, not volume
WORKERS = 2
RUNS_TIMEOUT = 420


@pytest.fixture
def databases():
    """Airflow's metadata database and the pipeline's ledger (with the Iceberg catalog), both new."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    require_service("Redis", *REDIS)
    with temporary_database() as airflow_db, temporary_database(prefix="airflow_it_ledger_") as ledger_db:
        yield airflow_db, ledger_db


def delivery_months(root: Path) -> dict[str, list[dt.date]]:
    """Each feed's months with a delivery in ``root``'s landing/ (October; population: its yearly file of
    1 January): the history runs to backfill."""
    landing = Layout(root).landing
    return {feed: sorted({f.delivery_date.replace(day=1) for f in connector_for(feed).discover_all(landing)})
            for feed in carried()}


def process_without_airflow(root: Path) -> int:
    """Every feed's deliveries in ``root``'s landing/, processed in this process as ``tesoma run --from …
    --to …`` does (the history DAGs' months and batches, without a scheduler); the TESOMA_* variables must
    point at ``root``. Returns the number of deliveries."""
    from tesoma.steps.runs import process_range

    landing = Layout(root).landing
    days = sorted({f.delivery_date for feed in carried() for f in connector_for(feed).discover_all(landing)})
    return process_range(list(carried()), days[0], days[-1]).get("deliveries", 0)


def table_digest(root: Path, table: str, ledger_url: str | None) -> tuple[int, list[str], str]:
    """(rows, columns, digest) of ``table``'s current rows: the digest is the SHA-256 of the sorted SHA-256s
    of the rows (each the JSON of its values by column name), so neither the order of the rows nor the files
    and commits they were written in count — only what an analyst can read."""
    from warehouse.readers import read_table

    rows = read_table(root, table, ledger_url=ledger_url)
    if rows is None:
        return 0, [], hashlib.sha256(b"").hexdigest()
    columns = sorted(rows.column_names)
    digests = sorted(hashlib.sha256(json.dumps(r, sort_keys=True, default=str).encode()).hexdigest()
                     for r in rows.select(columns).to_pylist())
    return rows.num_rows, columns, hashlib.sha256("".join(digests).encode()).hexdigest()


def ledger_view(ledger_url: str) -> set[tuple]:
    """Every delivery of the ledger: id, partner, date, content SHA-256, state and row accounting."""
    ledger = Ledger(ledger_url)
    try:
        return {(d.delivery_id, d.partner, d.delivery_date, d.sha256, d.state, d.rows_read, d.rows_published,
                 d.rows_quarantined) for feed in carried() for d in ledger.all(feed)}
    finally:
        ledger.engine.dispose()


def _task_instances(stack: AirflowStack, dag_id: str) -> list[dict]:
    # Under 100 per DAG here (a run is plan, a few batches and report): one page, Airflow's maximum.
    return stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/~/taskInstances?limit=100")["task_instances"]


@pytest.mark.integration
@pytest.mark.xdist_group("services")
@pytest.mark.timeout(600)
def test_a_month_of_every_feed_on_two_celery_workers_builds_the_local_warehouse(databases, tmp_path, monkeypatch):
    from synthetic import generate

    airflow_db, ledger_db = databases
    clock = Clock()
    root, reference = tmp_path / "celery", tmp_path / "reference"
    generate(root, start=MONTH, days=DAYS, residents=RESIDENTS, seed=15, fault_rate=0.0)
    shutil.copytree(root, reference)  # the same files, so the same delivery ids and content
    months = {feed: m for feed, m in delivery_months(root).items() if m}
    assert set(months) == set(carried()), f"feeds without a delivery: {set(carried()) - set(months)}"
    clock.lap(f"generate {DAYS} days of every feed ({RESIDENTS} residents) and copy them")

    # The reference: this process, its own SQLite ledger and catalog under `reference`, same key.
    monkeypatch.setenv("TESOMA_DATA_ROOT", str(reference))
    monkeypatch.setenv("TESOMA_PSEUDONYM_KEY", TEST_KEY)
    monkeypatch.delenv("TESOMA_LEDGER_URL", raising=False)
    side = ThreadPoolExecutor(max_workers=1)
    began = time.monotonic()
    local = side.submit(lambda: (process_without_airflow(reference), time.monotonic() - began))

    stack = AirflowStack(airflow_db, root, home=tmp_path / "airflow", ledger_url=ledger_db, pseudonym_key=TEST_KEY,
                         executor="CeleryExecutor", celery_workers=WORKERS,
                         extra_env={"TESOMA_BATCH_DATES": BATCH_DATES})
    stack.migrate()
    clock.lap("airflow db migrate (PostgreSQL)")
    try:
        stack.start()
        clock.lap(f"start the components and {WORKERS} Celery workers (Redis db {stack.redis_db}, "
                  f"concurrency {stack.worker_concurrency} each)")
        dag_ids = {feed: f"{feed}_history" for feed in months}
        wait_for("the history DAGs to be parsed", lambda: set(dag_ids.values()) <= {d["dag_id"] for d in stack.dags()},
                  180, stack)
        clock.lap("history DAGs parsed")

        # One backfill per feed, created while the DAGs are paused, over the month(s) its deliveries are in.
        for feed, dag_id in dag_ids.items():
            # A month's run has the logical date of its 1st, 00:00 in Helsinki: half a day either side of it
            # takes that run and no other, whatever the UTC offset.
            first, last = months[feed][0] - dt.timedelta(days=1), months[feed][-1] + dt.timedelta(days=1)
            stack.api("POST", "/api/v2/backfills", {
                "dag_id": dag_id, "from_date": f"{first.isoformat()}T12:00:00Z",
                "to_date": f"{last.isoformat()}T00:00:00Z", "max_active_runs": 4, "reprocess_behavior": "none"})
            stack.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        expected_runs = sum(len(m) for m in months.values())
        unpaused = time.monotonic()
        clock.lap(f"backfills created and DAGs unpaused ({expected_runs} history runs)")

        def finished():
            runs = {d: [r["state"] for r in stack.dag_runs(d, run_type="backfill")] for d in dag_ids.values()}
            done = all(len(s) == len(months[f]) and set(s) <= {"success", "failed"}
                       for f, s in zip(dag_ids, runs.values(), strict=True))
            return runs if done else None

        runs = wait_for("every history run to finish", finished, RUNS_TIMEOUT, stack)
        celery_seconds = time.monotonic() - unpaused
        clock.lap("all history runs finished on Celery")
        failed = {d: s for d, s in runs.items() if set(s) != {"success"}}
        tis = [t for d in dag_ids.values() for t in _task_instances(stack, d)]
        assert not failed, f"history runs not successful: {failed}\n" + "\n".join(
            f"{t['dag_id']}.{t['task_id']}[{t['map_index']}]: {t['state']}" for t in tis if t["state"] != "success")

        ran = [t for t in tis if t["state"] == "success"]
        by_worker = Counter(t["hostname"] for t in ran)
        batches = Counter(t["hostname"] for t in ran if t["task_id"] == "process_batch")
        print(f"  task instances per worker: {dict(by_worker)}; process_batch per worker: {dict(batches)}")
        workers = {h.split("@", 1)[0] for h in by_worker}
        assert workers == set(stack.workers), f"tasks ran on {sorted(by_worker)}, not on each of {stack.workers}"
    finally:
        report = stack.stop()
        clock.lap(f"stop: SIGKILL needed for {report.killed or 'none'}, stragglers {report.stragglers or 'none'}")
        left = stack.leftovers()

    deliveries, local_seconds = local.result(timeout=600)
    side.shutdown()
    clock.lap(f"reference without Airflow finished ({deliveries} deliveries in {local_seconds:.1f} s, "
              "alongside the stack)")
    tables = sorted({t for feed in carried() for t in pipeline(feed).tables})
    on_celery = {t: table_digest(root, t, ledger_db) for t in tables}
    reference_tables = {t: table_digest(reference, t, None) for t in tables}
    for t in tables:
        print(f"  {t:<17} {on_celery[t][0]:>6} rows on Celery, {reference_tables[t][0]:>6} in the reference, "
              f"digest {on_celery[t][2][:12]} / {reference_tables[t][2][:12]}")
    celery_ledger, reference_ledger = ledger_view(ledger_db), ledger_view(f"sqlite:///{reference / 'ledger.sqlite'}")
    clock.lap("warehouses and ledgers compared")
    print("  phases:")
    for name, seconds in clock.phases:
        print(f"    {seconds:7.1f} s  {name}")
    print(f"    {clock.total():7.1f} s  total; {len(celery_ledger)} deliveries, "
          f"{len(celery_ledger) / celery_seconds:.2f}/s from unpause to the last run on Celery")

    assert not report.killed, f"components needed SIGKILL: {report.killed}"
    assert not left, f"processes of the stack still running after stop: {left}"
    assert all(on_celery[t][0] for t in tables), f"empty tables on Celery: {[t for t in tables if not on_celery[t][0]]}"
    assert on_celery == reference_tables, "the warehouses differ: " + ", ".join(
        f"{t} ({on_celery[t][0]} vs {reference_tables[t][0]} rows)" for t in tables
        if on_celery[t] != reference_tables[t])
    assert celery_ledger == reference_ledger, (
        f"the ledgers differ: only on Celery {sorted(d[0] for d in celery_ledger - reference_ledger)}, "
        f"only in the reference {sorted(d[0] for d in reference_ledger - celery_ledger)}")
    assert {d[4] for d in celery_ledger} == {"published"}, Counter(d[4] for d in celery_ledger)
