"""A batch publishes like one delivery at a time: the same rows, the same ledger, in one state.

Three days of city_visits (two tables: service_event and event_diagnosis), with a correction of the
first day (a second file, its last visit withdrawn) and a broken file for the third day (rejected), are
processed twice from the same landed files: once delivery by delivery (``tesoma.steps.process_date`` per
date, one commit per table and one warehouse state per delivery) and once as one batch
(``tesoma.steps.process_batch``). Readers must see the same rows and the ledger must say the same of
every delivery; the batch made one new warehouse state and one Iceberg snapshot per table.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from synthetic import generate
from tesoma import steps
from tesoma.config import settings
from tesoma.steps.batches import batches_of, delivery_dates, partition
from tests.conftest import TEST_KEY
from warehouse import commits, iceberg, states
from warehouse.ledger import Ledger
from warehouse.readers import read_table

FEED = "city_visits"
DAYS = [dt.date(2026, 10, 1), dt.date(2026, 10, 2), dt.date(2026, 10, 3)]
TABLES = ("service_event", "event_diagnosis")


@pytest.fixture(scope="module")
def landing_only(tmp_path_factory) -> Path:
    """A data root with three days of city_visits in landing/, a correction for day 1 and a broken day 3;
    nothing processed yet (no Iceberg table, whose metadata would hold this folder's absolute paths)."""
    root = tmp_path_factory.mktemp("landing") / "data"
    generate(root, start=DAYS[0], days=len(DAYS), residents=400, seed=11, fault_rate=0.0)
    folder = root / "landing" / "city" / FEED
    for other in (root / "landing").glob("*/*"):
        if other.name != FEED:
            shutil.rmtree(other)  # this test is about one feed: keep generating cheap and the roots small
    lines = (folder / "city_visits_20261001.csv").read_bytes().splitlines(keepends=True)
    (folder / "city_visits_20261001_2.csv").write_bytes(b"".join(lines[:-1]))
    (folder / "city_visits_20261003.csv").write_bytes(b"this is not the agreed export\n")
    return root


def use(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TESOMA_DATA_ROOT", str(root))
    monkeypatch.setenv("TESOMA_PSEUDONYM_KEY", TEST_KEY)
    for name in ("TESOMA_LEDGER_URL", "TESOMA_ICEBERG_CATALOG_URL", "TESOMA_ICEBERG_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    return root


def copy_of(landing_only: Path, where: Path) -> Path:
    shutil.copytree(landing_only, where, copy_function=shutil.copy2)
    return where


def ledger() -> Ledger:
    return Ledger(settings().ledger_url)


def engine() -> sa.Engine:
    return ledger().engine


def seen(root: Path) -> dict:
    """What readers and the ledger say: every table's rows (sorted) and every delivery's accounting."""
    rows = {}
    for table in TABLES:
        data = read_table(root, table)
        rows[table] = sorted(map(repr, data.to_pylist())) if data is not None else []
    deliveries = {d.delivery_id: (d.state, d.rows_read, d.rows_published, d.rows_quarantined, d.reason)
                  for d in ledger().all(FEED)}
    return {"rows": rows, "deliveries": deliveries}


def snapshot_counts(root: Path) -> dict[str, int]:
    catalog = iceberg.open_catalog(iceberg.Place.for_root(root))
    return {t: len(iceberg.load_table(catalog, t).snapshots()) for t in TABLES}


@pytest.fixture(scope="module")
def one_by_one(landing_only, tmp_path_factory) -> dict:
    """The three days processed delivery by delivery, as the daily runs do."""
    with pytest.MonkeyPatch.context() as env:
        root = use(copy_of(landing_only, tmp_path_factory.mktemp("one_by_one") / "data"), env)
        for day in DAYS:
            steps.process_date(FEED, day)
        return {**seen(root), "states": len(states.all_states(engine()))}


def test_a_batch_publishes_exactly_what_one_delivery_at_a_time_publishes(landing_only, one_by_one, tmp_path,
                                                                          monkeypatch):
    root = use(copy_of(landing_only, tmp_path / "data"), monkeypatch)

    result = steps.process_batch(FEED, [d.isoformat() for d in DAYS])

    assert seen(root) == {"rows": one_by_one["rows"], "deliveries": one_by_one["deliveries"]}
    # the scenario is the one meant: a superseded first file, its correction on top, a rejected day 3
    by_state: dict[str, list[tuple[str, int]]] = {}
    for d in ledger().all(FEED):
        by_state.setdefault(d.state, []).append((d.delivery_date.isoformat(), d.sequence))
    assert sorted(by_state["published"]) == [("2026-10-01", 2), ("2026-10-02", 1)]
    assert by_state["superseded"] == [("2026-10-01", 1)]
    assert by_state["rejected"] == [("2026-10-03", 1)]
    assert all(rows for rows in one_by_one["rows"].values())
    # the batch says how much memory its process took at most (the limit is 1 GiB per task)
    assert 0 < result["peak_rss_mib"] < 1024
    # one warehouse state and one snapshot per table for the batch, against one per published delivery
    assert one_by_one["states"] == 2
    assert len(states.all_states(engine())) == 1
    assert snapshot_counts(root) == {t: 1 for t in TABLES}
    # what the UI shows: every delivery with its state, and the rejection with its reason
    assert result["counts"] | {"rows_read": 0, "rows_published": 0, "rows_quarantined": 0} == {
        "deliveries": 4, "published": 2, "superseded": 1, "rejected": 1, "staged": 0, "landed": 0,
        "already_done": 0, "rows_read": 0, "rows_published": 0, "rows_quarantined": 0}
    (rejected,) = [r for r in result["deliveries"] if r["state"] == "rejected"]
    assert rejected["delivery_date"] == "2026-10-03" and rejected["reason"] and rejected["message"]
    assert result["counts"]["rows_published"] == sum(
        d.rows_published for d in ledger().all(FEED) if d.state == "published")

    # Run again: nothing new is committed or recorded; deliveries already done are not processed again.
    again = steps.process_batch(FEED, [d.isoformat() for d in DAYS])
    assert again["counts"]["already_done"] == 3
    assert seen(root)["deliveries"] == one_by_one["deliveries"]
    assert len(states.all_states(engine())) == 1 and snapshot_counts(root) == {t: 1 for t in TABLES}


def test_publishing_a_batch_again_commits_nothing(landing_only, tmp_path, monkeypatch):
    root = use(copy_of(landing_only, tmp_path / "data"), monkeypatch)
    ids = [d for day in DAYS[:2] for d in steps.land(FEED, day)]
    for d in ids:
        steps.ingest(d)
    first = steps.publish_batch(ids)
    before = (seen(root), states.all_states(engine()), snapshot_counts(root))

    again = steps.publish_batch(ids)

    assert again == first
    assert (seen(root), states.all_states(engine()), snapshot_counts(root)) == before


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs in the process (no ``except Exception`` catches it)."""


@pytest.mark.parametrize("point", ["between-tables", "before-ledger"])
def test_a_batch_killed_after_a_commit_shows_nothing_of_it(landing_only, one_by_one, tmp_path, monkeypatch, point):
    """Day 2 published alone; then a batch of day 1 (a file and its correction) and day 3 dies after a
    table commit. Readers stay on the earlier state, the ledger unchanged; publishing again completes."""
    root = use(copy_of(landing_only, tmp_path / "data"), monkeypatch)
    ids = [d for day in DAYS for d in steps.land(FEED, day)]
    (first,) = [d.delivery_id for d in ledger().for_date(FEED, DAYS[1])]
    steps.ingest(first)
    steps.publish(first)
    rest = [d for d in ids if d != first]
    for d in rest:
        steps.ingest(d)
    before = (seen(root), states.head(engine()))

    if point == "between-tables":
        commit = commits.replace_partitions

        def die_after_the_first_table(catalog, table, changes, base):
            if table == TABLES[1]:  # service_event is committed by now
                raise Killed
            return commit(catalog, table, changes, base)

        monkeypatch.setattr(commits, "replace_partitions", die_after_the_first_table)
    else:
        def die(self, snapshots, delivery_id):
            raise Killed

        monkeypatch.setattr(states.Publishing, "advance", die)
    with pytest.raises(Killed):
        steps.publish_batch(rest)
    monkeypatch.undo()
    use(root, monkeypatch)

    # the kill came after a commit: service_event's newest snapshot is the batch's …
    catalog = iceberg.open_catalog(iceberg.Place.for_root(root))
    newest = iceberg.load_table(catalog, TABLES[0]).current_snapshot().summary.additional_properties
    assert set(newest["tesoma.delivery-ids"].split(",")) <= set(rest)
    # … and yet readers see none of it, and the ledger says so
    assert (seen(root), states.head(engine())) == before
    assert steps.publish_batch(rest)
    assert seen(root) == {"rows": one_by_one["rows"], "deliveries": one_by_one["deliveries"]}
    assert states.head(engine()).state_id == before[1].state_id + 1


def test_partitions_and_batches():
    assert partition("city/2026-10-01") == ("city", dt.date(2026, 10, 1))
    assert partition("ngo/mll/2026-10-01") == ("ngo/mll", dt.date(2026, 10, 1))
    assert partition("2026-10-01") == (None, dt.date(2026, 10, 1))
    with pytest.raises(ValueError, match="not a partition"):
        partition("city/yesterday")
    assert batches_of(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert batches_of([], 8) == []


def test_a_month_of_a_drop_feed_is_its_landed_dates(landing_only, monkeypatch):
    use(landing_only, monkeypatch)
    assert delivery_dates(FEED, dt.date(2026, 10, 17)) == [d.isoformat() for d in DAYS]
    assert delivery_dates(FEED, dt.date(2026, 11, 1)) == []
    # A backfill's range that starts or ends mid-month: its first and last month are processed in part.
    assert delivery_dates(FEED, dt.date(2026, 10, 1), within=(DAYS[1], dt.date(2026, 12, 31))) == [
        DAYS[1].isoformat(), DAYS[2].isoformat()]
    assert delivery_dates(FEED, dt.date(2026, 10, 1), within=(dt.date(2026, 9, 1), DAYS[0])) == [DAYS[0].isoformat()]


def test_a_month_before_the_service_period_is_loaded_only_with_the_history_setting(data_root, monkeypatch):
    folder = data_root / "landing" / "city" / FEED
    folder.mkdir(parents=True)
    for day in (3, 4):
        (folder / f"city_visits_2022010{day}.csv").write_text("")  # names only: the month's dates are listed
    monkeypatch.delenv("TESOMA_HISTORY_FROM", raising=False)
    assert delivery_dates(FEED, dt.date(2022, 1, 1)) == []
    monkeypatch.setenv("TESOMA_HISTORY_FROM", "2021-11-01")
    assert delivery_dates(FEED, dt.date(2022, 1, 1)) == ["2022-01-03", "2022-01-04"]
