"""Privacy end to end: no row data in logs or XCom, zero audit findings after a full demo, retention."""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from synthetic import generate
from tesoma.demo import load_dag
from tesoma.schedule import run_time_for

DAY = dt.date(2026, 10, 1)
ROOT = Path(__file__).resolve().parents[2]


def identities_in_landing(root: Path) -> tuple[set[str], set[str]]:
    """(identity codes, surnames) of the city_visits deliveries, read straight from the CSV."""
    import csv
    import io

    codes, names = set(), set()
    for path in (root / "landing" / "city" / "city_visits").glob("*.csv"):
        raw = path.read_bytes()
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = raw.decode("utf-16")
        else:
            text = raw.decode("utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252", errors="replace")
        for row in csv.DictReader(io.StringIO(text, newline=""), delimiter=";"):
            codes.add(row["henkilotunnus"])
            names.add(row["sukunimi"])
    return codes, {n for n in names if len(n) >= 4}


@pytest.fixture(scope="module")
def airflow_db():
    subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], check=True,
                   capture_output=True)
    return Path(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///"))


@pytest.mark.e2e
def test_no_row_data_in_logs_or_xcom(data_root, airflow_db, capfd, caplog):
    generate(data_root, start=DAY, days=1, residents=800, seed=11, fault_rate=0.5)  # faults: bad rows too
    codes, names = identities_in_landing(data_root)
    assert codes and names

    run = load_dag("city_visits").test(logical_date=run_time_for(DAY))
    # The faults may make a whole delivery rejected: then the run is failed on purpose (the operator must see
    # it); any other failure is a defect.
    from tesoma.config import settings
    from warehouse.ledger import Ledger

    states = {d.state for d in Ledger(settings().ledger_url).for_date("city_visits", DAY)}
    assert "success" in str(run.state) or "rejected" in states, (run.state, states)

    captured = capfd.readouterr()
    logs = captured.out + captured.err + "\n".join(r.getMessage() for r in caplog.records)
    assert "staged: read" in logs  # the logs were really captured
    with sqlite3.connect(airflow_db) as con:
        xcoms = [str(v) for (v,) in con.execute("select value from xcom where dag_id = 'city_visits'")]
    assert xcoms, "expected XCom values to scan"
    for where, text in (("logs", logs), ("xcom", "\n".join(xcoms))):
        leaked_codes = [c for c in codes if c and c in text]
        leaked_names = [n for n in names if re.search(rf"\b{re.escape(n)}\b", text)]
        assert not leaked_codes, f"{len(leaked_codes)} identity code(s) in {where}"
        assert not leaked_names, f"{len(leaked_names)} surname(s) in {where}"


@pytest.mark.e2e
def test_full_demo_then_audit_has_zero_findings(tmp_path):
    env = {**os.environ, "TESOMA_DATA_ROOT": str(tmp_path / "data")}
    env.pop("TESOMA_PSEUDONYM_KEY", None)
    for name in [k for k in env if k.startswith("AIRFLOW")]:
        env.pop(name)  # the demo sets up its own Airflow home under the data root
    tesoma = str(Path(sys.executable).with_name("tesoma"))
    demo = subprocess.run([tesoma, "demo"], env=env, capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "total" in demo.stdout and "primary_care" in demo.stdout
    # Nothing lost, across every feed of the full demo: each delivery's rows are accounted for.
    from warehouse.ledger import Ledger

    deliveries = Ledger(f"sqlite:///{tmp_path / 'data' / 'ledger.sqlite'}").all()
    assert {d.feed for d in deliveries} >= {"city_visits", "mehilainen_fhir", "ngo_activity", "costs", "population"}
    for d in deliveries:
        if d.state == "published":
            assert d.rows_read == d.rows_published + d.rows_quarantined, d.delivery_id
        elif d.state == "rejected":
            assert d.reason and (d.rows_read is None or d.rows_quarantined == d.rows_read), d.delivery_id
        else:
            assert d.state == "superseded" and d.rows_published == 0, d.delivery_id
    # --full: the demo's catalog run already audited (and recorded) most files; read every one again here
    audit = subprocess.run([tesoma, "audit", "--full"], env=env, capture_output=True, text=True)
    assert audit.returncode == 0, audit.stdout
    found = re.search(r"audit: (\d+) files scanned \(full scan; (\d+) exact copies of clean files\), 0 finding",
                      audit.stdout)
    assert found, audit.stdout
    files, copies = int(found.group(1)), int(found.group(2))
    assert files >= 30  # 30 partitions at least, plus the catalog, docs and logs
    # every published data file is a copy of its staged file: read once, recognised by its SHA-256
    assert copies >= 30


@pytest.mark.e2e
def test_retention_purge_deletes_only_expired_identifiable_copies(data_root):
    from tesoma import steps
    from warehouse.ledger import Ledger

    generate(data_root, start=DAY, days=2, residents=600, seed=3, fault_rate=0.0)
    for day in (DAY, DAY + dt.timedelta(days=1)):
        steps.process_date("city_visits", day)
    ledger = Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}")
    first, second = (ledger.for_date("city_visits", d)[0] for d in (DAY, DAY + dt.timedelta(days=1)))
    ledger.update(first.delivery_id, landed_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))  # landed long ago
    (data_root / "quarantine" / "city" / first.delivery_id).mkdir(parents=True, exist_ok=True)
    warehouse_before = sorted(p.read_bytes() for p in (data_root / "warehouse").rglob("*.parquet"))

    result = steps.purge(now=dt.datetime(2026, 10, 15, tzinfo=dt.UTC))

    assert result == {"raw_files": 1, "quarantine_folders": 1}
    assert not (data_root / first.raw_path).exists()
    assert (data_root / second.raw_path).exists()
    assert not (data_root / "quarantine" / "city" / first.delivery_id).exists()
    assert ledger.get(first.delivery_id).purged_at is not None
    assert ledger.get(first.delivery_id).rows_read == first.rows_read  # the accounting stays
    assert sorted(p.read_bytes() for p in (data_root / "warehouse").rglob("*.parquet")) == warehouse_before
    assert steps.purge(now=dt.datetime(2026, 10, 15, tzinfo=dt.UTC)) == {"raw_files": 0, "quarantine_folders": 0}


