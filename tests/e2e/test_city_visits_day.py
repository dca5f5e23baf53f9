"""One day of city_visits through the real DAG (dag.test on SQLite): landing → warehouse → DuckDB."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from synthetic import generate
from tesoma.demo import load_dag
from tesoma.schedule import run_time_for
from warehouse import states
from warehouse.iceberg import Place
from warehouse.ledger import Ledger
from warehouse.readers import files_for, read_table

DAY = dt.date(2026, 10, 1)
HETU_ANYWHERE = re.compile(r"\d{6}[-+YXWVUABCDEF]\d{3}[0-9A-Y]")


@pytest.fixture(scope="module")
def airflow_db():
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)


@pytest.mark.e2e
def test_one_day_through_the_dag(data_root, airflow_db):
    generate(data_root, start=DAY, days=1, residents=600, seed=7, fault_rate=0.0)
    landed = sorted((data_root / "landing" / "city" / "city_visits").glob("*.csv"))
    assert landed, "the generator wrote no city_visits file"

    run = load_dag("city_visits").test(logical_date=run_time_for(DAY))
    assert "success" in str(run.state)
    assert "success" in str(load_dag("catalog").test().state)  # in production: started by publish's asset event

    ledger = Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}")
    deliveries = ledger.for_date("city_visits", DAY)
    assert [d.state for d in deliveries] == ["published"]
    d = deliveries[0]
    raw = landed[0].read_bytes()
    text = raw.decode("utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252")
    assert d.rows_read == len(list(csv.reader(io.StringIO(text), delimiter=";"))) - 1 > 0  # every data row
    assert d.rows_read == d.rows_published + d.rows_quarantined  # nothing lost
    assert d.key_id and d.key_id.startswith("k-")

    table = read_table(data_root, "service_event", partner="city", delivery_date=DAY)
    assert table.num_rows == d.rows_published
    for column in ("henkilotunnus", "sukunimi", "etunimet", "lahiosoite", "puhelin", "lisatieto"):
        assert column not in table.column_names
    text_values = [v for c in table.columns if str(c.type) == "string" for v in c.to_pylist() if v]
    assert not [v for v in text_values if HETU_ANYWHERE.search(v)], "an identity code reached the warehouse"

    con = duckdb.connect(str(data_root / "warehouse" / "catalog.duckdb"), read_only=True)
    rows = con.execute("select service_area, count(*) from service_event group by 1").fetchall()
    assert sum(n for _, n in rows) == d.rows_published
    assert {a for a, _ in rows} <= {"primary_care", "dental_care", "maternity_clinic", "child_clinic",
                                    "social_counselling", "wellbeing_counselling"}

    # Re-running the same day changes nothing: same delivery, same warehouse state, same bytes.
    state = states.head(ledger.engine)
    place = Place.for_root(data_root)
    before = {path: path.read_bytes() for path in files_for(place, state)["service_event"]}
    run = load_dag("city_visits").test(logical_date=run_time_for(DAY))
    assert "success" in str(run.state)
    assert "success" in str(load_dag("catalog").test().state)  # in production: started by publish's asset event
    assert [x.delivery_id for x in ledger.for_date("city_visits", DAY)] == [d.delivery_id]
    assert states.head(ledger.engine) == state  # no new commit, no new state
    assert {path: path.read_bytes() for path in files_for(place, state)["service_event"]} == before


@pytest.mark.e2e
def test_faulty_rows_are_quarantined_with_reasons(data_root):
    """A delivery with bad rows: good rows published, bad rows in quarantine with a partner-readable report."""
    from tesoma import steps

    generate(data_root, start=DAY, days=1, residents=600, seed=7, fault_rate=0.0)
    path = sorted((data_root / "landing" / "city" / "city_visits").glob("*.csv"))[0]
    raw = path.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
    lines = raw.decode(encoding).split("\r\n")
    header = lines[0].split(";")
    broken = lines[1].split(";")
    broken[header.index("alkuaika")] = "31.02.2026 10:00"
    lines.insert(2, ";".join(broken))  # a bad row
    lines.insert(3, lines[1])  # an exact duplicate
    path.write_bytes("\r\n".join(lines).encode(encoding))

    results = steps.process_date("city_visits", DAY)
    (result,) = results
    assert result["rows_read"] == result["rows_published"] + result["rows_quarantined"]
    assert result["rows_quarantined"] >= 2
    report = next((data_root / "quarantine" / "city").glob("*/report.md")).read_text()
    assert "alkuaika | not_a_date_time" in report
    assert "duplicate_row" in report
    assert not HETU_ANYWHERE.search(report)
