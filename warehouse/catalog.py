"""The analysts' DuckDB catalog: a view per canonical table over the data files of the current warehouse
state (``warehouse.states``), with the column descriptions as comments. Holds no data itself, so rebuilding
it is always safe; :func:`as_of` builds the same views for any earlier state."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pyarrow as pa

from warehouse import readers, states
from warehouse.iceberg import Place, describe_warehouse, refuse_old_layout, warehouse_schema
from warehouse.layout import Layout
from warehouse.schemas import TABLES


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def refresh(layout: Layout, ledger_url: str | None = None) -> list[str]:
    """(Re)create the views over the current warehouse state's files; returns the view names."""
    refuse_old_layout(layout.root)
    layout.warehouse.mkdir(parents=True, exist_ok=True)
    place = Place.for_root(layout.root, ledger_url)
    state = states.head(_engine(place.ledger_url))
    files = readers.files_for(place, state)
    tmp = layout.catalog.with_suffix(".duckdb.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        views = build_views(con, files, state) + published_views(con, layout)
        con.execute("checkpoint")
    finally:
        con.close()
    # Swap the catalog in one step so an analyst never opens a half-built one.
    Path(tmp).replace(layout.catalog)
    return views


def as_of(layout: Layout, when: object, ledger_url: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection whose views show every table exactly as readers saw it at ``when``:
    a time, a warehouse state id or a tag (:func:`warehouse.states.resolve`)."""
    refuse_old_layout(layout.root)
    place = Place.for_root(layout.root, ledger_url)
    state = states.resolve(_engine(place.ledger_url), when)
    con = duckdb.connect()
    build_views(con, readers.files_for(place, state), state)
    return con


def build_views(con: duckdb.DuckDBPyConnection, files: dict[str, list[Path]], state: states.State) -> list[str]:
    """A view per table over its files, the column comments, ``_current``/``_as_of``, ``person`` and
    ``warehouse_state`` (which state the views show: cite it with a figure to reproduce it)."""
    views = []
    for table in TABLES:
        if table not in files:
            continue
        # The paths are our own data files (no user input); DuckDB cannot bind parameters in DDL.
        con.execute(f"create or replace view {table} as {_select(con, table, files[table])}")
        con.execute(f"comment on view {table} is {_quote(TABLES[table].metadata[b'description'].decode())}")
        for name, _type, description in describe_warehouse(table):
            con.execute(f"comment on column {table}.{name} is {_quote(description)}")
        views.append(table)
    if "service_event" in views:
        views += _versions(con, "service_event", "event_id")
        views += _person(con)
    views.append(_state_view(con, state))
    return views


def _select(con: duckdb.DuckDBPyConnection, table: str, files: list[Path]) -> str:
    """The query of a table's view. Files written before a column was added to the table (schema
    evolution, ``warehouse.iceberg``) lack it: they are read in a group of their own with the column as
    NULL, so the view always has every column of the warehouse schema. Reads each file's footer once."""
    paths = [str(p) for p in files]
    wanted = warehouse_schema(table)
    found = con.execute("select file_name, list(name) from parquet_schema($1) group by file_name",
                        [paths]).fetchall()
    lacking: dict[tuple[str, ...], list[str]] = {}
    for path, names in found:
        missing = tuple(f.name for f in wanted if f.name not in names)
        if missing:
            lacking.setdefault(missing, []).append(path)
    if not lacking:
        return f"select * from read_parquet({_paths(paths)})"  # noqa: S608 — our own paths and column names
    old = {p for group in lacking.values() for p in group}
    complete = [p for p in paths if p not in old]
    parts = [f"select {', '.join(wanted.names)} from read_parquet({_paths(complete)})"] if complete else []  # noqa: S608
    for missing, group in sorted(lacking.items()):
        columns = [f"cast(null as {_sql_type(f.type)}) as {f.name}" if f.name in missing else f.name for f in wanted]
        parts.append(f"select {', '.join(columns)} from read_parquet({_paths(sorted(group))})")  # noqa: S608
    return " union all ".join(parts)


def _paths(paths: list[str]) -> str:
    return "[" + ", ".join(_quote(p) for p in paths) + "]"


def _sql_type(type_: pa.DataType) -> str:
    """DuckDB's name of a (nullable canonical) column type."""
    if pa.types.is_timestamp(type_):
        return "timestamptz" if type_.tz else "timestamp"
    if pa.types.is_decimal(type_):
        return f"decimal({type_.precision}, {type_.scale})"
    names = {pa.string(): "varchar", pa.large_string(): "varchar", pa.date32(): "date", pa.bool_(): "boolean",
             pa.int16(): "smallint", pa.int32(): "integer", pa.int64(): "bigint", pa.float64(): "double"}
    return names[type_]


def published_views(con: duckdb.DuckDBPyConnection, layout: Layout) -> list[str]:
    """Views ``kpi_<table>`` over the latest publication's Parquet files (``published/latest.json``; only
    published, disclosure-controlled files, never ``restricted/``), each with a comment naming the
    publication. No publication yet: no views."""
    try:
        pointer = json.loads((layout.published / "latest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    publication_id = pointer["publication_id"]
    if not re.fullmatch(r"\d{4}-\d{2}-\d+", publication_id):
        raise ValueError(f"{layout.published / 'latest.json'} names {publication_id!r}, not a publication id "
                         "like 2026-10-1: publish again (tesoma report --month) to rewrite it")
    views = []
    for path in sorted((layout.published / publication_id).glob("*.parquet")):
        view = path.stem if path.stem.startswith("kpi_") else f"kpi_{path.stem}"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", view):
            continue
        # Our own file and view names (checked above); DuckDB cannot bind parameters in DDL.
        con.execute(f"create or replace view {view} as select * from read_parquet({_quote(str(path))})")  # noqa: S608
        comment = (f"Published scorecard table {path.stem} of publication {publication_id} "
                   f"({pointer.get('month', '')[:7]}), disclosure-controlled; reproduce with "
                   f"`tesoma report --reproduce {publication_id}`.")
        con.execute(f"comment on view {view} is {_quote(comment)}")
        views.append(view)
    return views


def _state_view(con: duckdb.DuckDBPyConnection, state: states.State) -> str:
    created = state.created_at.isoformat() if state.created_at else None
    values = [str(state.state_id) if state.state_id is not None else "null",
              _quote(created) if created else "null", _quote(state.delivery_id) if state.delivery_id else "null",
              _quote(json.dumps(state.snapshots, sort_keys=True))]
    # Our own values, quoted (DuckDB cannot bind parameters in a view's definition).
    con.execute("create or replace view warehouse_state as select {}::integer as state_id, {}::timestamptz as "
                "created_at, {}::varchar as delivery_id, {}::varchar as snapshots".format(*values))
    con.execute(f"comment on view warehouse_state is {_quote(STATE_COMMENT)}")
    return "warehouse_state"


STATE_COMMENT = ("The warehouse state these views show (every table's Iceberg snapshot). Quote state_id with a "
                 "figure: warehouse.as_of(state_id) gives exactly these tables again.")


def _engine(url: str):
    from warehouse.ledger import Ledger

    return Ledger(url).engine


def connect(layout: Layout, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """A connection to the catalog (``refresh`` first if it does not exist yet)."""
    refuse_old_layout(layout.root)
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

