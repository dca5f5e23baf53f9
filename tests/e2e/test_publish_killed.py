"""A publish killed anywhere leaves every reader on the previous warehouse state; a rerun completes it.

A real data root: city_visits of 2026-10-01 published, then either the next day or a correction of the
first day (a second file for the date) being published. city_visits writes two tables, service_event
and event_diagnosis, so a publish killed between them would show a torn day (the new events with the
old diagnoses) to anyone reading a table's newest snapshot. A child process publishes, pauses at a
chosen point and is killed with SIGKILL; then the readers — ``read_table``, the analysts' refreshed
DuckDB views and the ledger's head state — must all still show the previous state, the ledger must
still call the previous delivery published, and publishing again must complete the delivery.
"""

from __future__ import annotations

import datetime as dt
import os
import select
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

import warehouse
from synthetic import generate
from tesoma import steps
from tesoma.config import settings
from tests.conftest import TEST_KEY
from warehouse import iceberg, states
from warehouse.ledger import Ledger
from warehouse.readers import read_table

DAY1, DAY2 = dt.date(2026, 10, 1), dt.date(2026, 10, 2)
TABLES = ("service_event", "event_diagnosis")  # what city_visits writes, in this order
PROJECT = Path(__file__).resolve().parents[2]

# Runs in a child process: publish one delivery, but stop at a chosen point, say so, and wait to be killed.
CHILD = textwrap.dedent("""
    import shutil, sys, time
    from tesoma import steps
    from warehouse import commits, states

    delivery_id, point = sys.argv[1:]

    def wait_to_be_killed():
        print(point, flush=True)
        time.sleep(600)

    if point == "between-tables":  # the first table committed, the second not yet
        commit = commits.replace_partition

        def commit_then_stop(catalog, change, base_snapshot_id):
            snapshot = commit(catalog, change, base_snapshot_id)
            wait_to_be_killed()
            return snapshot

        commits.replace_partition = commit_then_stop
    elif point == "before-ledger":  # every table committed, the new state and the deliveries not yet written
        states.Publishing.advance = lambda self, snapshots, delivery_id: wait_to_be_killed()
    elif point == "copying":  # the first kilobyte of the first data file copied into the table's folder
        def slow_copy(src, dst, length=0):
            dst.write(src.read(1024))
            dst.flush()
            wait_to_be_killed()

        shutil.copyfileobj = slow_copy
    steps.publish(delivery_id)
    print("finished without being killed", flush=True)
""")


@pytest.fixture(scope="module")
def staged_days(tmp_path_factory) -> Path:
    """A data root with city_visits of 2026-10-01 and 2026-10-02 landed and staged; nothing published yet
    (so no Iceberg table exists, whose metadata would hold this folder's absolute paths)."""
    root = tmp_path_factory.mktemp("staged") / "data"
    generate(root, start=DAY1, days=2, residents=600, seed=7, fault_rate=0.0)
    with pytest.MonkeyPatch.context() as env:
        _point_at(env, root)
        for day in (DAY1, DAY2):
            for delivery_id in steps.land("city_visits", day):
                assert steps.ingest(delivery_id)["state"] == "staged"
    return root


def _point_at(env: pytest.MonkeyPatch, root: Path) -> None:
    env.setenv("TESOMA_DATA_ROOT", str(root))
    env.setenv("TESOMA_PSEUDONYM_KEY", TEST_KEY)
    for name in ("TESOMA_LEDGER_URL", "TESOMA_ICEBERG_CATALOG_URL", "TESOMA_ICEBERG_WAREHOUSE"):
        env.delenv(name, raising=False)  # the embedded SQLite catalog and ledger under the data root


@pytest.fixture
def root(staged_days, data_root, monkeypatch) -> Path:
    """A copy of the staged days (the environment points at it) with 2026-10-01 published."""
    shutil.copytree(staged_days, data_root, dirs_exist_ok=True, copy_function=shutil.copy2)
    _point_at(monkeypatch, data_root)
    (day1,) = ledger().for_date("city_visits", DAY1)
    assert steps.publish(day1.delivery_id)["state"] == "published"
    return data_root


