"""`tesoma demo`: generate demo deliveries, run the city_visits DAG once per day, then the catalog DAG,
show the result.

In production the catalog DAG is started by the feed DAGs' partitioned asset events (the scheduler does
that); ``dag.test()`` runs one DAG without a scheduler, so the demo runs the catalog DAG itself.

The demo's runs (and ``tesoma airflow``'s seed runs) go through :func:`run_dag`, so that in the Airflow UI
they look like the scheduler's: each task's log where the UI reads it, and the run's duration the seconds
it took (``dag.test()`` alone logs to the terminal and dates the run's start at its logical date, so a run
for an October delivery made in December showed a duration of weeks and stretched the grid).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tesoma.config import PROJECT_DIR, Settings
from warehouse.ledger import Ledger

EXAMPLE_QUERY = (
    "select service_area, count(*) as events, count(distinct person_id) as persons "
    "from service_event group by 1 order by 2 desc"
)


@contextlib.contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Send everything written to stdout/stderr (Airflow's task logs) to ``log`` for the duration."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("a") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _task_log_listener(fallback: Path):
    """An Airflow listener for ``dag.test()``: while a task runs, the process's output (the task's log)
    goes to the file the UI reads for that try, ``<base_log_folder>/<log_filename_template>``; between
    tasks, to ``fallback``. (Defined on call: Airflow is imported only when the demo runs a DAG.)"""
    import jinja2
    from airflow.configuration import conf
    from airflow.sdk._shared.listeners import hookimpl

    folder = Path(conf.get("logging", "base_log_folder"))
    template = jinja2.Template(conf.get("logging", "log_filename_template"))

    def send_output_to(path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        with path.open("a") as f:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)

    class TaskLogFiles:  # the hooks of airflow.sdk._shared.listeners.spec.taskinstance
        @hookimpl
        def on_task_instance_running(self, previous_state, task_instance):
            send_output_to(folder / template.render(ti=task_instance, try_number=task_instance.try_number))

        @hookimpl
        def on_task_instance_success(self, previous_state, task_instance):
            send_output_to(fallback)

        @hookimpl
        def on_task_instance_failed(self, previous_state, task_instance, error):
            send_output_to(fallback)

        @hookimpl
        def on_task_instance_skipped(self, previous_state, task_instance):
            send_output_to(fallback)

    return TaskLogFiles()


@contextlib.contextmanager
def task_log_files(fallback: Path) -> Iterator[None]:
    """Within the block, ``dag.test()`` writes each task's output to its task log file (see
    :func:`_task_log_listener`); the rest goes to ``fallback``. Use inside :func:`output_to`."""
    from airflow.sdk.listener import get_listener_manager

    manager = get_listener_manager()
    listener = _task_log_listener(fallback)
    manager.add_listener(listener)
    try:
        yield
    finally:
        manager.pm.unregister(listener)


def restamp(run, started: dt.datetime) -> None:
    """Date the run's start (and queueing) when it really started, not at its logical date."""
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        session.execute(sa.update(DagRun).where(DagRun.dag_id == run.dag_id, DagRun.run_id == run.run_id)
                        .values(start_date=started, queued_at=started))


def run_dag(dag, log: Path, **kwargs):
    """``dag.test(**kwargs)``, its output in ``log``, each task's in its task log, and the run's start
    restamped (see the module's docstring); returns the run."""
    started = dt.datetime.now(dt.UTC)
    with output_to(log), task_log_files(log):
        run = dag.test(**kwargs)
    restamp(run, started)
    return run