@pytest.mark.e2e
def test_key_rotation_reprocesses_everything_in_raw(data_root, monkeypatch):
    from tesoma import steps
    from warehouse.ledger import Ledger
    from warehouse.readers import read_table

    def person_ids_by_partition() -> dict[tuple, set[str]]:
        ids: dict[tuple, set[str]] = {}
        for row in read_table(data_root, "service_event").select(["partner", "delivery_date", "person_id"]).to_pylist():
            ids.setdefault((row["partner"], row["delivery_date"]), set()).add(row["person_id"])
        return ids

    days = (DAY, DAY + dt.timedelta(days=1))
    generate(data_root, start=DAY, days=2, residents=600, seed=5, fault_rate=0.0)
    for day in days:
        steps.process_date("city_visits", day)
    old_ids = person_ids_by_partition()
    assert sorted(old_ids) == [("city", day) for day in days]
    ledger = Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}")
    old_key_ids = {d.key_id for d in ledger.all()}

    monkeypatch.setenv("TESOMA_PSEUDONYM_KEY", secrets.token_urlsafe(48))  # a rotated key
    assert steps.reprocess() == {"reprocessed": 2, "not_reprocessable": 0}

    new_key_ids = {d.key_id for d in ledger.all()}
    assert len(new_key_ids) == 1 and new_key_ids.isdisjoint(old_key_ids)
    new_ids = person_ids_by_partition()
    assert sorted(new_ids) == sorted(old_ids)
    for partition, new in new_ids.items():
        assert len(new) == len(old_ids[partition]) and new.isdisjoint(old_ids[partition])
    assert {d.state for d in ledger.all()} == {"published"}


@pytest.mark.e2e
def test_ages_in_the_warehouse_count_calendar_years_and_k_anonymity_is_measured(data_root):
    """Every feed with people: age = event year − birth year (so a person's events cannot narrow the birthday),
    nobody older than the top code, and the audit's k-anonymity counts every person of the warehouse."""
    import duckdb

    from tesoma import audit, steps
    from tesoma.config import settings
    from warehouse import catalog
    from warehouse.layout import Layout

    generate(data_root, start=DAY, days=3, residents=1500, seed=7, fault_rate=0.0)
    for feed in ("city_visits", "mehilainen_fhir", "ngo_attendance"):
        steps.process_all(feed)
    layout = Layout(data_root)
    catalog.refresh(layout)
    with duckdb.connect(str(layout.catalog), read_only=True) as con:
        feeds, off_calendar, over_90, persons = con.execute("""
            select count(distinct feed) filter (where age_at_event is not null),
                   count(*) filter (where birth_year + age_at_event <> year(event_date)),
                   count(*) filter (where age_at_event > 90 or year(event_date) - birth_year > 90),
                   count(distinct person_id)
            from service_event_current""").fetchone()
    assert (feeds, off_calendar, over_90) == (3, 0, 0)

    measured = audit.k_anonymity(settings())
    assert measured.persons == persons > 0 and measured.smallest_class >= 1
    assert str(measured).startswith(f"k-anonymity (birth_year, sex, home_postal_code) over {persons:,} persons: ")
