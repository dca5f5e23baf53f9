"""Another engine's view of the warehouse: published into a PostgreSQL catalog, then read by a separate
process with pyiceberg alone — no Tesoma code — at the snapshots of the current warehouse state. It answers
the worked questions of docs/analysts.md exactly as `tesoma query` and ``warehouse.connect()`` do.

This is what Spark, Trino or Flink do through Iceberg's JDBC catalog (docs/operations.md, "Other
engines"); none of them can run on these machines, pyiceberg in its own process stands in for them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

import warehouse
from synthetic import generate
from tesoma import steps
from tesoma.cli import main
from tests.conftest import TEST_KEY
from warehouse import catalog, states
from warehouse.iceberg import Place
from warehouse.layout import Layout
from warehouse.ledger import Ledger

START = dt.date(2026, 10, 1)
DOC = Path(__file__).resolve().parents[2] / "docs" / "analysts.md"
SECTION = DOC.read_text(encoding="utf-8").split("## Questions and their answers")[1].split("\n## ")[0]
QUESTIONS = re.findall(r"\*\*(\d+)\. (.*?)\*\*.*?```sql\n(.*?)```", SECTION, re.S)
"""(number, question, SQL) of every worked question."""

# Runs in a child process: pyiceberg and DuckDB only, given the catalog, the snapshots and the SQL on stdin.
OTHER_ENGINE = textwrap.dedent('''
    import json
    import sys

    import duckdb
    from pyiceberg.catalog.sql import SqlCatalog

    job = json.load(sys.stdin)
    catalog = SqlCatalog("tesoma", uri=job["uri"], warehouse=job["warehouse"])
    con = duckdb.connect()
    scanned = {}
    for table, snapshot_id in sorted(job["snapshots"].items()):
        rows = catalog.load_table(f"tesoma.{table}").scan(snapshot_id=snapshot_id).to_arrow()
        con.register(table, rows)
        scanned[table] = rows.num_rows
    # The analysts' view of current contacts, as documented: each event's latest delivered version.
    con.execute("""
        create view service_event_current as
        select * exclude (_version) from (
            select *, row_number() over (partition by event_id
                                         order by source_updated_at desc, delivery_date desc, delivery_id desc)
                      as _version
            from service_event)
        where _version = 1""")
    answers = [con.execute(sql).fetchall() for sql in job["questions"]]
    ours = sorted(m for m in sys.modules if m.split(".")[0] in ("tesoma", "warehouse", "transforms", "connectors"))
    json.dump({"scanned": scanned, "answers": answers, "tesoma_modules": ours}, sys.stdout, default=str)
''')


def normalised(rows: list) -> list[str]:
    """Rows as JSON text, sorted: ties in a question's ORDER BY leave their order to the engine."""
    return sorted(json.dumps(list(row), default=str) for row in json.loads(json.dumps(rows, default=str)))


@pytest.fixture
def catalog_url(postgres_url):
    """A fresh PostgreSQL database for the Iceberg catalog, dropped afterwards."""
    name = f"tesoma_catalog_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
    admin.dispose()


@pytest.fixture
def published(data_root, catalog_url, monkeypatch) -> Path:
    """A few days of city visits and Mehiläinen's contacts, and a day of each table the other questions
    need, published into the PostgreSQL catalog."""
    monkeypatch.setenv("TESOMA_ICEBERG_CATALOG_URL", catalog_url)
    monkeypatch.delenv("TESOMA_ICEBERG_WAREHOUSE", raising=False)
    monkeypatch.setenv("TESOMA_PSEUDONYM_KEY", TEST_KEY)
    generate(data_root, start=START, days=3, residents=4000, seed=42, fault_rate=0.0)
    for feed in ("city_visits", "mehilainen_fhir", "population"):  # population: its one yearly file
        steps.process_all(feed)
    for feed in ("city_access", "city_activity", "costs"):  # access_t3, activity_count, cost_month
        steps.process_date(feed, START)
    catalog.refresh(Layout(data_root))
    return data_root


@pytest.mark.integration
def test_another_engine_answers_the_worked_questions_alike(published, catalog_url, capsys):
    assert len(QUESTIONS) >= 8, "docs/analysts.md lost its worked questions"
    place = Place.for_root(published)
    assert place.catalog_url == catalog_url
    assert not (published / "warehouse" / "iceberg" / "catalog.sqlite").exists()  # PostgreSQL holds the catalog
    state = states.head(Ledger(place.ledger_url).engine)
    assert {"service_event", "event_diagnosis", "access_t3", "activity_count", "cost_month", "population"} <= set(
        state.snapshots)

    job = {"uri": catalog_url, "warehouse": place.warehouse, "snapshots": state.snapshots,
           "questions": [sql for _n, _q, sql in QUESTIONS]}
    child = subprocess.run([sys.executable, "-c", OTHER_ENGINE], input=json.dumps(job), capture_output=True,
                           text=True, cwd=published.parent, timeout=300, check=False)
    assert child.returncode == 0, child.stderr[-3000:]
    other = json.loads(child.stdout)
    assert other["tesoma_modules"] == [], "the other engine's process imported Tesoma code"

    with warehouse.connect(published) as con:
        for table, rows in other["scanned"].items():
            (ours,) = con.execute(f"select count(*) from {table}").fetchone()  # our own table names
            assert rows == ours > 0, table
            print(f"{table}: {rows} rows at snapshot {state.snapshots[table]} in both")
        for (number, question, sql), answer in zip(QUESTIONS, other["answers"], strict=True):
            expected = con.execute(sql).fetchall()
            assert any(v not in (None, 0) for row in expected for v in row), f"question {number}: nothing to compare"
            assert normalised(answer) == normalised(expected), f"question {number}: {question}"
            print(f"question {number} ({question}): {len(expected)} row(s) equal, e.g. {expected[0]}")

    # `tesoma query` prints the same first answer (one number: residents using two or more partners).
    printed = capsys.readouterr().out
    assert main(["query", QUESTIONS[0][2]]) == 0
    assert capsys.readouterr().out.split()[-1] == str(other["answers"][0][0][0])
    print(f"{printed}tesoma query, question 1: {other['answers'][0][0][0]} in both")  # shown with -rP or -s
