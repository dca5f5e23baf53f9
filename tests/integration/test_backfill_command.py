"""``tesoma backfill`` against a real Airflow (scheduler, DAG processor, triggerer, API server on PostgreSQL):
it backfills one feed over three delivery dates to the end, its summary agrees with the ledger, and a second
run of the same command creates no DAG run and says there is nothing to do. Through the history DAGs, a range
that grows backwards into a month that already has a run gets that month run again for the new dates (and
only that month), after which the same command has nothing to do.

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
from tesoma.feed_config import HISTORY_FROM
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


@pytest.mark.integration
@pytest.mark.xdist_group("services")
@pytest.mark.timeout(420)
def test_a_history_range_that_grows_runs_its_month_again_for_the_new_dates(databases, tmp_path,  # noqa: F811
                                                                          monkeypatch):
    from synthetic import generate

    airflow_db, ledger_db = databases
    root = tmp_path / "data"
    jan_30, jan_31, feb_2 = dt.date(2022, 1, 30), dt.date(2022, 1, 31), dt.date(2022, 2, 2)
    generate(root, start=jan_30, days=4, residents=RESIDENTS, seed=11, fault_rate=0.0)
    monkeypatch.setenv("TESOMA_DATA_ROOT", str(root))
    monkeypatch.setenv("TESOMA_LEDGER_URL", ledger_db)
    monkeypatch.setenv(HISTORY_FROM, "2022-01-01")  # before the contract's service period: here and in the tasks
    dag = f"{FEED}_history"
    stack = AirflowStack(airflow_db, root, home=tmp_path / "airflow", ledger_url=ledger_db, pseudonym_key=TEST_KEY,
                         preload=PRELOAD, extra_env={HISTORY_FROM: "2022-01-01"})

    def published() -> list[dt.date]:
        ledger = Ledger(ledger_db)
        try:
            return sorted(d.delivery_date for d in ledger.all(FEED) if d.state == "published")
        finally:
            ledger.engine.dispose()

    def backfill_range(first: dt.date) -> tuple[int, str, float]:
        out = io.StringIO()
        began = time.monotonic()
        status, _ = backfill.run([FEED], first, feb_2, url=stack.url, poll=2, out=out, tty=False, every=0,
                                 history=True)
        print(out.getvalue())
        return status, out.getvalue(), time.monotonic() - began

    try:
        stack.migrate()
        stack.start()
        deadline = time.monotonic() + 120
        while dag not in {d["dag_id"] for d in stack.dags()}:
            assert time.monotonic() < deadline, f"{dag} not parsed after 120 s\n{stack.tail('dag-processor')}"
            time.sleep(2)

        status, out, first_seconds = backfill_range(jan_31)  # January from the 31st, and February
        assert status == 0, out
        assert published() == [jan_31, dt.date(2022, 2, 1), feb_2]
        february = next(r for r in stack.dag_runs(dag) if r["logical_date"].startswith("2022-01-31T22:00:00"))

        status, out, second_seconds = backfill_range(jan_30)  # the range grows back into January
        assert status == 0, out
        assert (f"{dag} 2022-01: 1 delivery date(s) not yet processed though the month has a run (success); "
                "running it again with the range as its configuration") in out
        assert published() == [jan_30, jan_31, dt.date(2022, 2, 1), feb_2]
        runs = {r["logical_date"][:19]: r for r in stack.dag_runs(dag)}
        assert len(runs) == 2
        # January's run was cleared and given the new range (Airflow replaces a rerun's conf); February's untouched
        assert runs["2021-12-31T22:00:00"]["conf"] == {"from": "2022-01-30", "to": "2022-02-02"}
        assert runs["2022-01-31T22:00:00"] == february

        status, out, third_seconds = backfill_range(jan_30)
        assert status == 0 and "nothing to do: every date already ran" in out, out
        assert {r["logical_date"][:19]: r for r in stack.dag_runs(dag)} == runs
        print(f"  history backfills: 3 deliveries in {first_seconds:.1f} s, the grown range (1 month again) in "
              f"{second_seconds:.1f} s, nothing to do in {third_seconds:.1f} s")
    finally:
        report = stack.stop()
    assert not report.killed, f"components needed SIGKILL: {report.killed}"
    stack.cleanup()
