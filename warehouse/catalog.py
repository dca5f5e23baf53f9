"""The analysts' DuckDB catalog: a view per canonical table over the data files of the current warehouse
state (``warehouse.states``), with the column descriptions as comments. Holds no data itself, so rebuilding
it is always safe; :func:`as_of` builds the same views for any earlier state."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from warehouse import readers, states
from warehouse.iceberg import Place, describe_warehouse, refuse_old_layout, warehouse_schema
from warehouse.layout import Layout
from warehouse.schemas import TABLES


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Refresh:
    """What :func:`update` did: the views the catalog has, the tables whose views were rebuilt, and the
    warehouse states the catalog showed before (None: no catalog yet) and shows now."""

    views: list[str]
    rebuilt: list[str]
    state_before: int | None
    state_after: int | None


def refresh(layout: Layout, ledger_url: str | None = None) -> list[str]:
    """(Re)create the views over the current warehouse state's files; returns the view names."""
    return update(layout, ledger_url).views


def update(layout: Layout, ledger_url: str | None = None, full: bool = False) -> Refresh:
    """Bring the catalog to the current warehouse state, rebuilding only what changed.

    A table's view reads the footer of every data file of the table (:func:`_select`), which grows with the
    history; so the view of a table whose snapshot is the one the catalog already shows, with the columns and
    comments the code gives it now, is kept from the previous catalog. The cheap views (``*_current``,
    ``person``, ``kpi_*``, ``warehouse_state``) are always made again. ``full`` (or no readable previous
    catalog) rebuilds every view. The new catalog is built beside the old one and swapped in at once."""
    refuse_old_layout(layout.root)
    layout.warehouse.mkdir(parents=True, exist_ok=True)
    place = Place.for_root(layout.root, ledger_url)
    state = states.head(_engine(place.ledger_url))
    tmp = layout.catalog.with_suffix(".duckdb.tmp")
    tmp.unlink(missing_ok=True)
    before = None if full else _shown(layout)
    if before is not None:
        shutil.copyfile(layout.catalog, tmp)
    con = duckdb.connect(str(tmp))
    try:
        kept = set() if before is None else {t for t in TABLES if _up_to_date(con, t, before[1].get(t),
                                                                               state.snapshots.get(t))}
        # Every table's files are listed and checked to exist even when its view is kept: a missing or
        # corrupt Iceberg catalog or a deleted data file must stop the refresh with its remedy
        # (readers.state_files), not leave a view that fails in an analyst's query. Listing reads Iceberg
        # metadata only; the costly part, DuckDB reading every file's footer, is what keeping a view saves.
        files = {t: paths for t, paths in readers.files_for(place, state).items() if t not in kept}
        for table in TABLES:  # a table without data now (none yet, or its view would be stale): no view
            if table not in kept and table not in files:
                con.execute(f"drop view if exists {table}")
        views = build_views(con, files, state, kept) + _replace_published_views(con, layout)
        con.execute("checkpoint")
    finally:
        con.close()
    # Swap the catalog in one step so an analyst never opens a half-built one.
    Path(tmp).replace(layout.catalog)
    rebuilt = sorted(t for t in files)
    return Refresh(views, rebuilt, before[0] if before else None, state.state_id)


def _shown(layout: Layout) -> tuple[int | None, dict[str, int]] | None:
    """The warehouse state the catalog shows (its id and every table's snapshot), None when there is no
    catalog or it cannot be read (then everything is rebuilt)."""
    if not layout.catalog.exists():
        return None
    try:
        con = duckdb.connect(str(layout.catalog), read_only=True)
        try:
            state_id, snapshots = con.execute("select state_id, snapshots from warehouse_state").fetchone()
        finally:
            con.close()
        return state_id, {t: int(v) for t, v in json.loads(snapshots).items()}
    except (duckdb.Error, TypeError, ValueError):
        return None


def _up_to_date(con: duckdb.DuckDBPyConnection, table: str, shown: int | None, current: int | None) -> bool:
    """The view of ``table`` in the previous catalog shows ``current`` with today's columns and comments."""
    if shown is None or shown != current:
        return False
    found = con.execute("select column_name, comment from duckdb_columns() where table_name = $1 "
                        "order by column_index", [table]).fetchall()
    wanted = [(name, description) for name, _type, description in describe_warehouse(table)]
    comment = con.execute("select comment from duckdb_views() where view_name = $1", [table]).fetchone()
    return found == wanted and comment == (TABLES[table].metadata[b"description"].decode(),)


