"""The demo's runs (and ``tesoma airflow``'s seed runs) look like the scheduler's in the UI: a duration of
seconds, not the weeks between the delivery date and today, and every task's log where the UI reads it
(tesoma/demo.py, run_dag)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from synthetic import generate
from tesoma.demo import load_dag, run_dag
from tesoma.schedule import run_time_for

FEED = "city_activity"  # one partner, small files
DAY = dt.date(2026, 10, 1)  # weeks before "now": dag.test() alone dated the run's start here


@pytest.fixture(scope="module")
def airflow_db():
    subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], check=True,
                   capture_output=True)


def test_a_demo_run_has_its_real_duration_and_its_task_logs(data_root, airflow_db, tmp_path, capsys):
    from airflow.models.dagrun import DagRun
    from airflow.utils.log.file_task_handler import FileTaskHandler
    from airflow.utils.session import create_session

    generate(data_root, start=DAY, days=1, residents=200, seed=3, fault_rate=0.0)
    before = dt.datetime.now(dt.UTC)
    # The output is redirected by file descriptor (as in `tesoma demo`), so pytest's own capture, which
    # replaces sys.stdout, is set aside for the run.
    with capsys.disabled():
        run = run_dag(load_dag(FEED), tmp_path / "demo.log", logical_date=run_time_for(DAY))
    after = dt.datetime.now(dt.UTC)
    assert "success" in str(run.state)

    with create_session() as session:
        stored = session.query(DagRun).filter_by(dag_id=FEED, run_id=run.run_id).one()
        assert before <= stored.start_date <= stored.end_date <= after, (stored.start_date, stored.end_date)
        assert before <= stored.queued_at <= after
        tis = stored.get_task_instances(session=session)
        # the path Airflow's UI reads a try's log from
        handler = FileTaskHandler(base_log_folder=str(Path(_base_log_folder())))
        logs = {ti.task_id: Path(_base_log_folder()) / handler._render_filename(ti, ti.try_number) for ti in tis}

    assert {ti_id for ti_id in logs} >= {"wait_for_delivery", "land", "ingest", "publish", "report"}
    missing = [task for task, path in logs.items() if not path.is_file() or not path.stat().st_size]
    assert not missing, f"no task log for {missing}: {logs}"
    assert "row accounting" in logs["ingest"].read_text()  # the task's own log lines, not another's
    assert "row accounting" not in logs["land"].read_text()
    assert "delivered" in logs["wait_for_delivery"].read_text()


def _base_log_folder() -> str:
    from airflow.configuration import conf

    return conf.get("logging", "base_log_folder")

