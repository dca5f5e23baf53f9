"""A warehouse made before service_event gained columns keeps working: the table gains them on load,
its older files read them as null (Iceberg scans and the analysts' views alike), and the new pseudonym
column gets no metrics in the manifests."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pyarrow as pa
import pytest

from warehouse import catalog as analysts_catalog
from warehouse import commits, iceberg, readers, states
from warehouse.publish import write_parquet
from warehouse.schemas import SERVICE_EVENT, TABLES

NEW = ["professional_id", "assessment_time", "urgency", "urgency_source"]
OLD_SERVICE_EVENT = pa.schema([f for f in SERVICE_EVENT if f.name not in NEW], metadata=SERVICE_EVENT.metadata)
DAY = dt.date(2026, 10, 1)


def event(event_id: str, **values) -> dict:
    row = {f.name: None for f in SERVICE_EVENT}
    row.update(event_id=event_id, person_id="p1", person_id_kind="hetu", partner="city", feed="city_visits",
               event_start=dt.datetime(2026, 10, 1, 6, 0, tzinfo=dt.UTC), event_date=DAY, delivery_id=f"d-{event_id}",
               source_updated_at=dt.datetime(2026, 10, 1, 7, 0, tzinfo=dt.UTC), **values)
    return row


def staged(tmp_path, day: dt.date, rows: list[dict], schema: pa.Schema) -> commits.PartitionChange:
    data = pa.Table.from_pylist([{k: r[k] for k in schema.names} for r in rows], schema=schema)
    path = tmp_path / f"{day}.parquet"
    write_parquet(iceberg.with_partition_columns("service_event", data, "city", day), path)
    return commits.PartitionChange("service_event", "city", day, path, f"d-{day:%Y%m%d}", "0" * 64)


@pytest.fixture
def evolved(tmp_path, monkeypatch):
    """A table made and written with the old schema, then written once more by this version."""
    place = iceberg.Place.for_root(tmp_path / "root")
    catalog = iceberg.open_catalog(place)
    with monkeypatch.context() as old_version:
        old_version.setitem(TABLES, "service_event", OLD_SERVICE_EVENT)
        first = commits.replace_partition(catalog, staged(tmp_path, DAY, [event("old")], OLD_SERVICE_EVENT), None)
    new_row = event("new", professional_id="pro1", urgency="non_urgent", urgency_source="E",
                    assessment_time=dt.datetime(2026, 9, 24, 7, 0, tzinfo=dt.UTC))
    later = DAY + dt.timedelta(days=1)
    second = commits.replace_partition(catalog, staged(tmp_path, later, [new_row], SERVICE_EVENT), first)
    return catalog, states.State(1, None, None, {"service_event": second})


def test_the_table_gains_the_new_columns_mapped_by_name_without_metrics(evolved):
    catalog, _ = evolved
    tbl = iceberg.load_table(catalog, "service_event")
    names = [f.name for f in tbl.schema().fields]
    assert names[-4:] == NEW and names.count("professional_id") == 1
    mapping = {m["names"][0] for m in json.loads(tbl.properties[iceberg.NAME_MAPPING])}
    assert set(NEW) <= mapping
    assert tbl.properties["write.metadata.metrics.column.professional_id"] == "none"
    scanned = tbl.scan().to_arrow().sort_by("event_id").select(["event_id", "professional_id", "urgency"])
    assert scanned.to_pylist() == [{"event_id": "new", "professional_id": "pro1", "urgency": "non_urgent"},
                                   {"event_id": "old", "professional_id": None, "urgency": None}]


def test_the_views_read_old_files_with_the_new_columns_as_null(evolved):
    catalog, state = evolved
    files = readers.state_files(catalog, state)
    con = duckdb.connect()
    analysts_catalog.build_views(con, files, state)
    got = con.execute("select event_id, professional_id, assessment_time, urgency, urgency_source "
                      "from service_event_current order by event_id").fetchall()
    assert got == [("new", "pro1", dt.datetime(2026, 9, 24, 7, 0, tzinfo=dt.UTC), "non_urgent", "E"),
                   ("old", None, None, None, None)]
    columns = [row[0] for row in con.execute("describe service_event").fetchall()]
    assert columns == iceberg.warehouse_schema("service_event").names


def test_a_file_staged_before_the_change_is_published_with_null_columns(tmp_path):
    old = pa.Table.from_pylist([{k: v for k, v in event("x").items() if k not in NEW}], schema=OLD_SERVICE_EVENT)
    out = iceberg.with_partition_columns("service_event", old, "city", DAY)
    assert out.schema == iceberg.warehouse_schema("service_event")
    assert out.select(NEW).to_pylist() == [dict.fromkeys(NEW)]
