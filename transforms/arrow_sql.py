"""SQL over Arrow tables already in memory, with an in-process DuckDB: its parallel hash joins and group-bys
read the tables in place, several times faster than Arrow's own on millions of rows. No file is touched;
each call has its own connection, so threads never share one."""

from __future__ import annotations

import pyarrow as pa


def query(sql: str, **tables: pa.Table) -> pa.Table:
    """Run ``sql`` with each keyword's table registered under its name; the result as an Arrow table.

    Only identifiers (table and column names from contracts and schemas) may be part of ``sql``; values
    never are.
    """
    import duckdb

    con = duckdb.connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()
