"""`tesoma audit` finds identifying data, names file and column or line, and never prints the value."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tesoma import audit
from tesoma.cli import main
from transforms.pseudonymise.detect import names_from, scan

DAY = dt.date(2026, 10, 1)


def publish(data_root: Path, table: str, partner: str, day: dt.date, rows: list[dict],
            delivery_id: str = "d1") -> None:
    """Publish ``rows`` as the partition (partner, day) of ``table`` the way a delivery's publish does:
    a staged file, one Iceberg commit and a new warehouse state."""
    import sqlalchemy as sa

    from warehouse import commits, states
    from warehouse.iceberg import Place, open_catalog, with_partition_columns
    from warehouse.layout import Layout
    from warehouse.ledger import prepare_schema
    from warehouse.publish import write_parquet
    from warehouse.schemas import TABLES

    schema = TABLES[table]
    staged = Layout(data_root).staging_file(table, delivery_id)
    data = pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)
    write_parquet(with_partition_columns(table, data, partner, day), staged)
    place = Place.for_root(data_root)
    engine = sa.create_engine(place.ledger_url)
    prepare_schema(engine, place.ledger_url)
    change = commits.PartitionChange(table, partner, day, staged, delivery_id,
                                     hashlib.sha256(staged.read_bytes()).hexdigest())
    with states.Publishing(engine, delivery_id) as session:
        snapshot = commits.replace_partition(open_catalog(place), change, session.head.snapshots.get(table))
        session.advance({table: snapshot}, delivery_id)


def event(person: str, i: int = 0, **values) -> dict:
    """A service event of ``person`` on day ``i`` after DAY (only the columns the audit tests need)."""
    return {"event_id": f"{person}-{i}", "person_id": person, "person_id_kind": "hetu", "partner": "city",
            "feed": "city_visits", "event_start": dt.datetime(2026, 10, 1 + i, 8, tzinfo=dt.UTC),
            "event_date": DAY + dt.timedelta(days=i), "delivery_id": "d1", **values}


def test_detectors():
    assert scan("code 131052-308T here")["identity_code"] == 1
    assert scan("new signs 010105B123C and 010190Y1234")["identity_code"] == 2
    assert scan("call +358 40 1234567 or 050-123 4567")["phone_number"] == 2
    assert scan("mail matti.meikalainen@gmail.com")["email_address"] == 1
    assert not scan("support data@tesoma.example; noreply@example.com")  # RFC 2606 documentation domains
    assert scan("Visit by Ella Mäki", {"Ella", "Mäki"})["name"] == 2
    # pseudonyms, dates, postal codes and amounts are not findings
    assert not scan("aafzliwvabdswuvhumlmjp7ily 2026-10-01 33310 20.90 K194249191", {"Ella"})


def test_names_from_name_fields():
    assert names_from(["Ella Sofia", "Mäki-Kuusela", None, "Li"]) == {"Ella", "Sofia", "Mäki-Kuusela"}


def test_audit_names_file_and_column_not_value(tmp_path, data_root, capsys):
    clean = tmp_path / "warehouse" / "clean.parquet"
    clean.parent.mkdir()
    pq.write_table(pa.table({"person_id": ["aafzliwvabdswuvhumlmjp7ily"], "n": [3]}), clean)
    leaky = tmp_path / "warehouse" / "leaky.parquet"
    pq.write_table(pa.table({"note": ["ok", "asiakas 131052-308T soitti"], "n": [1, 2]}), leaky)
    log = tmp_path / "run.log"
    log.write_text("INFO start\nINFO phone +358 40 7654321\n", encoding="utf-8")

    findings, scanned = audit.run(__import__("tesoma.config", fromlist=["settings"]).settings(),
                                  [tmp_path / "warehouse", log])
    assert scanned == 3
    assert {(f.path.name, f.where, f.kind) for f in findings} == {
        ("leaky.parquet", "column note", "identity_code"), ("run.log", "line 2", "phone_number")}

    assert main(["audit", str(tmp_path / "warehouse"), str(log)]) == 1
    out = capsys.readouterr().out
    assert "leaky.parquet: column note" in out and "run.log: line 2" in out
    assert "131052-308T" not in out and "7654321" not in out

    assert main(["audit", str(clean)]) == 0


def test_k_anonymity_of_birth_year_sex_and_postal_code_over_persons(data_root):
    from tesoma.config import settings
    from warehouse import catalog
    from warehouse.layout import Layout

    def events(person: str, birth_year: int, sex: str | None, postal_codes: list[str]) -> list[dict]:
        return [event(person, i, birth_year=birth_year, sex=sex, home_postal_code=code)
                for i, code in enumerate(postal_codes)]

    rows = [
        *(e for p in ("p1", "p2", "p3", "p4", "p5") for e in events(p, 1980, "female", ["33310"])),
        *events("p6", 1980, "female", ["33400", "33310"]),  # moved: counted at the latest postal code
        *events("p7", 1990, "male", ["33300"]), *events("p8", 1990, "male", ["33300", "33300"]),
        *events("p9", 1936, "female", ["33400"]),
        *events("n1", 1950, None, ["33310"]),  # an NGO member without sex: a class of its own
    ]
    publish(data_root, "service_event", "city", DAY, rows)

    assert str(audit.k_anonymity(settings())) == (
        "k-anonymity (birth_year, sex, home_postal_code) over 0 persons: nothing to measure")  # no catalog yet
    catalog.refresh(Layout(data_root))
    measured = audit.k_anonymity(settings())

    assert (measured.persons, measured.smallest_class, measured.persons_under_k, measured.classes_under_k) == (
        10, 1, 4, 3)
    assert str(measured) == ("k-anonymity (birth_year, sex, home_postal_code) over 10 persons: smallest class 1; "
                             "4 persons in 3 classes under 5")


def test_audit_reads_the_iceberg_tables_data_files_and_gets_through_their_metadata(data_root):
    """The warehouse is Iceberg tables: Parquet data files, metadata JSON, Avro manifests and the catalog's
    SQLite database. A leaked value is found in the data file's column; the rest is scanned without error."""
    from tesoma.config import settings

    publish(data_root, "service_event", "city", DAY, [event("p1", home_postal_code="asiakas 131052-308T"),
                                                      event("p2", 1, home_postal_code="33310")])
    warehouse = data_root / "warehouse"
    files = [p for p in warehouse.rglob("*") if p.is_file()]
    assert {".parquet", ".json", ".avro", ".sqlite"} <= {p.suffix for p in files}

    findings, scanned = audit.run(settings(), [warehouse])

    assert scanned == len(files)
    (finding,) = findings
    assert (finding.where, finding.kind, finding.count) == ("column home_postal_code", "identity_code", 1)
    assert finding.path.suffix == ".parquet" and "partner=city/delivery_date=2026-10-01" in finding.path.as_posix()
    targets = audit.default_targets(settings())
    assert warehouse in targets and not [t for t in targets if t != warehouse and t.is_relative_to(warehouse)]


def test_a_value_copied_into_a_manifest_is_found_there(data_root, monkeypatch):
    """Manifests are compressed Avro: the audit decompresses them, so column bounds holding a value of the
    data (what warehouse.iceberg.table_properties prevents for text) would be found."""
    from tesoma.config import settings
    from warehouse import iceberg

    # Bounds for every column; ``feed`` gets Parquet statistics (one value per file), hence bounds.
    monkeypatch.setattr(iceberg, "table_properties", lambda table: {"write.metadata.metrics.default": "full"})
    publish(data_root, "service_event", "city", DAY, [event("p1", feed="asiakas 131052-308T")])

    findings, _ = audit.run(settings(), [data_root / "warehouse"])

    assert {(f.path.suffix, f.where, f.kind) for f in findings} == {
        (".parquet", "column feed", "identity_code"), (".avro", "file", "identity_code")}


def test_a_file_that_is_not_avro_is_reported_not_passed(tmp_path, data_root):
    from tesoma.config import settings

    broken = tmp_path / "manifest.avro"
    broken.write_bytes(b"not avro at all")
    findings, scanned = audit.run(settings(), [broken])
    assert scanned == 1
    assert [(f.where, f.kind) for f in findings] == [("file", "unreadable Avro (not an Avro container file)")]
