"""The lean metadata path (warehouse.lean_metadata) gives exactly pyiceberg's own results."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from warehouse import commits, iceberg, lean_metadata
from warehouse.publish import write_parquet

DAY = dt.date(2026, 10, 1)


def staged(tmp_path, day: dt.date, n: int = 2):
    rows = pa.table({"partner": ["city"] * n, "measure_date": [day] * n, "unit_code": ["U1"] * n,
                     "professional_group": ["nurse"] * n, "professional_group_source": ["SH"] * n,
                     "t3_days": [float(i) for i in range(n)], "delivery_id": [f"d-{day}"] * n})
    data = iceberg.with_partition_columns("access_t3", rows.cast(_canonical()), "city", day)
    path = tmp_path / f"{day}.parquet"
    write_parquet(data, path)
    return commits.PartitionChange("access_t3", "city", day, path, f"d-{day:%Y%m%d}", "0" * 64)


def _canonical():
    from warehouse.schemas import TABLES

    return TABLES["access_t3"]


@pytest.fixture
def catalog(tmp_path):
    return iceberg.open_catalog(iceberg.Place.for_root(tmp_path / "root"))


def comparable(metadata) -> dict:
    dumped = metadata.model_dump(by_alias=True)
    dumped.pop("last-updated-ms")
    dumped["metadata-log"] = [entry["metadata-file"] for entry in dumped["metadata-log"]]
    return dumped


def test_updates_give_the_same_metadata_as_pyiceberg(catalog, tmp_path):
    from pyiceberg.table.update import update_table_metadata

    snapshot = None
    for i in range(3):
        snapshot = commits.replace_partition(catalog, staged(tmp_path, DAY + dt.timedelta(days=i)), snapshot)
    tbl = iceberg.load_table(catalog, "access_t3")
    change = staged(tmp_path, DAY)  # a correction: an overwrite with a delete and an append
    tx = tbl.transaction()
    tx.set_properties(note="x")
    target = commits.data_file_path(tbl, change)
    commits.place_file(change, commits.local_path(target))
    with tx.update_snapshot().overwrite() as overwrite:
        for old in commits.partition_files(tbl, snapshot, "city", DAY):
            overwrite.delete_data_file(old)
        overwrite.append_data_file(commits.data_file(tbl, tx.table_metadata, target))

    ours = lean_metadata.apply_updates(tbl.metadata, tx._updates, tbl.metadata_location)
    theirs = update_table_metadata(tbl.metadata, tx._updates, metadata_location=tbl.metadata_location)
    assert comparable(ours) == comparable(theirs)
    assert len(ours.snapshots) == 4 and ours.properties["note"] == "x"


def test_a_loaded_table_is_parsed_once_and_equals_a_fresh_parse(catalog, tmp_path, monkeypatch):
    from pyiceberg.serializers import FromInputFile

    snapshot = commits.replace_partition(catalog, staged(tmp_path, DAY), None)
    parses = []
    real = FromInputFile.table_metadata
    monkeypatch.setattr(FromInputFile, "table_metadata", staticmethod(lambda f: parses.append(1) or real(f)))

    snapshot = commits.replace_partition(catalog, staged(tmp_path, DAY + dt.timedelta(days=1)), snapshot)
    assert parses == []  # the commit's own result is remembered: neither load re-reads metadata.json

    lean_metadata._PARSED.clear()
    fresh = iceberg.load_table(catalog, "access_t3")
    assert parses == [1]
    assert fresh.current_snapshot().snapshot_id == snapshot
    assert len(fresh.metadata.snapshots) == 2
