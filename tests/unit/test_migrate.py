"""`tesoma warehouse migrate`: a data root of the pre-Iceberg layout becomes Iceberg tables, once."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil

import pyarrow as pa
import pytest
import sqlalchemy as sa

from tesoma import cli, steps
from warehouse import catalog, migrate, states
from warehouse.iceberg import NeedsMigration, Place, WarehouseError, load_table, open_catalog
from warehouse.layout import Layout
from warehouse.ledger import Ledger
from warehouse.publish import PART_FILE, write_parquet
from warehouse.readers import read_table
from warehouse.schemas import TABLES

OCT_1, OCT_2 = dt.date(2026, 10, 1), dt.date(2026, 10, 2)


def land(ledger: Ledger, partner: str, feed: str, day: dt.date, rows: int) -> str:
    """A delivery as the old pipeline left it in the ledger: published, its rows accounted for."""
    sha = hashlib.sha256(f"{feed}{partner}{day}".encode()).hexdigest()
    delivery, _ = ledger.record_landed(partner=partner, feed=feed, delivery_date=day, sequence=1,
                                       source_name=f"{feed}_{day:%Y%m%d}.csv", sha256=sha,
                                       raw_path=f"raw/{partner}/{feed}/{sha}.csv", size_bytes=100, arrived_at=None)
    ledger.update(delivery.delivery_id, state="published", rows_read=rows + 1, rows_quarantined=1,
                  rows_published=rows)
    return delivery.delivery_id


def service_events(delivery_id: str, n: int) -> pa.Table:
    """Canonical service_event rows (it has a partner column but no delivery_date)."""
    schema = TABLES["service_event"]
    given = {"event_id": [f"{delivery_id}-e{i}" for i in range(n)], "person_id": [f"p{i}" for i in range(n)],
             "person_id_kind": ["hetu"] * n, "partner": ["city"] * n, "feed": ["city_visits"] * n,
             "duration_min": list(range(n)), "delivery_id": [delivery_id] * n}
    return pa.table({f.name: pa.array(given.get(f.name, [None] * n), f.type) for f in schema}, schema=schema)


def population(delivery_id: str, n: int) -> pa.Table:
    """Canonical population rows (no partner column at all)."""
    return pa.table({"year": pa.array([2026] * n, pa.int16()), "postal_code": [f"331{i:02d}" for i in range(n)],
                     "age_band": ["0-4"] * n, "sex": ["female"] * n, "residents": pa.array([10 + i for i in range(n)],
                                                                                        pa.int32()),
                     "delivery_id": [delivery_id] * n}, schema=TABLES["population"])


def old_file(root, table: str, partner: str, day: dt.date, data: pa.Table):
    path = Layout(root).partition_dir(table, partner, day) / PART_FILE
    write_parquet(data, path)
    return path


@pytest.fixture
def old_root(data_root):
    """A data root of the old layout: service_event for two dates, population for one; the ledger's rows."""
    ledger = Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}")
    expected = {"service_event": [], "population": []}
    for day, n in ((OCT_1, 3), (OCT_2, 2)):
        data = service_events(land(ledger, "city", "city_visits", day, n), n)
        old_file(data_root, "service_event", "city", day, data)
        expected["service_event"] += [{**row, "delivery_date": day} for row in data.to_pylist()]
    data = population(land(ledger, "reference", "population", OCT_1, 2), 2)
    old_file(data_root, "population", "reference", OCT_1, data)
    expected["population"] = [{**row, "partner": "reference", "delivery_date": OCT_1} for row in data.to_pylist()]
    return data_root, expected


def engine(root):
    return sa.create_engine(f"sqlite:///{root / 'ledger.sqlite'}")


def rows(root, table: str) -> list[dict]:
    return sorted(read_table(root, table).to_pylist(), key=lambda r: sorted((k, str(v)) for k, v in r.items()))


def expected_rows(expected: list[dict]) -> list[dict]:
    return sorted(expected, key=lambda r: sorted((k, str(v)) for k, v in r.items()))


def snapshot_count(root, table: str) -> int:
    return len(load_table(open_catalog(Place.for_root(root)), table).snapshots())


def test_an_old_data_root_is_refused_until_migrated(old_root):
    root, _ = old_root
    with pytest.raises(NeedsMigration, match="tesoma warehouse migrate"):
        catalog.refresh(Layout(root))
    with pytest.raises(NeedsMigration, match="tesoma warehouse migrate"):
        steps.publish("city_visits-city-20261001-1-00000000")


def test_migrate_keeps_the_rows_and_the_ledger_in_one_state(old_root):
    root, expected = old_root
    before = Ledger(f"sqlite:///{root / 'ledger.sqlite'}").all()
    lines = []

    result = migrate.migrate(root, echo=lines.append)

    assert result == {"partitions": 3, "tables": 2, "skipped": 0, "empty": 0, "state_id": 1}
    assert rows(root, "service_event") == expected_rows(expected["service_event"])
    assert rows(root, "population") == expected_rows(expected["population"])
    assert read_table(root, "population").column_names[-2:] == ["partner", "delivery_date"]
    assert Ledger(f"sqlite:///{root / 'ledger.sqlite'}").all() == before  # rows_published etc. untouched
    assert [(s.state_id, s.delivery_id) for s in states.all_states(engine(root))] == [(1, None)]
    assert snapshot_count(root, "service_event") == 1  # one commit for both of its partitions
    assert "service_event: 2 partitions added (5 rows), 0 already there" in lines
    assert "population: 1 partitions added (2 rows), 0 already there" in lines
    old = root / "warehouse" / "harmonised.pre-iceberg"
    assert not (root / "warehouse" / "harmonised").exists()
    assert (old / "service_event" / "partner=city" / "delivery_date=2026-10-01" / PART_FILE).exists()
    assert any(f"rm -r '{old}'" in line for line in lines)
    assert catalog.refresh(Layout(root))[:2] == ["service_event", "population"]  # no longer refused


