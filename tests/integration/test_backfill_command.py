"""``tesoma backfill`` against a real Airflow (scheduler, DAG processor, triggerer, API server on PostgreSQL):
it backfills one feed over three delivery dates to the end, its summary agrees with the ledger, and a second
run of the same command creates no DAG run and says there is nothing to do.

Needs PostgreSQL on 127.0.0.1:5432 (skipped when it is down, failed under CI=true); creates its own
databases and drops them. Prints the command's output and its figures (deliveries per second).
"""

from __future__ import annotations

import datetime as dt
import io
import time

import pytest

from orchestration.stack import AirflowStack
from tesoma import backfill
from tests.conftest import TEST_KEY
from tests.integration.test_airflow_postgres import PRELOAD, START, databases  # noqa: F401  (a fixture)
from warehouse.ledger import Ledger

FEED = "city_visits"
DAYS = 3
RESIDENTS = 300


@pytest.mark.integration
@pytest.mark.xdist_group("services")
@pytest.mark.timeout(300)
def test_backfill_command_runs_a_feed_to_the_end_and_a_rerun_changes_nothing(databases, tmp_path,  # noqa: F811
                                                                            monkeypatch):
    from synthetic import generate

    airflow_db, ledger_db = databases
    root = tmp_path / "data"
    generate(root, start=START, days=DAYS, residents=RESIDENTS, seed=11, fault_rate=0.0)
    # The command reads the ledger and landing/ of the same data root as the stack's tasks.
    monkeypatch.setenv("TESOMA_DATA_ROOT", str(root))
    monkeypatch.setenv("TESOMA_LEDGER_URL", ledger_db)
    last = START + dt.timedelta(days=DAYS - 1)
    stack = AirflowStack(airflow_db, root, home=tmp_path / "airflow", ledger_url=ledger_db, pseudonym_key=TEST_KEY,
                         preload=PRELOAD)
    try:
        stack.migrate()
        stack.start()
        deadline = time.monotonic() + 120
        while FEED not in {d["dag_id"] for d in stack.dags()}:
            assert time.monotonic() < deadline, f"{FEED} not parsed after 120 s\n{stack.tail('dag-processor')}"
            time.sleep(2)

        out = io.StringIO()
        began = time.monotonic()
        status, summary = backfill.run([FEED], START, last, url=stack.url, poll=2, out=out, tty=False, every=0)
        seconds = time.monotonic() - began
        print(out.getvalue())
        assert status == 0, out.getvalue()
        assert "deliveries 3/3 · runs 3/3" in out.getvalue()  # the last progress line, before the summary

        ledger = Ledger(ledger_db)
        try:
            in_range = [d for d in ledger.all(FEED) if START <= d.delivery_date <= last]
        finally:
            ledger.engine.dispose()
        published = [d for d in in_range if d.state == "published"]
        assert len(published) == DAYS
        assert (summary.published, summary.rows_published, summary.rows_quarantined) == (
            len(published), sum(d.rows_published for d in published), sum(d.rows_quarantined for d in published))
        assert summary.rejected == [] and summary.superseded == 0 and summary.missing == {}
        assert summary.runs == {"success": DAYS}
        assert f"published: {len(published)} deliveries ({summary.rows_published} rows)" in out.getvalue()
        print(f"  backfill of {DAYS} deliveries: {seconds:.1f} s, {DAYS / seconds:.2f} deliveries/s")

        runs_before = {r["dag_run_id"] for r in stack.dag_runs(FEED)}
        backfills_before = stack.api("GET", f"/api/v2/backfills?dag_id={FEED}")["total_entries"]
        again = io.StringIO()
        status, second = backfill.run([FEED], START, last, url=stack.url, poll=2, out=again, tty=False)
        print(again.getvalue())
        assert status == 0
        assert "nothing to do: every date already ran" in again.getvalue()
        assert {r["dag_run_id"] for r in stack.dag_runs(FEED)} == runs_before
        assert stack.api("GET", f"/api/v2/backfills?dag_id={FEED}")["total_entries"] == backfills_before
        assert (second.published, second.rows_published) == (summary.published, summary.rows_published)
    finally:
        report = stack.stop()
    assert not report.killed, f"components needed SIGKILL: {report.killed}"
    stack.cleanup()
