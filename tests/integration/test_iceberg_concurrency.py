"""Parallel writers never lose a commit, on the embedded SQLite catalog and ledger and on PostgreSQL.

- Publishes of different deliveries (feeds, partners, dates) at once: the warehouse lock lets one in
  at a time, and every delivery ends up published, in the head state and in its tables' histories.
- Writers bypassing the lock (``warehouse.commits.replace_partition`` straight on one table): pyiceberg
  retries a conflicting commit on fresh metadata, so every partition is kept.
- A commit that still conflicts after the retries fails the publish with an error naming the table and
  what to do, and nothing of the delivery is visible.

The writers are separate processes started together. They come from a fork server that has imported
tesoma and pyiceberg once (a fresh interpreter, not a fork of pytest): starting each from scratch would
cost seconds of imports per process.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
import shutil
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from synthetic import generate
from tesoma import steps
from tesoma.config import settings
from tesoma.feeds import pipeline
from warehouse import commits, iceberg, states
from warehouse.layout import Layout
from warehouse.ledger import Ledger, deliveries
from warehouse.publish import write_parquet
from warehouse.readers import read_table

pytestmark = pytest.mark.integration

DAY1, DAY2 = dt.date(2026, 10, 1), dt.date(2026, 10, 2)
PARALLEL = [("city_visits", DAY1), ("city_visits", DAY2), ("mehilainen_fhir", DAY1), ("city_activity", DAY1),
            ("ngo_activity", DAY1)]
"""Six deliveries (ngo_activity has two partners): three writers each of service_event, event_diagnosis
and activity_count."""

ICEBERG_ENV = ("TESOMA_LEDGER_URL", "TESOMA_ICEBERG_CATALOG_URL", "TESOMA_ICEBERG_WAREHOUSE")
TEST_KEY = "test-key-" + "0123456789abcdef" * 3  # as tests.conftest; not imported, the workers import this module


# --- processes started together ------------------------------------------------------------------------------


WRITERS_IMPORT = [__name__, "pyiceberg.catalog.sql", "pyiceberg.io.pyarrow", "pyiceberg.table"]
"""What the fork server imports once for every writer: this module (tesoma, the warehouse) and the parts of
pyiceberg the warehouse imports only when it first commits (2 s of CPU time in every process otherwise)."""


def _fork_server():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WRITERS_IMPORT)  # takes effect when the fork server starts (once a session)
    return context


def run_together(target: Callable, jobs: list[tuple], timeout: float = 120) -> list:
    """Run ``target(together, *job)`` in one process per job; ``together()`` returns once every process
    has called it, so the contended part starts at once. Returns each job's result; raises on an error."""
    context = _fork_server()
    processes, pipes = [], []
    try:
        for job in jobs:
            ours, theirs = context.Pipe()
            process = context.Process(target=_worker, args=(dict(os.environ), target, job, theirs), daemon=True)
            process.start()
            theirs.close()
            processes.append(process)
            pipes.append(ours)
        for pipe in pipes:
            assert pipe.poll(timeout) and pipe.recv() == "ready", "a writer did not get ready"
        for pipe in pipes:
            pipe.send("go")
        outcomes = []
        for job, pipe in zip(jobs, pipes, strict=True):
            assert pipe.poll(timeout), f"{job}: no answer in {timeout} s"
            outcomes.append(pipe.recv())
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()
    failed = [f"{job}:\n{detail}" for job, (ok, detail) in zip(jobs, outcomes, strict=True) if not ok]
    assert not failed, "\n".join(failed)
    return [detail for _ok, detail in outcomes]


def _worker(env: dict[str, str], target: Callable, job: tuple, pipe) -> None:
    os.environ.clear()
    os.environ.update(env)  # the fork server's environment is the one of the test that started it

    def together() -> None:
        pipe.send("ready")
        pipe.recv()

    try:
        pipe.send((True, target(together, *job)))
    except BaseException:
        pipe.send((False, traceback.format_exc()))


