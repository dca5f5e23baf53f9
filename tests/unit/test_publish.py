"""Atomic, idempotent publication of one partition."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from warehouse import publish
from warehouse.publish import PART_FILE, publish_partition, unpublish_partition, write_parquet


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


def partition_files(partition):
    return sorted(p.name for p in partition.iterdir())


def test_publish_into_an_empty_partition(tmp_path):
    staged = tmp_path / "staging" / "s.parquet"
    write_parquet(events(), staged)
    partition = tmp_path / "warehouse" / "service_event" / "partner=city" / "delivery_date=2026-10-01"

    final = publish_partition(staged, partition)

    assert final == partition / PART_FILE
    assert partition_files(partition) == [PART_FILE]
    assert pq.read_table(final).equals(events())
    assert staged.exists()  # the staged file is copied, not consumed


def test_publish_replaces_the_old_content(tmp_path):
    partition = tmp_path / "p"
    old, new = tmp_path / "old.parquet", tmp_path / "new.parquet"
    write_parquet(events(3, "1.00"), old)
    write_parquet(events(2, "2.00"), new)

    publish_partition(old, partition)
    publish_partition(new, partition)

    assert partition_files(partition) == [PART_FILE]
    assert pq.read_table(partition / PART_FILE).equals(events(2, "2.00"))


def test_same_staged_file_twice_gives_identical_bytes(tmp_path):
    staged = tmp_path / "s.parquet"
    write_parquet(events(), staged)
    first = publish_partition(staged, tmp_path / "p").read_bytes()
    second = publish_partition(staged, tmp_path / "p").read_bytes()
    assert first == second == staged.read_bytes()
    assert partition_files(tmp_path / "p") == [PART_FILE]


def test_old_content_stays_until_the_new_file_is_complete(tmp_path, monkeypatch):
    partition = tmp_path / "p"
    old, new = tmp_path / "old.parquet", tmp_path / "new.parquet"
    write_parquet(events(3, "1.00"), old)
    write_parquet(events(2, "2.00"), new)
    publish_partition(old, partition)
    seen_before_replace = []

    real_replace = os.replace

    def observing_replace(src, dst):
        # at the moment of the swap the published file is still the complete old one
        seen_before_replace.append(pq.read_table(partition / PART_FILE).equals(events(3, "1.00")))
        assert pq.read_table(src).equals(events(2, "2.00"))
        return real_replace(src, dst)

    monkeypatch.setattr(publish.os, "replace", observing_replace)
    publish_partition(new, partition)

    assert seen_before_replace == [True]
    assert pq.read_table(partition / PART_FILE).equals(events(2, "2.00"))


def test_a_crash_before_the_swap_keeps_the_old_content(tmp_path, monkeypatch):
    partition = tmp_path / "p"
    old, new = tmp_path / "old.parquet", tmp_path / "new.parquet"
    write_parquet(events(3, "1.00"), old)
    write_parquet(events(2, "2.00"), new)
    publish_partition(old, partition)

    def crash(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(publish.os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        publish_partition(new, partition)

    assert pq.read_table(partition / PART_FILE).equals(events(3, "1.00"))


def test_a_later_publish_leaves_no_temp_files_after_a_crash(tmp_path, monkeypatch):
    partition = tmp_path / "p"
    staged = tmp_path / "s.parquet"
    write_parquet(events(), staged)

    def crash(src, dst):
        raise OSError("killed")

    with monkeypatch.context() as m:
        m.setattr(publish.os, "getpid", lambda: 1111)
        m.setattr(publish.os, "replace", crash)
        with pytest.raises(OSError):
            publish_partition(staged, partition)

    monkeypatch.setattr(publish.os, "getpid", lambda: 2222)  # the retry runs in another process
    publish_partition(staged, partition)

    assert partition_files(partition) == [PART_FILE]


def test_unpublish(tmp_path):
    staged = tmp_path / "s.parquet"
    write_parquet(events(), staged)
    partition = tmp_path / "p"
    publish_partition(staged, partition)
    unpublish_partition(partition)
    assert partition_files(partition) == []
    unpublish_partition(partition)  # idempotent
    unpublish_partition(tmp_path / "never_published")