def ledger() -> Ledger:
    return Ledger(settings().ledger_url)


def land_correction(root: Path) -> str:
    """A corrected file for 2026-10-01 (its last visit withdrawn), landed and staged; its delivery id."""
    folder = root / "landing" / "city" / "city_visits"
    lines = (folder / "city_visits_20261001.csv").read_bytes().splitlines(keepends=True)
    (folder / "city_visits_20261001_2.csv").write_bytes(b"".join(lines[:-1]))
    known = {d.delivery_id for d in ledger().all("city_visits")}
    (correction,) = set(steps.land("city_visits", DAY1)) - known
    assert ledger().get(correction).sequence == 2
    assert steps.ingest(correction)["state"] == "staged"
    return correction


def being_published(root: Path, scenario: str) -> tuple[str, str]:
    """(the delivery about to be published, the published one it follows) for ``scenario``."""
    (day1,) = ledger().for_date("city_visits", DAY1)
    if scenario == "correction":
        return land_correction(root), day1.delivery_id
    (day2,) = ledger().for_date("city_visits", DAY2)
    return day2.delivery_id, day1.delivery_id


def delivery_states(*delivery_ids: str) -> dict[str, str]:
    return {d.delivery_id: d.state for d in ledger().all("city_visits") if d.delivery_id in delivery_ids}


def what_readers_see(root: Path) -> dict:
    """Everything a reader can see: the head state, each table through ``read_table`` and through the
    analysts' freshly refreshed DuckDB views."""
    engine = sa.create_engine(settings().ledger_url)
    head = states.head(engine)
    engine.dispose()
    tables = {t: read_table(root, t) for t in TABLES}
    steps.refresh_catalog()
    con = warehouse.connect(root)
    try:
        views = {t: con.sql(f"select delivery_date, delivery_id, count(*) from {t} "
                            "group by all order by all").fetchall() for t in TABLES}
        (view_state,), = con.sql("select state_id from warehouse_state").fetchall()
    finally:
        con.close()
    return {"head": (head.state_id, head.snapshots), "view_state": view_state, "views": views,
            "rows": {t: None if rows is None else rows.to_pylist() for t, rows in tables.items()},
            "deliveries": {t: by_day(rows) for t, rows in tables.items()}}


def by_day(rows) -> dict[dt.date, set[str]]:
    """The delivery ids whose rows a table shows, per delivery date."""
    days: dict[dt.date, set[str]] = {}
    if rows is None:
        return days
    for day, delivery_id in zip(rows["delivery_date"].to_pylist(), rows["delivery_id"].to_pylist(), strict=True):
        days.setdefault(day, set()).add(delivery_id)
    return days


def assert_no_torn_day(seen: dict) -> None:
    """Every day's events and diagnoses come from one and the same delivery."""
    events, diagnoses = seen["deliveries"]["service_event"], seen["deliveries"]["event_diagnosis"]
    for day, delivery_ids in events.items():
        assert len(delivery_ids) == 1, f"{day}: events of several deliveries {delivery_ids}"
        assert diagnoses.get(day, delivery_ids) == delivery_ids, f"{day}: events and diagnoses of different deliveries"


def newest_snapshot_delivery(table: str) -> str | None:
    """The delivery of a table's newest Iceberg snapshot (what a reader bypassing the states would see)."""
    place = iceberg.Place.for_root(Path(os.environ["TESOMA_DATA_ROOT"]))
    snapshot = iceberg.load_table(iceberg.open_catalog(place), table).current_snapshot()
    return snapshot.summary.additional_properties.get("tesoma.delivery-id") if snapshot else None