def publish_delivery(together: Callable, delivery_id: str) -> dict:
    together()
    return steps.publish(delivery_id)


def commit_partition(together: Callable, place: iceberg.Place, change: commits.PartitionChange,
                     base_snapshot_id: int | None) -> tuple:
    """``replace_partition`` bypassing the lock; every writer commits only after all have read the table,
    so all but the first must retry. (snapshot id, number of retries)."""
    lean_transaction = commits.lean_transaction

    def after_every_writer_has_read(tbl):
        together()
        return lean_transaction(tbl)

    commits.lean_transaction = after_every_writer_has_read
    retries = _Retries()
    logging.getLogger("pyiceberg.table").addHandler(retries)
    snapshot_id = commits.replace_partition(iceberg.open_catalog(place), change, base_snapshot_id)
    return snapshot_id, retries.count


class _Retries(logging.Handler):
    """Counts pyiceberg's "Commit failed due to a concurrent update, retrying" warnings."""

    count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "retrying" in record.getMessage()


# --- where the writers write: SQLite under the data root, or fresh PostgreSQL databases ----------------------


@pytest.fixture
def fresh_postgres_database(request) -> Callable[[str], str]:
    """Creates PostgreSQL databases (dropped after the test); the URL of each."""
    server = request.getfixturevalue("postgres_url")  # skips when PostgreSQL is down (fails under CI)
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    created = []

    def create(purpose: str) -> str:
        name = f"tesoma_test_{purpose}_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return server.rsplit("/", 1)[0] + "/" + name

    yield create
    with admin.connect() as conn:
        for name in created:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> Path:
    """A data root with the PARALLEL deliveries landed and staged, nothing published (so no Iceberg table
    holds this folder's absolute paths and a copy is a data root of its own)."""
    root = tmp_path_factory.mktemp("staged") / "data"
    generate(root, start=DAY1, days=2, residents=300, seed=7, fault_rate=0.0)
    with pytest.MonkeyPatch.context() as env:
        _point_at(env, root)
        for feed, day in PARALLEL:
            for delivery_id in steps.land(feed, day):
                assert steps.ingest(delivery_id)["state"] == "staged", delivery_id
    return root


def _point_at(env: pytest.MonkeyPatch, root: Path) -> None:
    env.setenv("TESOMA_DATA_ROOT", str(root))
    env.setenv("TESOMA_PSEUDONYM_KEY", TEST_KEY)
    for name in ICEBERG_ENV:
        env.delenv(name, raising=False)


@pytest.fixture
def root(staged, data_root, database, monkeypatch, request) -> Path:
    """A copy of the staged data root; on PostgreSQL its catalog and ledger in fresh databases."""
    shutil.copytree(staged, data_root, dirs_exist_ok=True, copy_function=shutil.copy2)
    _point_at(monkeypatch, data_root)
    if database == "postgresql":
        create = request.getfixturevalue("fresh_postgres_database")
        monkeypatch.setenv("TESOMA_ICEBERG_CATALOG_URL", create("catalog"))
        monkeypatch.setenv("TESOMA_LEDGER_URL", create("ledger"))
        _copy_deliveries(f"sqlite:///{data_root / 'ledger.sqlite'}", settings().ledger_url)
        (data_root / "ledger.sqlite").unlink()
    return data_root


def _copy_deliveries(source: str, target: str) -> None:
    Ledger(target)  # creates the tables
    source_engine, target_engine = sa.create_engine(source), sa.create_engine(target)
    with source_engine.connect() as read, target_engine.begin() as write:
        write.execute(deliveries.insert(), [dict(r) for r in read.execute(sa.select(deliveries)).mappings()])
    source_engine.dispose()
    target_engine.dispose()


def ledger_engine() -> sa.Engine:
    return Ledger(settings().ledger_url).engine