def test_a_second_run_migrates_nothing(old_root):
    root, expected = old_root
    migrate.migrate(root, echo=lambda _: None)
    lines = []

    result = migrate.migrate(root, echo=lines.append)

    assert result == {"partitions": 0, "tables": 0, "skipped": 0, "empty": 0, "state_id": 1}
    assert len(states.all_states(engine(root))) == 1
    assert snapshot_count(root, "service_event") == 1
    assert rows(root, "service_event") == expected_rows(expected["service_event"])
    assert lines == [f"nothing to migrate: {root / 'warehouse' / 'harmonised'} holds no Parquet files (the old "
                     f"files are in {root / 'warehouse' / 'harmonised.pre-iceberg'})"]


def test_partitions_already_in_the_tables_are_skipped(old_root):
    """The old folder put back after a migration (say, from a backup): every partition is found in place."""
    root, expected = old_root
    migrate.migrate(root, echo=lambda _: None)
    shutil.copytree(root / "warehouse" / "harmonised.pre-iceberg", root / "warehouse" / "harmonised")

    result = migrate.migrate(root, echo=lambda _: None)

    assert result == {"partitions": 0, "tables": 2, "skipped": 3, "empty": 0, "state_id": 1}
    assert snapshot_count(root, "service_event") == 1
    assert rows(root, "population") == expected_rows(expected["population"])
    assert (root / "warehouse" / "harmonised.pre-iceberg-2").is_dir()  # the earlier copy is not overwritten


def test_a_migration_killed_before_its_state_leaves_nothing_visible_and_a_rerun_completes(old_root, monkeypatch):
    root, expected = old_root

    def killed(self, snapshots, delivery_id):
        raise KeyboardInterrupt  # the tables are committed, the state is not

    monkeypatch.setattr(states.Publishing, "advance", killed)
    with pytest.raises(KeyboardInterrupt):
        migrate.migrate(root, echo=lambda _: None)
    monkeypatch.undo()

    assert snapshot_count(root, "service_event") == 1  # its commit was made…
    assert states.head(engine(root)).state_id is None  # …but no state records it
    assert read_table(root, "service_event") is None
    assert (root / "warehouse" / "harmonised").is_dir()
    with pytest.raises(NeedsMigration):
        catalog.refresh(Layout(root))

    result = migrate.migrate(root, echo=lambda _: None)

    assert result == {"partitions": 3, "tables": 2, "skipped": 0, "empty": 0, "state_id": 1}
    assert rows(root, "service_event") == expected_rows(expected["service_event"])
    assert rows(root, "population") == expected_rows(expected["population"])
    assert not (root / "warehouse" / "harmonised").exists()


def test_a_file_whose_delivery_is_not_in_the_ledger_stops_the_migration_before_any_change(old_root):
    root, _ = old_root
    stray = old_file(root, "population", "reference", OCT_2, population("population-reference-gone", 1))

    with pytest.raises(WarehouseError, match="not in the ledger") as caught:
        migrate.migrate(root, echo=lambda _: None)

    assert str(stray) in str(caught.value)
    assert "tesoma warehouse migrate" in str(caught.value)
    assert states.head(engine(root)).state_id is None
    assert (root / "warehouse" / "harmonised").is_dir()
    assert not (root / "warehouse" / "iceberg").exists()  # nothing written at all


def test_an_unreadable_file_is_named_with_what_to_do(old_root):
    root, _ = old_root
    broken = Layout(root).partition_dir("population", "reference", OCT_2) / PART_FILE
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"not parquet")

    with pytest.raises(WarehouseError, match="cannot be read") as caught:
        migrate.migrate(root, echo=lambda _: None)

    assert str(broken) in str(caught.value)
    assert "restore it from the backup" in str(caught.value)
    assert states.head(engine(root)).state_id is None


def test_the_cli_prints_the_summary(old_root, capsys):
    root, _ = old_root

    assert cli.main(["warehouse", "migrate"]) == 0

    out = capsys.readouterr().out
    assert ("migrated 3 partitions of 2 tables into Iceberg (0 already there, 0 empty left out); warehouse "
            "state 1") in out
    assert "service_event: 2 partitions added (5 rows), 0 already there" in out
    assert "catalog refreshed: service_event, population" in out  # the old views read the renamed folder
    assert cli.main(["warehouse", "migrate"]) == 0
    again = capsys.readouterr().out
    assert "migrated 0 partitions of 0 tables into Iceberg (0 already there, 0 empty left out); warehouse state 1" \
        in again
    assert "catalog refreshed" not in again