def publish_and_kill(delivery_id: str, point: str, logs: Path) -> None:
    """Publish ``delivery_id`` in a child process, SIGKILL it once it reports ``point``."""
    with (logs / f"{point}.stderr").open("w+") as stderr:
        child = subprocess.Popen([sys.executable, "-c", CHILD, delivery_id, point], stdout=subprocess.PIPE,
                                 stderr=stderr, text=True, cwd=PROJECT, env={**os.environ})
        try:
            said = _first_line(child, timeout=90)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            child.stdout.close()
        stderr.seek(0)
        assert said == point, f"the child said {said!r} instead of {point!r}; its stderr:\n{stderr.read()[-3000:]}"


def _first_line(child: subprocess.Popen, timeout: float) -> str:
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    return child.stdout.readline().strip() if ready else f"nothing in {timeout} s"


@pytest.mark.e2e
@pytest.mark.parametrize("point", ["between-tables", "before-ledger"])
def test_a_correction_killed_after_a_commit_shows_nothing_of_it(root, tmp_path, point):
    correction, original = being_published(root, "correction")
    before = what_readers_see(root)
    states_before = delivery_states(correction, original)
    assert states_before == {original: "published", correction: "staged"}

    publish_and_kill(correction, point, tmp_path)

    # The kill came after a table commit: the table's newest snapshot is the correction's …
    assert newest_snapshot_delivery("service_event") == correction
    assert newest_snapshot_delivery("event_diagnosis") == (correction if point == "before-ledger" else original)
    # … and yet no reader sees any of it, and the ledger says so: the original not superseded.
    after = what_readers_see(root)
    assert after == before
    assert after["view_state"] == before["head"][0]
    assert_no_torn_day(after)
    assert delivery_states(correction, original) == states_before

    # Published again, it completes: both tables show the correction, in one new state.
    assert steps.publish(correction)["state"] == "published"
    done = what_readers_see(root)
    assert done["head"][0] == done["view_state"] == before["head"][0] + 1
    assert len(states.all_states(sa.create_engine(settings().ledger_url))) == done["head"][0]
    assert_no_torn_day(done)
    assert {t: done["deliveries"][t] for t in TABLES} == {t: {DAY1: {correction}} for t in TABLES}
    assert delivery_states(correction, original) == {original: "superseded", correction: "published"}
    assert ledger().get(original).rows_published == 0


@pytest.mark.e2e
def test_a_publish_killed_while_copying_leaves_nothing_visible(root, tmp_path):
    day2, day1 = being_published(root, "next-day")
    before = what_readers_see(root)
    states_before = delivery_states(day2, day1)

    publish_and_kill(day2, "copying", tmp_path)

    assert newest_snapshot_delivery("service_event") == day1  # no commit was made
    assert what_readers_see(root) == before
    assert delivery_states(day2, day1) == states_before
    half_copied = list((root / "warehouse" / "iceberg").rglob("partner=city/delivery_date=2026-10-02/.*.parquet.*"))
    assert half_copied, "the kill left the half-copied file behind (as a crash would)"

    assert steps.publish(day2)["state"] == "published"
    done = what_readers_see(root)
    assert done["head"][0] == done["view_state"] == before["head"][0] + 1
    assert_no_torn_day(done)
    assert {t: done["deliveries"][t] for t in TABLES} == {t: {DAY1: {day1}, DAY2: {day2}} for t in TABLES}
    assert delivery_states(day2, day1) == {day1: "published", day2: "published"}


@pytest.mark.e2e
def test_publishing_the_same_delivery_again_commits_nothing(root):
    (day1,) = ledger().for_date("city_visits", DAY1)
    engine = sa.create_engine(settings().ledger_url)
    catalog = iceberg.open_catalog(iceberg.Place.for_root(root))

    def history() -> dict[str, list[int]]:
        return {t: [s.snapshot_id for s in iceberg.load_table(catalog, t).snapshots()] for t in TABLES}

    snapshots, all_states = history(), states.all_states(engine)

    again = steps.publish(day1.delivery_id)

    assert again["state"] == "published" and again["warehouse_state"] == all_states[-1].state_id
    assert history() == snapshots  # no new Iceberg snapshot in either table
    assert states.all_states(engine) == all_states  # no new warehouse state
    assert again["rows_published"] == ledger().get(day1.delivery_id).rows_published == day1.rows_published
