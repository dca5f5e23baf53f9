"""Our Parquet writer: the same table always gives the same bytes, with statistics only where they help."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.publish import write_parquet


def events(n: int = 3, fee: str = "20.90") -> pa.Table:
    schema = pa.schema([
        pa.field("event_id", pa.string(), metadata={"description": "id"}),
        pa.field("event_start", pa.timestamp("us", tz="UTC")),
        pa.field("client_fee_eur", pa.decimal128(9, 2)),
    ], metadata={"description": "test table"})
    return pa.table({
        "event_id": [f"e{i}" for i in range(n)],
        "event_start": [dt.datetime(2026, 10, 1, 5, 30, tzinfo=dt.UTC)] * n,
        "client_fee_eur": [Decimal(fee)] * n,
    }, schema=schema)


def test_write_parquet_is_deterministic(tmp_path):
    write_parquet(events(), tmp_path / "a" / "x.parquet")
    write_parquet(events(), tmp_path / "b" / "x.parquet")
    assert (tmp_path / "a" / "x.parquet").read_bytes() == (tmp_path / "b" / "x.parquet").read_bytes()


def test_statistics_where_a_query_can_skip_by_them(tmp_path):
    table = events().append_column("partner", pa.array(["city"] * 3)).append_column("status", pa.array(["a"] * 3))
    write_parquet(table, tmp_path / "x.parquet")
    group = pq.ParquetFile(tmp_path / "x.parquet").metadata.row_group(0)
    with_stats = {group.column(i).path_in_schema for i in range(group.num_columns) if group.column(i).is_stats_set}
    assert with_stats == {"event_start", "client_fee_eur", "partner"}  # not the ids, not other text


def test_write_parquet_round_trips_with_metadata(tmp_path):
    path = tmp_path / "deep" / "er" / "x.parquet"
    write_parquet(events(), path)
    back = pq.read_table(path)
    assert back.equals(events())
    assert back.schema.equals(events().schema, check_metadata=True)
