"""The analysts' DuckDB catalog: a view per canonical table over the Hive-partitioned Parquet files,
with the column descriptions as comments. Holds no data itself, so rebuilding it is always safe."""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.layout import Layout
from warehouse.schemas import TABLES, describe


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def refresh(layout: Layout) -> list[str]:
    """(Re)create the views for every table that has published data; returns the view names."""
    layout.warehouse.mkdir(parents=True, exist_ok=True)
    views = []
    tmp = layout.catalog.with_suffix(".duckdb.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        for table in TABLES:
            root = layout.harmonised / table
            if not any(root.glob("*/*/*.parquet")):
                continue
            glob = _quote(str(root / "*" / "*" / "*.parquet"))
            # The glob is our own path (no user input); DuckDB cannot bind parameters in DDL.
            con.execute(
                f"create or replace view {table} as select * from read_parquet({glob}, "  # noqa: S608
                "hive_partitioning = true, hive_types = {'partner': varchar, 'delivery_date': date})"
            )
            con.execute(f"comment on view {table} is {_quote(TABLES[table].metadata[b'description'].decode())}")
            for name, _type, description in describe(table):
                con.execute(f"comment on column {table}.{name} is {_quote(description)}")
            views.append(table)
        con.execute("checkpoint")
    finally:
        con.close()
    # Swap the catalog in one step so an analyst never opens a half-built one.
    Path(tmp).replace(layout.catalog)
    return views


def connect(layout: Layout, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A connection to the catalog (``refresh`` first if it does not exist yet)."""
    if not layout.catalog.exists():
        refresh(layout)
    return duckdb.connect(str(layout.catalog), read_only=read_only)
