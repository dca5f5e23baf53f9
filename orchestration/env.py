"""Environment for running Airflow on the embedded default (SQLite metadata DB under the data root), and the
task code every Airflow deployment imports once per worker process rather than once per task.

:func:`configure` sets the environment before Airflow is imported; values already in the environment win,
so production settings are never overridden.

**Preloading the task code.** Each Airflow task runs in a process forked from a long-lived one: the
LocalExecutor's workers are forked from the scheduler, a Celery worker's pool from ``airflow celery
worker``, and each task process from a worker. A task that imports the pipeline afresh pays for it every
time: Great Expectations alone takes 3.5–7 s of CPU, more than the work of a small delivery.
:func:`preload_task_code`, called from Airflow's ``airflow_local_settings`` module (which every
``airflow`` command imports at start; :func:`write_local_settings` writes it into
``$AIRFLOW_HOME/config``), imports :data:`PRELOAD` in exactly those forking processes, so every task
finds the modules already imported. The imports have no side effects that a fork could not share (no
threads, no open files or connections). ``TESOMA_AIRFLOW_PRELOAD=0`` turns it off (e.g. to measure it).

It then fills the caches every task would otherwise fill again (:func:`warm_caches`): a task parses its
DAG file before it runs, and the DAG files read the feed registry and every feed's contract (YAML: 0.2–0.6 s
a parse); the pipeline's first ledger access in a process checks the ledger's schema (0.3 s on PostgreSQL).
After this a task parses its DAG file in 0.01–0.05 s, importing and reading nothing (the tests check it).
The ledger's engine is disposed of before any fork, so no connection is shared. What the caches hold is
read at start: after changing the feed registry, a contract or the ledger database, restart the scheduler
(or the Celery workers), as after deploying new code.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tesoma.config import PROJECT_DIR, Settings


def configure(settings: Settings) -> Path:
    home = settings.data_root / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    jwt_file = home / "jwt_secret"
    if not jwt_file.exists():
        fd = os.open(jwt_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(64))  # Airflow wants 64+ bytes
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_DIR / "plugins"),  # orchestration/plugin.py
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Europe/Helsinki",
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_file.read_text().strip(),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # The task supervisor looks for its task process's exit only this often: at the default 5 s each task
        # holds its worker slot up to 5 s after it ends, and a failed task's duration includes them.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "TESOMA_DATA_ROOT": str(settings.data_root),
        "TESOMA_RETRY_DELAY_SECONDS": "2",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    write_local_settings(home)
    return home


# --- preloading the task code ------------------------------------------------------------------------------

PRELOAD = (
    "great_expectations",  # the validation suites: the bulk of the time
    "pyiceberg.catalog.sql",
    "pyiceberg.io.pyarrow",  # the warehouse's file IO (pyarrow.dataset)
    "pyarrow.parquet",
    "expectations.gx_runtime",
    "tesoma.steps",
    # what parsing the DAG files imports (a task parses its DAG file first): TaskFlow decorators, file assets
    "airflow.sdk.definitions.decorators",
    "airflow.providers.standard.decorators.python",
    "airflow.providers.standard.decorators.sensor",
    "airflow.providers.standard.operators.empty",
    "airflow.providers.common.io.assets.file",
    "airflow.timetables.trigger",
    "airflow.version",
    "tesoma.schedule",
    "orchestration.timetable",
    "orchestration.delivery_sensor",
    "orchestration.delivery_tasks",
    "orchestration.batch_tasks",  # the <feed>_history DAGs' batches (dags/history.py)
    "orchestration.catalog_wait",  # the catalog DAG's wait for backfills (dags/catalog.py)
    "orchestration.run_notes",
)
"""What a feed DAG's tasks import, parsing their DAG file included; imported once in each process that forks
task processes (tests/integration/test_task_startup.py checks that parsing a DAG file imports nothing more)."""

FORKING_COMMANDS = (("scheduler",), ("celery", "worker"))
"""The ``airflow`` commands whose processes fork the task processes (LocalExecutor, CeleryExecutor)."""

LOCAL_SETTINGS = '''"""Written by orchestration.env.write_local_settings: the pipeline's task code is imported
once in the Airflow processes that fork task processes (scheduler, celery worker), not once per task."""

from orchestration.env import preload_task_code

__all__: list[str] = []  # no cluster policies here

preload_task_code({modules})
'''

log = logging.getLogger(__name__)


def forks_tasks(argv: Sequence[str]) -> bool:
    """Whether ``airflow <argv[1:]>`` is a process whose forks run tasks (see :data:`FORKING_COMMANDS`)."""
    args = tuple(argv[1:])
    return any(args[:len(command)] == command for command in FORKING_COMMANDS)


def preload_task_code(modules: Sequence[str] = PRELOAD, argv: Sequence[str] | None = None) -> list[str]:
    """Import ``modules`` when this process forks task processes; returns what it imported (none
    elsewhere, or when ``TESOMA_AIRFLOW_PRELOAD=0``). Logs one line with the time it took."""
    import importlib

    if os.environ.get("TESOMA_AIRFLOW_PRELOAD", "1") == "0" or not forks_tasks(sys.argv if argv is None else argv):
        return []
    started = time.monotonic()
    for name in modules:
        importlib.import_module(name)
    warmed = warm_caches()
    # WARNING: Airflow's logging is not configured yet when local settings load; Python's last-resort
    # handler prints warnings to stderr, i.e. into the component's log.
    log.warning("tesoma: task code preloaded for every task this process forks (%s; warmed: %s) in %.1f s",
                ", ".join(modules), ", ".join(warmed) or "nothing", time.monotonic() - started)
    return list(modules)


def warm_caches() -> list[str]:
    """Fill the per-process caches that every task would fill again: the feed registry, each feed's contract,
    connector and harmonise function (what the DAG files and the steps ask for), and the ledger's schema
    check. Returns what it warmed; what it cannot warm (a broken contract, the ledger database down) is
    left to the tasks, which report it in their own logs: the scheduler starts regardless."""
    warmed = []
    for name, warm in (("feeds", _warm_feeds), ("ledger schema", _warm_ledger)):
        try:
            if warm():
                warmed.append(name)
        except Exception as exc:  # a problem here is a task's to report, not the scheduler's
            why = (str(exc).splitlines() or [""])[0]
            log.warning("tesoma: %s not warmed (%s: %s); each task does it itself", name, type(exc).__name__, why)
    return warmed


def _warm_feeds() -> bool:
    import contracts
    from tesoma.feed_config import load, resolve

    available = set(contracts.available())
    for feed, run in load().items():
        if feed in available:  # as the DAG files: a feed listed before its contract exists is skipped
            contracts.load(feed)
            for part in ("connector", "harmonise"):
                if getattr(run, part):
                    resolve(feed, part)
    return True


def _warm_ledger() -> bool:
    """Check (create) the ledger's schema once here, so that no task does (``warehouse.ledger.prepare_schema``
    remembers it per process); only where the environment names the ledger or the data root."""
    if not (os.environ.get("TESOMA_LEDGER_URL") or os.environ.get("TESOMA_DATA_ROOT")):
        return False
    from tesoma.config import settings
    from warehouse.ledger import Ledger

    Ledger(settings().ledger_url).engine.dispose()  # no pooled connection may outlive the fork
    return True


def write_local_settings(home: Path, modules: Sequence[str] = PRELOAD) -> Path | None:
    """Write ``<home>/config/airflow_local_settings.py`` preloading ``modules`` (deleted when there are none)."""
    settings = Path(home) / "config" / "airflow_local_settings.py"
    if not modules:
        settings.unlink(missing_ok=True)
        return None
    settings.parent.mkdir(parents=True, exist_ok=True)
    text = LOCAL_SETTINGS.format(modules="" if tuple(modules) == PRELOAD else repr(tuple(modules)))
    if not settings.exists() or settings.read_text() != text:
        settings.write_text(text)
    return settings
