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
        if "service_event" in views:
            views += _versions(con, "service_event", "event_id")
            views += _person(con)
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


_LATEST = "row_number() over (partition by {key} order by source_updated_at desc, delivery_date desc, delivery_id desc)"


def _versions(con: duckdb.DuckDBPyConnection, table: str, key: str) -> list[str]:
    """Every delivered version stays in ``table``; these give the current state and the state as it was
    known after any delivery date (``select * from service_event_as_of(DATE '2026-10-15')``)."""
    latest = _LATEST.format(key=key)
    con.execute(f"create or replace view {table}_current as select * exclude (_version) from "  # noqa: S608
                f"(select *, {latest} as _version from {table}) where _version = 1")
    con.execute(f"comment on view {table}_current is "
                f"{_quote(f'Current state of {table}: the latest delivered version of each {key}.')}")
    con.execute(f"create or replace macro {table}_as_of(as_of) as table select * exclude (_version) from "  # noqa: S608
                f"(select *, {latest} as _version from {table} where delivery_date <= as_of) where _version = 1")
    return [f"{table}_current", f"{table}_as_of (macro)"]


def _person(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The derived person dimension (pseudonymous): one row per person_id seen in any service event."""
    con.execute("""
        create or replace view person as
        select person_id,
               any_value(person_id_kind) as person_id_kind,
               max(birth_year) as birth_year,
               arg_max(sex, event_start) filter (where sex is not null) as sex,
               arg_max(home_postal_code, event_start) filter (where home_postal_code is not null)
                   as latest_postal_code,
               min(event_date) as first_contact,
               max(event_date) as last_contact,
               list(distinct partner order by partner) as partners_used,
               count(distinct event_id) as events
        from service_event_current
        group by person_id
    """)
    con.execute(f"comment on view person is {_quote('Derived person dimension: one row per pseudonymous person.')}")
    return ["person"]