def table_history(table: str) -> list:
    """Every snapshot of an Iceberg table, oldest first."""
    place = iceberg.Place.for_root(Path(os.environ["TESOMA_DATA_ROOT"]))
    return sorted(iceberg.load_table(iceberg.open_catalog(place), table).snapshots(), key=lambda s: s.sequence_number)


def delivery_of(snapshot) -> str | None:
    return snapshot.summary.additional_properties.get("tesoma.delivery-id")


# --- the tests -----------------------------------------------------------------------------------------------


def test_parallel_publishes_keep_every_delivery(root):
    ledger = Ledger(settings().ledger_url)
    staged_deliveries = ledger.all()
    assert len(staged_deliveries) == 6 and {d.state for d in staged_deliveries} == {"staged"}

    results = run_together(publish_delivery, [(d.delivery_id,) for d in staged_deliveries])

    assert [r["state"] for r in results] == ["published"] * 6
    assert {d.delivery_id: d.state for d in ledger.all()} == {d.delivery_id: "published" for d in staged_deliveries}
    # One state per publish, in the order the lock let them in; the head holds every table.
    all_states = states.all_states(ledger_engine())
    assert sorted(r["warehouse_state"] for r in results) == [s.state_id for s in all_states] == list(range(1, 7))
    assert sorted(s.delivery_id for s in all_states) == sorted(d.delivery_id for d in staged_deliveries)
    head = all_states[-1]
    writers: dict[str, list[str]] = {}
    for d in staged_deliveries:
        for table in pipeline(d.feed).tables:
            rows_staged = pq.read_metadata(Layout(root).staging_file(table, d.delivery_id)).num_rows
            published = read_table(root, table, partner=d.partner, delivery_date=d.delivery_date)
            assert published is not None and published.num_rows == rows_staged > 0, (table, d.delivery_id)
            assert set(published["delivery_id"].to_pylist()) == {d.delivery_id}
            writers.setdefault(table, []).append(d.delivery_id)
    assert sorted(head.snapshots) == sorted(writers) == ["activity_count", "event_diagnosis", "service_event"]
    # Each table: one snapshot per delivery that wrote it, one after the other (no commit lost or undone).
    for table, delivery_ids in writers.items():
        history = table_history(table)
        assert Counter(delivery_of(s) for s in history) == Counter(delivery_ids), table
        assert [s.parent_snapshot_id for s in history] == [None] + [s.snapshot_id for s in history[:-1]], table
        assert head.snapshots[table] == history[-1].snapshot_id


def access_rows(partner: str, t3_days: list[float], delivery_id: str) -> pa.Table:
    """A staged access_t3 partition: one row per T3 value, for 2026-10-01."""
    n = len(t3_days)
    data = pa.table({"partner": [partner] * n, "measure_date": pa.array([DAY1] * n, pa.date32()),
                     "unit_code": [f"U{i}" for i in range(n)], "professional_group": ["physician"] * n,
                     "professional_group_source": ["LAAK"] * n, "t3_days": t3_days,
                     "delivery_id": [delivery_id] * n})
    return iceberg.with_partition_columns("access_t3", data, partner, DAY1)


def partition_change(folder: Path, partner: str, t3_days: list[float], delivery_id: str) -> commits.PartitionChange:
    staged = folder / f"{delivery_id}.parquet"
    write_parquet(access_rows(partner, t3_days, delivery_id), staged)
    return commits.PartitionChange("access_t3", partner, DAY1, staged, delivery_id, "0" * 64)


@pytest.fixture
def place(database, tmp_path, request) -> iceberg.Place:
    """An Iceberg catalog (SQLite file or a fresh PostgreSQL database) with an empty access_t3 table."""
    url = (f"sqlite:///{tmp_path / 'catalog.sqlite'}" if database == "sqlite"
           else request.getfixturevalue("fresh_postgres_database")("catalog"))
    place = iceberg.Place(url, (tmp_path / "iceberg").as_uri(), "sqlite://")
    iceberg.load_table(iceberg.open_catalog(place), "access_t3", create=True)
    return place


