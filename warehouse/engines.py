"""One SQLAlchemy engine per database server URL in a process.

Every step opens the ledger (``warehouse.ledger.Ledger``) and the Iceberg catalog afresh, and each engine
keeps a pool of open connections until it is garbage-collected. In a task process that ends after one step
this never mattered; in one long process — ``tesoma run --from … --to …`` over five years, the backfill
benchmark's floor, a Celery worker's thread — thousands of engines held their pools open and PostgreSQL ran
out of connections ("sorry, too many clients already", measured at county scale after ~1,900 deliveries).
So a process keeps one engine, and one pool, per server URL.

SQLite files are left out: a test or an operator may delete a data root and make a new one at the same
path, and a pooled connection would go on writing to the deleted file; an engine per use is cheap there.
After a fork the child keeps the engine but must not share the parent's pooled connections: the forking
processes (orchestration/env.py) dispose of the pool before forking, and :func:`engine_for` checks the
process id.
"""

from __future__ import annotations

import os
import threading

import sqlalchemy as sa

_engines: dict[str, tuple[int, sa.Engine]] = {}
_lock = threading.Lock()


def shared(url: str) -> bool:
    """Whether ``url`` names a database server (one engine per process) rather than a SQLite file."""
    return not url.startswith("sqlite")


def engine_for(url: str, **options) -> sa.Engine:
    """The process's engine for a server ``url`` (made with ``options`` the first time); a new engine for a
    SQLite file each time."""
    if not shared(url):
        return sa.create_engine(url, **options)
    with _lock:
        known = _engines.get(url)
        if known is not None and known[0] == os.getpid():
            return known[1]
        if known is not None:  # made before a fork: the parent's connections are not this process's
            known[1].dispose(close=False)
        engine = sa.create_engine(url, **options)
        _engines[url] = (os.getpid(), engine)
        return engine
