"""`tesoma generate --scale county`: the county's deliveries, at a tiny scale (a few thousand residents)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pytest

from synthetic import city, city_visits
from synthetic.county_deliveries import CountyDeliveries, city_visits_bytes, generate_county_deliveries
from synthetic.fileformats import Table, delimited_text
from tesoma.check import check_file

LAST_MONTH = dt.date(2026, 10, 1)
FIRST_DAY = dt.date(2026, 9, 1)
DAYS = [FIRST_DAY + dt.timedelta(days=i) for i in range(61)]  # September and October 2026


@pytest.fixture(scope="module")
def county_root(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("county")
    summary = generate_county_deliveries(root, residents=2_500, months=2, last_month=LAST_MONTH, seed=7,
                                         fault_rate=0.05)
    return root, summary


def _files(root: Path) -> dict[str, tuple[str, int]]:
    return {p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_feed_delivers_for_every_day_and_period(county_root):
    root, summary = county_root
    feeds = summary["feeds"]
    for feed in ("city_visits", "city_activity", "city_access", "mehilainen_fhir"):
        first = [d for d in feeds[feed]["deliveries"] if d["sequence"] == 1]
        assert [d["covers"] for d in first] == [d.isoformat() for d in DAYS], feed
    costs = {(d["partner"], d["covers"]) for d in feeds["costs"]["deliveries"]}
    assert costs == {(p, m) for p in ("city", "mehilainen", "ngo_mll", "ngo_setlementti")
                     for m in ("2026-09", "2026-10")}
    assert [d["covers"] for d in feeds["population"]["deliveries"]] == ["2026"]
    for partner in ("ngo_mll", "ngo_setlementti"):
        days = {d["covers"] for d in feeds["ngo_activity"]["deliveries"] if d["partner"] == partner}
        assert len(days) > 20, partner  # groups meet on most working days
    # Every recorded file is on disk, with the recorded bytes and the arrival time as its mtime.
    for info in feeds.values():
        for delivery in info["deliveries"]:
            arrived = dt.datetime.fromisoformat(delivery["arrived_at"]).timestamp()
            for f in delivery["files"]:
                data = (root / f["path"]).read_bytes()
                assert hashlib.sha256(data).hexdigest() == f["sha256"]
                assert (root / f["path"]).stat().st_mtime <= arrived
    # About 0.79 contacts a resident and month, most of them as rows of city_visits and the FHIR exports.
    assert 3_000 < summary["contacts"] < 5_000
    assert feeds["city_visits"]["rows"] + feeds["mehilainen_fhir"]["rows"] > summary["contacts"]
    assert json.loads((root / "landing" / "_generated.json").read_text())["arguments"]["scale"] == "county"


def _checks(feed: str, path: str) -> list[str]:
    if feed == "ngo_activity":
        if path.endswith("_osallistujat.csv"):
            return ["ngo_attendance"]
        return ["ngo_activity", "ngo_attendance"] if path.endswith(".xlsx") else ["ngo_activity"]
    return [feed]


def test_the_files_pass_the_partners_check_except_the_broken_ones(county_root):
    root, summary = county_root
    breaking = ("wrong_encoding", "duplicate_rows", "invalid_codes")
    broken = {f["path"] for f in summary["faults"] if f["kind"] in breaking}
    assert broken
    checked = 0
    for feed, info in summary["feeds"].items():
        for delivery in info["deliveries"]:
            paths = [f["path"] for f in delivery["files"]]
            if feed == "mehilainen_fhir":
                paths = [paths[0].rsplit("/", 1)[0]]
            for path in paths:
                file_broken = path in broken or any(path.startswith(b + "/") or b.startswith(path + "/")
                                                    for b in broken)
                for contract in _checks(feed, path):
                    problems, _, _ = check_file(contract, root / path)
                    checked += 1
                    if file_broken:
                        assert problems, f"{path} was broken on purpose but passes the check"
                    else:
                        assert not problems, f"{path}: {problems[:3]}"
    assert checked > 400


def test_corrected_and_late_deliveries_are_there(county_root):
    root, summary = county_root
    kinds = {f["kind"] for f in summary["faults"]}
    assert {"redelivery", "late_file", "duplicate_rows", "invalid_codes", "wrong_encoding"} <= kinds
    redelivery = next(f for f in summary["faults"] if f["kind"] == "redelivery")
    second = next(d for d in summary["feeds"]["city_visits"]["deliveries"]
                  if d["sequence"] == 2 and d["replaces"] == redelivery["path"])
    assert second["files"][0]["path"] == redelivery["corrected_path"]
    assert (root / redelivery["corrected_path"]).stat().st_mtime > (root / redelivery["path"]).stat().st_mtime
    late = next(f for f in summary["faults"] if f["kind"] == "late_file")
    assert dt.datetime.fromisoformat(late["arrived_at"]) - dt.datetime.fromisoformat(late["expected_at"]) == \
        dt.timedelta(days=2)


def test_the_reporting_database_holds_the_latest_version_of_every_visit(county_root):
    root, summary = county_root
    with sqlite3.connect(root / "sources" / "city_reporting.sqlite") as db:
        rows = db.execute("SELECT kaynti_id, paivitetty, kesto_min, asiakasmaksu, diagnoosi FROM kaynnit").fetchall()
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "ix_kaynnit_paivitetty" in indexes
    assert len(rows) == summary["sources"]["city_reporting"]["rows"] > 2_000
    assert len({r[0] for r in rows}) == len(rows)
    assert all(isinstance(r[2], int) and isinstance(r[3], int | float) and r[4] != "" for r in rows)  # NUMERIC
    # Some visits have a later version: the database holds it, dated after the visit's first file.
    updated = [r for r in rows if dt.date.fromisoformat(r[1][:10]) > FIRST_DAY]
    assert updated


def test_same_seed_same_files(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for root in (one, two):
        generate_county_deliveries(root, residents=1_500, months=1, last_month=LAST_MONTH, seed=3, fault_rate=0.05)
    assert _files(one) == _files(two)
    generate_county_deliveries(two, residents=1_500, months=1, last_month=LAST_MONTH, seed=4, fault_rate=0.05)
    assert _files(one) != _files(two)


def test_the_fast_rendering_writes_what_the_demo_writer_would(tmp_path):
    run = CountyDeliveries(tmp_path, residents=1_500, months=1, last_month=LAST_MONTH, seed=5, fault_rate=0)
    steps = run.days()
    next(steps)
    steps.close()
    path = tmp_path / city.landing_path("city_visits", LAST_MONTH)
    data = path.read_bytes()
    encoding = city.day_encoding(5, "city_visits", LAST_MONTH)
    rows = list(__import__("csv").reader(data.decode(encoding).splitlines(keepends=True), delimiter=";"))
    assert rows[0] == list(city_visits.COLUMNS) and len(rows) > 20
    assert data == delimited_text(Table(rows[0], rows[1:])).encode(encoding)
    columns = [pa.array(column, pa.string()) for column in zip(*rows[1:], strict=True)]
    assert city_visits_bytes(columns, "cp1252") == delimited_text(Table(rows[0], rows[1:])).encode("cp1252")
    export = tmp_path / "landing" / "mehilainen" / "mehilainen_fhir" / f"{LAST_MONTH:%Y%m%d}"
    for name in ("Patient", "Encounter", "Condition"):
        for line in (export / f"{name}.000.ndjson").read_text(encoding="utf-8").splitlines():
            assert json.dumps(json.loads(line), ensure_ascii=False, separators=(",", ":")) == line


def test_generation_streams_day_by_day(tmp_path):
    """Each step writes one day and yields: the second day's files do not exist after the first step, and
    memory does not grow with the number of months."""
    run = CountyDeliveries(tmp_path / "a", residents=1_500, months=2, last_month=LAST_MONTH, seed=5, fault_rate=0)
    steps = run.days()
    first = next(steps)
    assert first.day == FIRST_DAY
    visits = tmp_path / "a" / "landing" / "city" / "city_visits"
    assert sorted(p.name for p in visits.iterdir()) == ["city_visits_20260901.csv"]
    steps.close()

    def peak(months: int) -> int:
        run = CountyDeliveries(tmp_path / f"m{months}", residents=1_000, months=months, last_month=LAST_MONTH,
                               seed=5, fault_rate=0)
        tracemalloc.start()
        try:
            for _ in run.days():
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    one, three = peak(1), peak(3)
    assert three < 1.5 * one, (one, three)


def test_tesoma_run_processes_a_county_day(data_root, monkeypatch):
    from tesoma import steps

    generate_county_deliveries(data_root, residents=1_500, months=1, last_month=LAST_MONTH, seed=9, fault_rate=0)
    day = dt.date(2026, 10, 6)  # a Tuesday: every feed delivers
    for feed in ("city_visits", "mehilainen_fhir", "city_activity", "city_access", "ngo_activity"):
        results = steps.process_date(feed, day)
        assert results, feed
        for result in results:
            assert result["state"] == "published", (feed, result)
            assert result["rows_quarantined"] == 0, (feed, result)
    assert os.path.exists(data_root / "warehouse")
