"""Warehouse history: tags pin a state for good; expiry drops the rest past retention and deletes its files."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

import warehouse
from warehouse import commits, history, readers, states
from warehouse.commits import local_path
from warehouse.iceberg import Place, WarehouseError, load_table, open_catalog, with_partition_columns
from warehouse.layout import Layout
from warehouse.ledger import prepare_schema
from warehouse.publish import write_parquet
from warehouse.schemas import TABLES

DAY = dt.date(2026, 10, 1)
LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
"""Expiry as if run a day from now: with ``keep_days=0`` every snapshot and file made by a test is old."""


@pytest.fixture
def root(data_root, monkeypatch):
    for name in ("TESOMA_ICEBERG_CATALOG_URL", "TESOMA_ICEBERG_WAREHOUSE", "TESOMA_SNAPSHOT_RETENTION_DAYS"):
        monkeypatch.delenv(name, raising=False)
    return data_root


def t3(delivery_id: str, days: float) -> dict:
    return {"partner": "city", "measure_date": DAY, "unit_code": "U1", "t3_days": days, "delivery_id": delivery_id}


def cost(delivery_id: str, eur: str) -> dict:
    return {"partner": "city", "month": DAY, "cost_eur": Decimal(eur), "delivery_id": delivery_id}


def publish(root, delivery_id: str, tables: dict[str, list[dict]]) -> states.State:
    """One delivery replacing partition city/DAY of each of ``tables``: one new warehouse state."""
    place = Place.for_root(root)
    engine = sa.create_engine(place.ledger_url)
    changes = []
    for table, rows in tables.items():
        schema = TABLES[table]
        staged = Layout(root).staging_file(table, delivery_id)
        data = pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)
        write_parquet(with_partition_columns(table, data, "city", DAY), staged)
        changes.append(commits.PartitionChange(table, "city", DAY, staged, delivery_id,
                                               hashlib.sha256(staged.read_bytes()).hexdigest()))
    prepare_schema(engine, place.ledger_url)
    with states.Publishing(engine, delivery_id) as session:
        snapshots = {c.table: commits.replace_partition(open_catalog(place), c, session.head.snapshots.get(c.table))
                     for c in changes}
        return session.advance(snapshots, delivery_id)


@pytest.fixture
def four_states(root):
    """States 1–4 of access_t3 and cost_month (partition city/2026-10-01); state 2 tagged 'report-1'.

    ====== ============ ===========
    state  access_t3    cost_month
    ====== ============ ===========
    1      d1 (3 days)  d1 (100 €)
    2      d2 (5 days)  d1           ← tagged report-1
    3      d2           d3 (300 €)
    4      d2           d4 (400 €)   ← current
    ====== ============ ===========
    """
    publish(root, "d1", {"access_t3": [t3("d1", 3.0)], "cost_month": [cost("d1", "100.00")]})
    publish(root, "d2", {"access_t3": [t3("d2", 5.0)]})
    publish(root, "d3", {"cost_month": [cost("d3", "300.00")]})
    publish(root, "d4", {"cost_month": [cost("d4", "400.00")]})
    history.tag(Place.for_root(root), "report-1", state_id=2, note="scorecard")
    return root


def data_files(root, table: str) -> list[str]:
    """The Parquet data files on disk of ``table``, by name (``<delivery id>-<hash>.parquet``)."""
    tbl = load_table(open_catalog(Place.for_root(root)), table)
    return sorted(p.name.split("-")[0] for p in (local_path(tbl.location()) / "data").rglob("*.parquet"))


def rows(con, sql: str) -> list[tuple]:
    return con.sql(sql).fetchall()


def test_expiry_drops_old_untagged_states_and_their_files(four_states):
    root = four_states
    assert data_files(root, "access_t3") == ["d1", "d2"]
    assert data_files(root, "cost_month") == ["d1", "d3", "d4"]
    said = []

    result = history.expire(Place.for_root(root), keep_days=0, echo=said.append, now=LATER)

    # access_t3's d1 snapshot (state 1 only) and cost_month's d3 snapshot (state 3 only) are gone.
    assert result["snapshots_expired"] == 2
    assert result["states_expired"] == 2
    assert result["files_deleted"] >= 2 and result["bytes_deleted"] > 0
    assert data_files(root, "access_t3") == ["d2"]
    assert data_files(root, "cost_month") == ["d1", "d4"]  # d1 is the tagged state's
    assert len(said) == 2 and said[0].startswith("tesoma.access_t3: 1 snapshot(s) expired, 1 kept")
    for old in (1, 3):
        with pytest.raises(WarehouseError, match=f"state {old} .* was expired on"):
            warehouse.as_of(old, root)


def test_tagged_and_current_states_read_exactly_as_before_expiry(four_states):
    root = four_states
    history.expire(Place.for_root(root), keep_days=0, echo=lambda _: None, now=LATER)

    tagged = warehouse.as_of("report-1", root)
    assert rows(tagged, "select delivery_id, t3_days from access_t3") == [("d2", 5.0)]
    assert rows(tagged, "select delivery_id, cost_eur from cost_month") == [("d1", Decimal("100.00"))]
    assert rows(tagged, "select state_id from warehouse_state") == [(2,)]
    current = warehouse.as_of(4, root)
    assert rows(current, "select delivery_id, cost_eur from cost_month") == [("d4", Decimal("400.00"))]
    assert rows(current, "select delivery_id from access_t3") == [("d2",)]


def test_every_kept_snapshot_is_whole_after_expiry(four_states):
    """No file a kept snapshot needs is deleted: every remaining snapshot scans in full (manifest lists,
    manifests, data files), and every state that is not expired reads."""
    root = four_states
    place = Place.for_root(root)
    history.expire(place, keep_days=0, echo=lambda _: None, now=LATER)

    catalog = open_catalog(place)
    for table in ("access_t3", "cost_month"):
        tbl = load_table(catalog, table)
        for snap in tbl.metadata.snapshots:
            (task,) = tbl.scan(snapshot_id=snap.snapshot_id).plan_files()  # its manifest list and manifests
            assert pq.read_table(local_path(task.file.file_path)).num_rows == 1
    engine = sa.create_engine(place.ledger_url)
    readable = [s.state_id for s in states.all_states(engine) if s.state_id in (2, 4)]
    for state_id in readable:
        files = readers.files_for(place, states.resolve(engine, state_id))
        assert all(p.exists() for paths in files.values() for p in paths)
    assert readable == [2, 4]


def test_a_second_expiry_finds_nothing_more(four_states):
    place = Place.for_root(four_states)
    history.expire(place, keep_days=0, echo=lambda _: None, now=LATER)

    again = history.expire(place, keep_days=0, echo=lambda _: None, now=LATER)

    assert again == {"snapshots_expired": 0, "states_expired": 0, "files_deleted": 0, "bytes_deleted": 0}


def test_a_missing_referenced_file_stops_the_deleting(four_states):
    """A file a kept snapshot references is not there: the paths may be misread, so nothing is deleted."""
    root = four_states
    tbl = load_table(open_catalog(Place.for_root(root)), "cost_month")
    (kept,) = (local_path(tbl.location()) / "data").rglob("d1-*.parquet")
    kept.unlink()

    with pytest.raises(WarehouseError, match="table tesoma.cost_month: 1 file.* are missing, e.g. .*d1-.* Restore"):
        history.expire(Place.for_root(root), keep_days=0, echo=lambda _: None, now=LATER)
    assert data_files(root, "cost_month") == ["d3", "d4"]


def test_states_within_the_retention_are_kept(four_states):
    result = history.expire(Place.for_root(four_states), keep_days=30, echo=lambda _: None, now=LATER)

    assert result == {"snapshots_expired": 0, "states_expired": 0, "files_deleted": 0, "bytes_deleted": 0}
    assert rows(warehouse.as_of(1, four_states), "select delivery_id from access_t3") == [("d1",)]


def test_young_files_are_never_deleted(four_states):
    """A file placed minutes ago may be about to be committed: even unreferenced, it stays until it is old."""
    root = four_states
    stray = local_path(load_table(open_catalog(Place.for_root(root)), "access_t3").location()) / "data" / "x.tmp"
    stray.write_bytes(b"half a file")

    now = history.expire(Place.for_root(root), keep_days=0, echo=lambda _: None)

    assert now["snapshots_expired"] == 2 and now["files_deleted"] == 0
    assert stray.exists() and data_files(root, "access_t3") == ["d1", "d2"]
    later = history.expire(Place.for_root(root), keep_days=0, echo=lambda _: None, now=LATER)
    assert later["snapshots_expired"] == 0 and later["files_deleted"] >= 3
    assert not stray.exists() and data_files(root, "access_t3") == ["d2"]


def test_an_expiry_that_died_before_marking_is_completed_by_the_next(four_states, monkeypatch):
    place = Place.for_root(four_states)

    def killed(engine, state_ids):
        raise KeyboardInterrupt

    monkeypatch.setattr(states, "mark_expired", killed)
    with pytest.raises(KeyboardInterrupt):
        history.expire(place, keep_days=0, echo=lambda _: None, now=LATER)
    monkeypatch.undo()

    assert history.expire(place, keep_days=0, echo=lambda _: None, now=LATER)["states_expired"] == 2
    with pytest.raises(WarehouseError, match="was expired on"):
        warehouse.as_of(1, four_states)


def test_a_tag_is_an_iceberg_tag_on_each_table(four_states):
    place = Place.for_root(four_states)
    tagged = states.resolve(sa.create_engine(place.ledger_url), "report-1")
    catalog = open_catalog(place)

    for table in ("access_t3", "cost_month"):
        ref = load_table(catalog, table).metadata.refs["report-1"]
        assert (ref.snapshot_id, ref.snapshot_ref_type.value) == (tagged.snapshots[table], "tag")
    # Tagging the same state again changes nothing; the current state by default.
    assert history.tag(place, "report-1", state_id=2).state_id == 2
    assert history.tag(place, "latest-seen").state_id == 4


def test_a_tag_never_moves(four_states):
    with pytest.raises(WarehouseError, match="already pins state 2; tags never move"):
        history.tag(Place.for_root(four_states), "report-1", state_id=3)


def test_tagging_an_unknown_or_expired_state_fails(four_states):
    place = Place.for_root(four_states)
    with pytest.raises(WarehouseError, match="no warehouse state 99; states are 1 to 4"):
        history.tag(place, "x", state_id=99)
    history.expire(place, keep_days=0, echo=lambda _: None, now=LATER)
    with pytest.raises(WarehouseError, match="state 1 .* was expired"):
        history.tag(place, "x", state_id=1)


@pytest.mark.parametrize("name", ["bad name", "main", "42", "2026-10-01", "ä", "", "x" * 201])
def test_a_tag_name_must_be_a_plain_iceberg_ref(root, name):
    with pytest.raises(WarehouseError, match="tag name .* choose another name"):
        history.tag(Place.for_root(root), name)


def test_an_iceberg_ref_of_another_engine_is_not_overwritten(four_states):
    place = Place.for_root(four_states)
    tbl = load_table(open_catalog(place), "cost_month")
    tbl.manage_snapshots().create_branch(tbl.metadata.snapshots[0].snapshot_id, "audit").commit()

    with pytest.raises(WarehouseError, match="table tesoma.cost_month already has an Iceberg branch 'audit'"):
        history.tag(place, "audit")


def test_retention_days_from_the_environment(monkeypatch):
    monkeypatch.delenv("TESOMA_SNAPSHOT_RETENTION_DAYS", raising=False)
    assert history.retention_days() == 400
    monkeypatch.setenv("TESOMA_SNAPSHOT_RETENTION_DAYS", "30")
    assert history.retention_days() == 30
    for bad in ("a year", "-1", "1.5"):
        monkeypatch.setenv("TESOMA_SNAPSHOT_RETENTION_DAYS", bad)
        with pytest.raises(ValueError, match="set it to a whole number of days"):
            history.retention_days()


def test_the_daily_upkeep_expires_by_the_configured_retention(four_states, monkeypatch):
    from tesoma.steps.upkeep import expire_history

    monkeypatch.setenv("TESOMA_SNAPSHOT_RETENTION_DAYS", "0")

    assert expire_history(now=LATER)["states_expired"] == 2
    assert data_files(four_states, "access_t3") == ["d2"]