def _replace_published_views(con: duckdb.DuckDBPyConnection, layout: Layout) -> list[str]:
    """:func:`published_views`, after dropping the ``kpi_*`` views of an earlier publication."""
    for (view,) in con.execute("select view_name from duckdb_views() where not internal "
                               "and starts_with(view_name, 'kpi_')").fetchall():
        con.execute(f"drop view {view}")  # our own view names (checked when they were made)
    return published_views(con, layout)


def as_of(layout: Layout, when: object, ledger_url: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection whose views show every table exactly as readers saw it at ``when``:
    a time, a warehouse state id or a tag (:func:`warehouse.states.resolve`)."""
    refuse_old_layout(layout.root)
    place = Place.for_root(layout.root, ledger_url)
    state = states.resolve(_engine(place.ledger_url), when)
    con = duckdb.connect()
    build_views(con, readers.files_for(place, state), state)
    return con


def build_views(con: duckdb.DuckDBPyConnection, files: dict[str, list[Path]], state: states.State,
                kept: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """A view per table over its files, the column comments, ``_current``/``_as_of``, ``person`` and
    ``warehouse_state`` (which state the views show: cite it with a figure to reproduce it). The views of
    the ``kept`` tables already exist in ``con`` and are left as they are."""
    views = []
    for table in TABLES:
        if table in kept:
            views.append(table)
            continue
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

# The latest version of each key. Sorting every row by its key to find the latest (a window over all of
# them) cost 12 s of a 25-million-row county table, although fewer than 1 % of the keys were delivered twice.
# So: the keys delivered more than once, found by their 64-bit hash (a group of 8-byte integers); every
# other row is current as it is, and only the rows of those keys go through the window. A hash collision
# only adds a key to that small set, where the window compares the keys themselves: the result is exact.
# 5.5 s for the same table, every row identical (tests/unit/test_current_versions.py).
_CURRENT = """
    with repeated as (
        select hash({key}) as key_hash from {source} group by key_hash having count(*) > 1
    )
    select * from {source} anti join repeated on hash({source}.{key}) = repeated.key_hash
    union all
    select * exclude (_version) from (
        select *, {latest} as _version from {source} semi join repeated on hash({source}.{key}) = repeated.key_hash
    ) where _version = 1
"""


def _versions(con: duckdb.DuckDBPyConnection, table: str, key: str) -> list[str]:
    """Every delivered version stays in ``table``; these give the current state and the state as it was
    known after any delivery date (``select * from service_event_as_of(DATE '2026-10-15')``)."""
    latest = _LATEST.format(key=key)
    current = _CURRENT.format(key=key, source=table, latest=latest)
    con.execute(f"create or replace view {table}_current as {current}")
    con.execute(f"comment on view {table}_current is "
                f"{_quote(f'Current state of {table}: the latest delivered version of each {key}.')}")
    # The same over the versions delivered up to as_of (a CTE named `known` stands for the table).
    as_of = _CURRENT.format(key=key, source="known", latest=latest).replace(
        "with repeated as", f"with known as (select * from {table} where delivery_date <= as_of), repeated as", 1)  # noqa: S608
    con.execute(f"create or replace macro {table}_as_of(as_of) as table {as_of}")
    return [f"{table}_current", f"{table}_as_of (macro)"]


PERSON_TRAITS = """max(birth_year) as birth_year,
               arg_max(sex, event_start) filter (where sex is not null) as sex,
               arg_max(home_postal_code, event_start) filter (where home_postal_code is not null)
                   as latest_postal_code"""
"""The ``person`` view's birth year, sex and latest postal code, aggregated per person from service events:
also what the privacy audit measures k-anonymity over (``tesoma.audit.k_anonymity``), without the view's
other, costlier aggregates."""


def _person(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The derived person dimension (pseudonymous): one row per person_id seen in any service event."""
    con.execute("""
        create or replace view person as
        select person_id,
               any_value(person_id_kind) as person_id_kind,
               """ + PERSON_TRAITS + """,
               min(event_date) as first_contact,
               max(event_date) as last_contact,
               list(distinct partner order by partner) as partners_used,
               count(distinct event_id) as events
        from service_event_current
        group by person_id
    """)  # noqa: S608 — PERSON_TRAITS is our own SQL
    con.execute(f"comment on view person is {_quote('Derived person dimension: one row per pseudonymous person.')}")
    return ["person"]