def load_dag(dag_id: str):
    """The DAG ``dag_id`` from the files in ``dags/`` (the folder is not a package), for ``dag.test()``.

    Its deadline alerts are left out: they need the scheduler and the triggerer, which ``dag.test()`` does
    not run (it creates no deadline for its runs either), and Airflow 3.3.2's ``dag.test()`` fails when a
    run of a DAG with a deadline alert succeeds: ``DagRun.update_state`` looks the alerts up by database
    id, but ``dag.test()``'s in-memory copy of the DAG holds their definitions instead
    (``AttributeError: 'dict' object has no attribute 'hex'``). The scheduler's copy, read from the
    metadata database, holds the ids, so scheduled runs keep their alerts.
    """
    for path in sorted((PROJECT_DIR / "dags").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"tesoma_dags_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for value in vars(module).values():
            if getattr(value, "dag_id", None) == dag_id and hasattr(value, "test"):
                value.deadline = None
                return value
    raise KeyError(f"no DAG {dag_id!r} in {PROJECT_DIR / 'dags'}")


def migrate_airflow_db(log: Path) -> None:
    airflow = Path(sys.executable).with_name("airflow")
    with log.open("a") as f:
        subprocess.run([str(airflow), "db", "migrate"], check=True, stdout=f, stderr=subprocess.STDOUT)


def run_catalog(settings: Settings, echo=print) -> str:
    """Run the catalog DAG once with ``dag.test()`` (refresh_catalog → audit); returns its state.

    Raises when it did not succeed: the views and the audit are part of what the demo shows.
    """
    from orchestration.env import configure

    home = configure(settings)
    log = home / "demo-runs.log"
    if not (home / "airflow.db").exists():
        migrate_airflow_db(log)
    with output_to(log):
        dag = load_dag("catalog")
    run = run_dag(dag, log)
    state = str(getattr(run, "state", "?"))
    echo(f"catalog DAG (refresh_catalog → audit; in production started by the feeds' asset events): {state}")
    if "success" not in state:
        raise RuntimeError(f"the catalog DAG run did not succeed ({state}); see {log}")
    return state


def run_days(settings: Settings, feed: str, first: dt.date, days: int, echo=print) -> list[dict]:
    """Run the feed's DAG with ``dag.test()`` for each day; returns one summary row per day.

    The feed DAG does not refresh the catalog: :func:`run_catalog` does (the demo runs it after every feed).
    """
    from orchestration.env import configure
    from tesoma.schedule import run_time_for

    home = configure(settings)
    log = home / "demo-runs.log"
    echo(f"Airflow: metadata DB {home / 'airflow.db'}; task logs in {log}")
    migrate_airflow_db(log)
    with output_to(log):
        dag = load_dag(feed)
    ledger = Ledger(settings.ledger_url)
    echo(f"{'date':<12}{'state':<12}{'read':>7}{'published':>11}{'quarantined':>13}{'seconds':>9}")
    summary = []
    for i in range(days):
        day = first + dt.timedelta(days=i)
        started = time.monotonic()
        run = run_dag(dag, log, logical_date=run_time_for(day))
        seconds = time.monotonic() - started
        deliveries = ledger.for_date(feed, day)
        row = {
            "date": day, "dag_state": str(getattr(run, "state", "?")),
            "deliveries": len(deliveries),
            "states": ",".join(d.state for d in deliveries) or "missing",
            "read": sum(d.rows_read or 0 for d in deliveries if d.state != "superseded"),
            "published": sum(d.rows_published or 0 for d in deliveries),
            "quarantined": sum(d.rows_quarantined or 0 for d in deliveries if d.state != "superseded"),
            "seconds": seconds,
        }
        summary.append(row)
        echo(f"{day.isoformat():<12}{row['states'][:11]:<12}{row['read']:>7}{row['published']:>11}"
             f"{row['quarantined']:>13}{seconds:>9.1f}")
    return summary


def landed_dates(feed: str, settings: Settings) -> list[dt.date]:
    """The delivery dates of ``feed`` in landing/, oldest first."""
    from tesoma.feeds import connector_for
    from warehouse.layout import Layout

    return sorted({f.delivery_date for f in connector_for(feed).discover_all(Layout(settings.data_root).landing)})


def run_other_feeds(settings: Settings, echo=print) -> list[dict]:
    """Every other carried feed, all its landed dates, in batches through the same steps without the scheduler; then
    the catalog DAG once, for every feed of the demo (city_visits' DAG runs included)."""
    import logging

    from tesoma import steps
    from tesoma.feeds import carried

    logging.getLogger("tesoma").setLevel(logging.WARNING)
    rows = []
    echo(f"{'feed':<17}{'deliveries':>11}{'rejected':>9}{'read':>9}{'published':>11}{'quarantined':>13}{'seconds':>9}")
    for feed in carried():
        if feed == "city_visits":
            continue
        started = time.monotonic()
        dates = landed_dates(feed, settings)
        if not dates:
            continue
        # In batches, as the feed's history DAG and `tesoma run --from … --to …` do: a batch's deliveries share
        # each Great Expectations run and one warehouse commit (the daily DAG's way is city_visits' above).
        done = steps.process_range([feed], dates[0], dates[-1], settings, refresh=False)
        seconds = time.monotonic() - started
        row = {"feed": feed, "deliveries": done.get("deliveries", 0), "rejected": done.get("rejected", 0),
               "read": done.get("rows_read", 0), "published": done.get("rows_published", 0),
               "quarantined": done.get("rows_quarantined", 0), "seconds": seconds}
        rows.append(row)
        echo(f"{feed:<17}{row['deliveries']:>11}{row['rejected']:>9}{row['read']:>9}{row['published']:>11}"
             f"{row['quarantined']:>13}{seconds:>9.1f}")
    run_catalog(settings, echo)
    return rows
