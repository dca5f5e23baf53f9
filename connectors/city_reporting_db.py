"""The city's reporting database: ``city_visits`` pulled with SQL instead of dropped as CSV.

Incremental by the ``paivitetty`` (updated-at) column: each pull reads the rows updated after the
watermark the ledger keeps, up to the end of the delivery date, streamed from the server in batches
(bounded memory whatever the table's size). Works with any SQLAlchemy 2 database; PostgreSQL in
production, MariaDB and SQLite in the tests and the demo.

The pulled rows are written as one Parquet file in the contract's schema; from there it is a delivery
like any other (archived by SHA-256, read by :class:`connectors.city.CityVisits`, validated, …).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

import contracts

TABLE = "kaynnit"
UPDATED_AT = "paivitetty"


def _value(value: object, type_: pa.DataType) -> object:
    if value is None:
        return None
    if pa.types.is_decimal(type_) and not isinstance(value, decimal.Decimal):
        return decimal.Decimal(str(value)).quantize(decimal.Decimal(1).scaleb(-type_.scale))
    if pa.types.is_timestamp(type_) and isinstance(value, str):  # drivers that return text
        return dt.datetime.fromisoformat(value)
    if pa.types.is_string(type_) and not isinstance(value, str):
        return str(value)
    return value


def _array(values: tuple, field: pa.Field) -> pa.Array:
    try:
        return pa.array([_value(v, field.type) for v in values], field.type)
    except (ValueError, ArithmeticError, TypeError, pa.ArrowException):  # decimal.InvalidOperation included
        # The parsers' messages quote the value: name only the column (no row data in logs or exceptions).
        raise ValueError(f"the reporting table {TABLE} holds a value in column {field.name} that is not a "
                         f"{field.type}; the contract needs one (fix the source row, then pull again)") from None


def extract(url: str, since: dt.datetime | None, until: dt.datetime,
            batch_rows: int = 50_000) -> Iterator[pa.RecordBatch]:
    """Rows with ``since < paivitetty <= until`` (local times), in the contract schema, streamed."""
    contract = contracts.load("city_visits")
    schema = contract.arrow_schema()
    schema = pa.schema([f.with_nullable(True) for f in schema])
    engine = sa.create_engine(url)
    try:
        table = sa.Table(TABLE, sa.MetaData(), autoload_with=engine)
        missing = [c.name for c in contract.columns if c.name not in table.c]
        required = [name for name in missing if contract.column(name).required]
        if required:
            raise RuntimeError(f"the reporting table {TABLE} lacks column(s) {required}; the contract needs them")
        # An optional column the city has not added yet is read as empty, as in a CSV without it.
        selected = [table.c[c] if c in table.c else sa.null().label(c) for c in contract.column_names]
        query = sa.select(*selected).where(table.c[UPDATED_AT] <= until)
        if since is not None:
            query = query.where(table.c[UPDATED_AT] > since)
        query = query.order_by(table.c[UPDATED_AT], table.c[contract.source_id_column])
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(query)
            for rows in result.partitions():
                columns = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
                yield pa.RecordBatch.from_arrays([_array(column, f) for column, f in zip(columns, schema, strict=True)],
                                                 schema=schema)
    finally:
        engine.dispose()


def write_extract(batches: Iterator[pa.RecordBatch], path: Path, window: dict[str, str]) -> int:
    """Write the pulled rows as one Parquet file whose metadata records the pull window; returns rows.

    The window is part of the file, so two empty pulls of different days are different deliveries.
    """
    contract = contracts.load("city_visits")
    schema = pa.schema([f.with_nullable(True) for f in contract.arrow_schema()]).with_metadata(
        {"tesoma.pull." + k: v for k, v in window.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows
