"""No pseudonym and no record id in the Iceberg metadata: not in a metadata.json, a manifest list, a
manifest (raw or decompressed) or the catalog database — so the metadata can be shown, copied and read by
other engines without carrying person-level values.

The second test shows the scan can fail: a throwaway table that keeps bounds for ``person_id`` puts
pseudonyms into its manifests, and the same scan finds them.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow.parquet as pq
import pytest

from synthetic import generate
from tesoma import steps
from tests.conftest import TEST_KEY
from warehouse.iceberg import (
    NAMESPACE,
    Place,
    iceberg_schema,
    is_pseudonym,
    load_table,
    open_catalog,
    partition_spec,
    table_properties,
    warehouse_schema,
)
from warehouse.ledger import Ledger
from warehouse.schemas import TABLES

START = dt.date(2026, 10, 1)
DAYS = 3
FEEDS = ("city_visits", "mehilainen_fhir", "ngo_attendance")  # every feed with person-level rows
PERSON_TABLES = [t for t in TABLES if any(is_pseudonym(c) for c in warehouse_schema(t).names)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """Three days of the person-level feeds, and a correction of the city's second day (so the manifests
    also hold entries of replaced files)."""
    root = tmp_path_factory.mktemp("metadata-privacy") / "data"
    root.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TESOMA_DATA_ROOT", str(root))
        mp.setenv("TESOMA_PSEUDONYM_KEY", TEST_KEY)
        for name in ("TESOMA_LEDGER_URL", "TESOMA_ICEBERG_CATALOG_URL", "TESOMA_ICEBERG_WAREHOUSE"):
            mp.delenv(name, raising=False)
        generate(root, start=START, days=DAYS, residents=1500, seed=42, fault_rate=0.0)
        for feed in FEEDS:
            steps.process_all(feed)
        corrected_day = START + dt.timedelta(days=1)
        land_correction(root / "landing" / "city" / "city_visits" / f"city_visits_{corrected_day:%Y%m%d}.csv")
        assert "published" in {r["state"] for r in steps.process_date("city_visits", corrected_day)}
        yield root


def land_correction(original: Path) -> None:
    """The city's re-delivery of a day (``_2``) without its last visit."""
    raw = original.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
    rows = list(csv.reader(io.StringIO(raw.decode(encoding), newline=""), delimiter=";"))
    text = io.StringIO(newline="")
    csv.writer(text, delimiter=";", lineterminator="\r\n").writerows(rows[:-1])
    original.with_name(original.stem + "_2.csv").write_bytes(text.getvalue().encode(encoding))


# --- what was published -------------------------------------------------------------------------------


def published_ids(warehouse_dir: Path) -> dict[str, set[str]]:
    """Every pseudonym and record id in every data file of the warehouse (replaced files too), by column."""
    values: dict[str, set[str]] = {}
    for path in warehouse_dir.rglob("*.parquet"):
        columns = [c for c in pq.read_schema(path).names if is_pseudonym(c)]
        for column, array in zip(columns, pq.read_table(path, columns=columns).columns, strict=True):
            values.setdefault(column, set()).update(v for v in array.to_pylist() if v)
    return values


# --- what the metadata holds --------------------------------------------------------------------------


def metadata_files(warehouse_dir: Path) -> list[Path]:
    """Every file in a ``metadata`` folder of any table: metadata.json, manifest lists and manifests."""
    return sorted(p for p in warehouse_dir.rglob("*")
                  if p.is_file() and "metadata" in p.relative_to(warehouse_dir).parts)


def _long(data: bytes, at: int) -> tuple[int, int]:
    """An Avro long (zig-zag varint) at ``at``: (value, next position)."""
    shift = result = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), at


def avro_contents(data: bytes) -> tuple[str, list[bytes]]:
    """(codec, [header metadata values…, decompressed data blocks…]) of an Avro object container file."""
    from pyiceberg.avro.codecs import KNOWN_CODECS

    assert data[:4] == b"Obj\x01", "not an Avro object container file"
    at, meta = 4, {}
    while True:
        count, at = _long(data, at)
        if count == 0:
            break
        if count < 0:
            count = -count
            _size, at = _long(data, at)
        for _ in range(count):
            length, at = _long(data, at)
            key = data[at:at + length].decode()
            at += length
            length, at = _long(data, at)
            meta[key] = data[at:at + length]
            at += length
    sync = data[at:at + 16]
    at += 16
    codec = meta.get("avro.codec", b"null").decode()
    decoder = KNOWN_CODECS[codec]
    parts = list(meta.values())
    while at < len(data):
        _objects, at = _long(data, at)
        size, at = _long(data, at)
        block = data[at:at + size]
        at += size
        assert data[at:at + 16] == sync, "an Avro block not followed by the file's sync marker"
        at += 16
        parts.append(decoder.decompress(block) if decoder else block)
    return codec, parts


def readable(path: Path) -> Iterator[tuple[str, bytes]]:
    """What a file says, in every form a value could be found in: its raw bytes and, for Avro files, the
    header and every block decompressed; for gzipped metadata, the content."""
    raw = path.read_bytes()
    yield "raw", raw
    if path.suffix == ".avro":
        codec, parts = avro_contents(raw)
        for part in parts:
            yield f"avro {codec}", part
    if path.name.endswith(".gz.metadata.json") or raw[:2] == b"\x1f\x8b":
        yield "gunzipped", gzip.decompress(raw)


def catalog_rows(catalog_file: Path) -> Iterator[tuple[str, bytes]]:
    """Every cell of every table of the catalog database, as text."""
    with sqlite3.connect(catalog_file) as con:
        tables = [t for (t,) in con.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            for row in con.execute(f'select * from "{table}"'):  # the names come from sqlite_master
                yield f"catalog table {table}", "\t".join(map(str, row)).encode()


def findings(sources: Iterator[tuple[str, bytes]], values: set[str]) -> list[str]:
    """Where any of ``values`` occurs (the place and the value's first characters only: no row data)."""
    wanted = [v.encode() for v in values]
    found = []
    for where, content in sources:
        found += [f"{where}: {v[:6].decode()}…" for v in wanted if v in content]
    return found


def scan_metadata(warehouse_dir: Path, values: set[str]) -> list[str]:
    found = []
    for path in metadata_files(warehouse_dir):
        found += [f"{path.relative_to(warehouse_dir)} ({f})" for f in findings(readable(path), values)]
    return found


def bounds_of(tbl, columns: set[str]) -> list[str]:
    """Data file entries of every manifest of every snapshot (deleted entries too) that carry lower or upper
    bounds of ``columns``."""
    ids = {tbl.schema().find_field(c).field_id: c for c in columns if c in tbl.schema().column_names}
    found, seen = [], set()
    for snapshot in tbl.snapshots():
        for manifest in snapshot.manifests(tbl.io):
            if manifest.manifest_path in seen:
                continue
            seen.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(tbl.io, discard_deleted=False):
                data_file = entry.data_file
                for kind, bounds in (("lower", data_file.lower_bounds), ("upper", data_file.upper_bounds)):
                    found += [f"{Path(data_file.file_path).name}: {kind} bound of {ids[i]}"
                              for i in sorted(set(bounds or {}) & set(ids))]
    assert seen, f"{tbl.name()} has no manifests to look at"
    return found


# --- the tests ----------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_no_pseudonym_or_record_id_in_any_metadata(demo):
    iceberg_dir = demo / "warehouse" / "iceberg"
    values = published_ids(iceberg_dir)
    assert set(values) == {"person_id", "event_id", "professional_id"}
    everything = set().union(*values.values())
    counts = {column: len(v) for column, v in values.items()}  # counts only: no values in a failure message
    assert counts["person_id"] > 100 and counts["event_id"] > 100 and counts["professional_id"] > 20, counts

    files = metadata_files(iceberg_dir)
    for table in PERSON_TABLES:
        names = [p.name for p in files if p.parent.parent.name == table]
        assert any(n.endswith(".metadata.json") for n in names), f"{table}: no metadata.json"
        assert any(n.startswith("snap-") for n in names), f"{table}: no manifest list"
        assert any(n.endswith(".avro") and not n.startswith("snap-") for n in names), f"{table}: no manifest"

    # The scan reads what the manifests say: every delivery's data file path (it starts with the delivery
    # id) is found in their decoded content, which may be compressed on disk.
    delivery_ids = {d.delivery_id for d in Ledger(Place.for_root(demo).ledger_url).all() if d.state != "rejected"}
    decoded = b"".join(part for p in files if p.suffix == ".avro" for kind, part in readable(p) if kind != "raw")
    assert {d for d in delivery_ids if d.encode() not in decoded} == set()

    leaks = scan_metadata(iceberg_dir, everything)
    leaks += findings(catalog_rows(iceberg_dir / "catalog.sqlite"), everything)
    assert not leaks, f"{len(leaks)} pseudonym(s) or record id(s) in Iceberg metadata: {leaks[:10]}"

    catalog = open_catalog(Place.for_root(demo))
    for table in PERSON_TABLES:
        assert bounds_of(load_table(catalog, table), {"person_id", "event_id", "professional_id"}) == []


@pytest.mark.e2e
def test_the_scan_finds_pseudonyms_in_a_table_that_keeps_their_bounds(demo, tmp_path):
    """A copy of a city data file, written with min/max statistics for every column, added to two throwaway
    tables: with the warehouse's table properties its manifest has no bounds of person_id, with
    ``write.metadata.metrics.column.person_id=full`` it has, and the scan finds those pseudonyms."""
    from pyiceberg.catalog.sql import SqlCatalog

    original = next((demo / "warehouse" / "iceberg").glob("*/service_event/data/partner=city/*/*.parquet"))
    rows = pq.read_table(original)
    with_statistics = tmp_path / "with-statistics.parquet"
    pq.write_table(rows, with_statistics)  # pyarrow's default: statistics for every column
    person_ids = {v for v in rows.column("person_id").to_pylist() if v}
    lowest, highest = min(person_ids), max(person_ids)

    scratch = SqlCatalog("scratch", uri=f"sqlite:///{tmp_path / 'catalog.sqlite'}",
                         warehouse=(tmp_path / "iceberg").as_uri())
    scratch.create_namespace(NAMESPACE)
    schema = iceberg_schema(warehouse_schema("service_event"))
    found = {}
    for name, overrides in (("as_published", {}), ("with_bounds", {"write.metadata.metrics.column.person_id": "full"})):
        tbl = scratch.create_table(f"{NAMESPACE}.{name}", schema, partition_spec=partition_spec(schema),
                                   properties={**table_properties("service_event"), **overrides})
        tbl.add_files([str(with_statistics)])
        location = Path(unquote(urlparse(tbl.location()).path))
        found[name] = (scan_metadata(location, person_ids),
                       bounds_of(scratch.load_table(f"{NAMESPACE}.{name}"), {"person_id", "event_id"}))

    assert found["as_published"] == ([], [])
    leaks, bounds = found["with_bounds"]
    assert bounds == [f"{with_statistics.name}: lower bound of person_id",
                      f"{with_statistics.name}: upper bound of person_id"]
    assert any(f"{lowest[:6]}…" in leak for leak in leaks), leaks
    assert any(f"{highest[:6]}…" in leak for leak in leaks), leaks
    assert all(".avro" in leak for leak in leaks), leaks  # in the manifest, nowhere else