@pytest.mark.parametrize("kind", ["new partitions", "corrections"])
def test_conflicting_commits_without_the_lock_are_retried_and_all_kept(place, tmp_path, kind):
    """Four writers commit to four partitions of one table at once, each on top of the same view of it:
    the empty table (new partitions), or the table holding a first delivery of each (corrections)."""
    partners = {"p1": [1.0], "p2": [2.0, 2.5], "p3": [3.0], "p4": [4.0, 4.5, 4.75]}
    catalog = iceberg.open_catalog(place)
    base, first = None, []
    if kind == "corrections":
        for partner in partners:
            change = partition_change(tmp_path, partner, [0.5], f"d1-{partner}")
            base = commits.replace_partition(catalog, change, base)
            first.append(change.delivery_id)
    changes = [partition_change(tmp_path, partner, values, f"d2-{partner}") for partner, values in partners.items()]

    results = run_together(commit_partition, [(place, change, base) for change in changes])

    assert sum(retries for _snapshot, retries in results) >= len(changes) - 1  # they did conflict
    tbl = iceberg.load_table(iceberg.open_catalog(place), "access_t3")
    assert tbl.current_snapshot().snapshot_id in {snapshot for snapshot, _retries in results}
    rows = tbl.scan().to_arrow()
    got = sorted(zip(rows["partner"].to_pylist(), rows["t3_days"].to_pylist(), rows["delivery_id"].to_pylist(),
                     strict=True))
    assert got == sorted((p, v, f"d2-{p}") for p, values in partners.items() for v in values)
    assert sorted(delivery_of(s) for s in tbl.snapshots()) == sorted(first + [c.delivery_id for c in changes])


def test_a_commit_conflicting_after_every_retry_publishes_nothing(root, monkeypatch):
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.exceptions import CommitFailedException

    ledger = Ledger(settings().ledger_url)
    (day1,), (day2,) = ledger.for_date("city_visits", DAY1), ledger.for_date("city_visits", DAY2)
    steps.publish(day1.delivery_id)
    catalog = iceberg.open_catalog(iceberg.Place.for_root(root))
    with iceberg.load_table(catalog, "event_diagnosis").transaction() as tx:
        tx.set_properties({"commit.retry.num-retries": "0"})
    commit_table = SqlCatalog.commit_table

    def another_writer_always_first(self, table, requirements, updates):
        if table.name()[-1] == "event_diagnosis":  # service_event, the first table, commits
            raise CommitFailedException("Table has been updated by another process: tesoma.event_diagnosis")
        return commit_table(self, table, requirements, updates)

    def seen() -> tuple:
        head = states.head(ledger_engine())
        rows = {t: read_table(root, t).to_pylist() for t in ("service_event", "event_diagnosis")}
        return head, len(states.all_states(ledger_engine())), rows, ledger.get(day1.delivery_id).state
    before = seen()

    monkeypatch.setattr(SqlCatalog, "commit_table", another_writer_always_first)
    with pytest.raises(iceberg.WarehouseError) as failure:
        steps.publish(day2.delivery_id)

    message = str(failure.value)
    assert "table tesoma.event_diagnosis" in message and day2.delivery_id in message
    assert "after 0 retries" in message and "rerun the publish" in message
    assert seen() == before
    assert ledger.get(day2.delivery_id).state == "staged"
    assert delivery_of(table_history("service_event")[-1]) == day2.delivery_id  # committed, yet not visible

    monkeypatch.setattr(SqlCatalog, "commit_table", commit_table)
    assert steps.publish(day2.delivery_id)["state"] == "published"
    for table in ("service_event", "event_diagnosis"):
        rows = read_table(root, table, partner="city", delivery_date=DAY2)
        assert set(rows["delivery_id"].to_pylist()) == {day2.delivery_id}
    assert states.head(ledger_engine()).state_id == before[0].state_id + 1
