"""SQL over Arrow tables already in memory, with an in-process DuckDB: its parallel hash joins and group-bys
read the tables in place, several times faster than Arrow's own on millions of rows. No file is touched.

One in-memory database serves the process; each call runs on a cursor of its own (a connection of its
own), so threads never share one and a table registered by one call is not seen by another. Keeping the
database open lets DuckDB reuse the memory of earlier calls instead of asking the kernel again.
"""

from __future__ import annotations

import os
import threading

import pyarrow as pa

_database = None
_lock = threading.Lock()


def _forget_in_child() -> None:
    # A forked child (e.g. a task process) must not use the parent's database: its threads did not fork.
    global _database, _lock
    _database, _lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


def _connection():
    global _database
    import duckdb

    with _lock:
        if _database is None:
            _database = duckdb.connect(":memory:")
        return _database.cursor()


def query(sql: str, **tables: pa.Table) -> pa.Table:
    """Run ``sql`` with each keyword's table registered under its name; the result as an Arrow table.

    Only identifiers (table and column names from contracts and schemas) may be part of ``sql``; values
    never are.
    """
    con = _connection()
    try:
        for name, table in tables.items():
            con.register(name, table)
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()
