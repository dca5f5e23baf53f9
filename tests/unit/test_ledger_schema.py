"""Creating the ledger's tables is safe when parallel tasks open a fresh ledger at the same moment.

On PostgreSQL (production) the tables are created under an advisory lock; the tests there use a new,
uniquely named database, dropped afterwards. They skip when PostgreSQL is down, except under CI=true.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

import warehouse.ledger as ledger_module
from warehouse.ledger import SCHEMA_LOCK_KEY, Ledger

THREADS = 8
TABLES = {"deliveries", "quality_results", "watermarks"}


@pytest.fixture
def fresh_postgres(postgres_url):
    """The URL of a new, empty PostgreSQL database on the test server; dropped (even if still in use) after."""
    from orchestration.stack import temporary_database

    with temporary_database(postgres_url.rsplit("/", 1)[0], prefix="tesoma_ledger_schema_") as url:
        yield url


def open_ledger(url: str, errors: list[BaseException], start: threading.Barrier | None = None) -> None:
    """A task's first step: open the ledger (its own engine and connection, as in a separate process)."""
    try:
        if start is not None:
            start.wait()
        Ledger(url).engine.dispose()
    except BaseException as exc:  # collected: the test reports every thread's error, not just the first
        errors.append(exc)


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.integration
def test_parallel_ledgers_on_a_fresh_postgresql_database_all_succeed(fresh_postgres):
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)
    threads = [threading.Thread(target=open_ledger, args=(fresh_postgres, errors, start)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(t.is_alive() for t in threads), "a ledger hung while creating the schema"
    assert errors == []
    assert tables(fresh_postgres) >= TABLES


@pytest.mark.integration
def test_postgresql_schema_creation_waits_for_the_advisory_lock(fresh_postgres):
    errors: list[BaseException] = []
    holder = sa.create_engine(fresh_postgres)
    try:
        with holder.begin() as conn:  # another process is creating the schema
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            worker = threading.Thread(target=open_ledger, args=(fresh_postgres, errors))
            worker.start()
            worker.join(timeout=1)
            assert worker.is_alive(), "the schema was created without waiting for the lock"
            assert tables(fresh_postgres) == set()
        worker.join(timeout=30)  # the holder's commit released the lock
    finally:
        holder.dispose()

    assert not worker.is_alive() and errors == []
    assert tables(fresh_postgres) >= TABLES


def test_the_schema_is_prepared_once_per_process_and_url(tmp_path, monkeypatch):
    calls = []
    real = ledger_module._create_schema

    def counted(engine):
        calls.append(engine.url)
        real(engine)

    monkeypatch.setattr(ledger_module, "_create_schema", counted)
    first, second = (f"sqlite:///{tmp_path / name}" for name in ("one.sqlite", "two.sqlite"))

    for url in (first, first, second, first):
        Ledger(url).engine.dispose()

    assert [str(u) for u in calls] == [first, second]
    assert tables(first) >= TABLES and tables(second) >= TABLES


def _already_exists() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("CREATE TABLE deliveries (...)", {}, Exception("table deliveries already exists"))


def test_a_table_created_meanwhile_by_another_process_is_checked_again_not_fatal(tmp_path, monkeypatch):
    calls = []
    real = ledger_module._create_schema

    def lose_the_race_once(engine):
        calls.append(engine.url)
        if len(calls) == 1:
            real(engine)  # the other process's tables ...
            raise _already_exists()  # ... and our CREATE of the same, which the database refuses
        real(engine)

    monkeypatch.setattr(ledger_module, "_create_schema", lose_the_race_once)
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"

    Ledger(url).engine.dispose()

    assert len(calls) == 2
    assert tables(url) >= TABLES


def test_other_database_errors_and_a_second_already_exists_still_fail(tmp_path, monkeypatch):
    def refuse(engine):
        raise sa.exc.OperationalError("CREATE TABLE deliveries (...)", {}, Exception("disk I/O error"))

    monkeypatch.setattr(ledger_module, "_create_schema", refuse)
    with pytest.raises(sa.exc.OperationalError, match="disk I/O error"):
        Ledger(f"sqlite:///{tmp_path / 'a.sqlite'}")

    def always_exists(engine):
        raise _already_exists()

    monkeypatch.setattr(ledger_module, "_create_schema", always_exists)
    with pytest.raises(sa.exc.OperationalError, match="already exists"):  # caught once, not forever
        Ledger(f"sqlite:///{tmp_path / 'b.sqlite'}")
    assert f"sqlite:///{tmp_path / 'b.sqlite'}" not in ledger_module._prepared_urls
