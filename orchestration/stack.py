"""Airflow 3 as separate components on a real metadata database (PostgreSQL), for tests and checks.

``airflow standalone`` (``tesoma airflow``) runs everything on SQLite in one process tree; production runs
the scheduler, the DAG processor, the triggerer and the API server as separate services on PostgreSQL.
This module starts that production shape on one machine: each component is its own ``airflow …``
process in its own session (``setsid``), so one signal reaches it and every child it forks, with its
output in ``<home>/stack-logs/<component>.log``::

    with temporary_database() as url, AirflowStack(url, data_root) as stack:
        stack.api("PATCH", "/api/v2/dags/city_visits", {"is_paused": False})
        stack.airflow("backfill", "create", "--dag-id", "city_visits", ...)

As a context manager it migrates the database, starts the components and waits until they are healthy;
on leaving it stops them and deletes its temporary AIRFLOW_HOME, unless the block failed (the logs are
kept for the post-mortem). The scheduler imports the task code once, for every task it forks (``preload``,
see :meth:`AirflowStack.write_preload`), as every deployed stack does.

**Executors.** The default is the LocalExecutor (the scheduler forks the task processes). With
``executor="CeleryExecutor"`` the stack is the scaled-out shape instead: the scheduler queues tasks on a
Redis broker (``redis://127.0.0.1:6379/<n>``, a database number empty when the stack starts, flushed at
start and stop; see :func:`free_redis_db`), ``celery_workers`` ``airflow celery worker`` processes
(``w1``, ``w2``, …) take them, and Celery keeps its task results in the stack's own metadata database
(``db+postgresql+psycopg://…``). Each worker is a component like the others (own session, log
``stack-logs/celery-worker-w1.log``, stopped with the stack) and preloads the task code like the
scheduler does (:data:`orchestration.env.FORKING_COMMANDS`). Both workers run on this one machine, so
each reports its own name as the task instances' ``hostname`` (:func:`worker_hostname`): the REST API
then tells which worker ran which task.

Local use only: the API server listens on 127.0.0.1 and every caller is an admin (simple auth manager,
all-admins mode); the JWT secret is random per stack.

Every process of a stack carries ``TESOMA_AIRFLOW_STACK=<id>`` in its environment. Airflow moves each task
into a process group of its own (``setpgid`` in the task supervisor), so signalling the components'
groups is not enough to know nothing is left: :meth:`AirflowStack.leftovers` finds the stack's processes
by that variable, whatever group they are in, and :meth:`AirflowStack.stop` kills any it finds.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tesoma.config import PROJECT_DIR

COMPONENTS = ("dag-processor", "scheduler", "triggerer", "api-server")
"""Started in this order; the order does not matter for Airflow, they find each other through the DB."""
EXECUTORS = ("LocalExecutor", "CeleryExecutor")
WORKER_PREFIX = "celery-worker-"
"""A Celery worker's component name is this prefix and its name (``celery-worker-w1``)."""
WORKER_VARIABLE = "TESOMA_CELERY_WORKER"
"""A Celery worker's name (``w1``) in its environment: what :func:`worker_hostname` reports."""
REDIS = ("127.0.0.1", 6379)

STACK_VARIABLE = "TESOMA_AIRFLOW_STACK"
BATCH_POOL = "tesoma_batches"
"""orchestration.batch_tasks.POOL, named here so that starting a stack does not import Airflow's task SDK."""
POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def worker_hostname() -> str:
    """The hostname a task instance records (``[core] hostname_callable`` of the stack's Celery workers):
    ``w1@<this host's FQDN>``, so two workers on one machine are told apart in the UI and the REST API.
    Task logs are read from the shared AIRFLOW_HOME, not fetched from this name."""
    return f"{os.environ.get(WORKER_VARIABLE, 'worker')}@{socket.getfqdn()}"


def free_redis_db(host: str = REDIS[0], port: int = REDIS[1]) -> int:
    """A Redis database number from 1 to 15 that holds no key right now, tried in random order (0 is left
    to whoever uses Redis without choosing). Raises, saying what to do, when every one is in use."""
    import random

    import redis

    numbers = list(range(1, 16))
    random.shuffle(numbers)
    for number in numbers:
        client = redis.Redis(host=host, port=port, db=number, socket_timeout=5)
        try:
            if client.dbsize() == 0:
                return number
        finally:
            client.close()
    raise RuntimeError(f"every Redis database 1-15 on {host}:{port} holds keys: stop the stacks using them, or "
                       "flush one you know is stale (redis-cli -n <n> flushdb)")


def flush_redis_db(number: int, host: str = REDIS[0], port: int = REDIS[1]) -> None:
    """Empty database ``number`` (the broker's queues and Celery's bookkeeping of one stack)."""
    import redis

    client = redis.Redis(host=host, port=port, db=number, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel picks it; another process could take it
    before the API server binds it, which only makes the start fail loudly)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def temporary_database(server: str = POSTGRES_SERVER, prefix: str = "airflow_it_") -> Iterator[str]:
    """A new, empty PostgreSQL database; yields its SQLAlchemy URL and drops it afterwards.

    ``server`` is a URL without a database name. The name is random, so concurrent runs (and other
    engineers' databases on a shared server) never meet; ``WITH (FORCE)`` drops it even when a killed
    component left a connection open.
    """
    import psycopg

    name = f"{prefix}{secrets.token_hex(6)}"
    admin = server.replace("postgresql+psycopg://", "postgresql://", 1).rstrip("/") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # the name is ours (hex), not input
    try:
        yield f"{server.rstrip('/')}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Component:
    name: str
    process: subprocess.Popen
    log: Path


@dataclass
class StopReport:
    """What :meth:`AirflowStack.stop` had to do: exit codes, components that needed SIGKILL, and processes
    of the stack still alive after their groups were gone (killed by the final sweep)."""

    returncodes: dict[str, int | None] = field(default_factory=dict)
    killed: list[str] = field(default_factory=list)
    stragglers: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0


class AirflowStack:
    """The four Airflow components on ``database_url`` with ``data_root`` as the pipeline's data root.

    ``home`` (default: a new temporary folder, deleted by :meth:`cleanup`) is AIRFLOW_HOME: airflow.cfg,
    task logs and the components' logs. ``ledger_url`` sets TESOMA_LEDGER_URL (default: the ledger on
    SQLite under the data root, as in the demo). ``extra_env`` is applied last (e.g. Airflow options).

    ``preload`` names modules the scheduler imports at start (see :meth:`write_preload`); the default is
    :data:`orchestration.env.PRELOAD`, as in every deployed stack; ``()`` makes each task import them itself.

    ``executor`` is ``LocalExecutor`` (default) or ``CeleryExecutor``; with Celery, ``celery_workers``
    workers each run up to ``worker_concurrency`` tasks at once (default: ``parallelism`` shared out among
    them, so the machine runs no more tasks than with the LocalExecutor) on the Redis database
    ``redis_db`` (default: :func:`free_redis_db`).
    """

    def __init__(self, database_url: str, data_root: Path, *, home: Path | None = None,
                 port: int | None = None, ledger_url: str | None = None, pseudonym_key: str | None = None,
                 parallelism: int = 4, preload: tuple[str, ...] | None = None, extra_env: dict[str, str] | None = None,
                 executor: str = "LocalExecutor", celery_workers: int = 2, worker_concurrency: int | None = None,
                 redis_db: int | None = None):
        if executor not in EXECUTORS:
            raise ValueError(f"executor={executor!r}: choose one of {', '.join(EXECUTORS)}")
        if executor == "CeleryExecutor" and celery_workers < 1:
            raise ValueError(f"celery_workers={celery_workers}: the CeleryExecutor needs at least one worker")
        self._own_home = home is None
        self.home = Path(home or tempfile.mkdtemp(prefix="tesoma-airflow-")).resolve()
        self.data_root = Path(data_root).resolve()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stack_id = secrets.token_hex(8)
        self.components: dict[str, Component] = {}
        if preload is None:
            from orchestration.env import PRELOAD as preload
        self.preload = tuple(preload)
        self._token: str | None = None
        self.parallelism = parallelism
        self.executor = executor
        self.workers = [f"w{i}" for i in range(1, celery_workers + 1)] if executor == "CeleryExecutor" else []
        self.worker_concurrency = worker_concurrency or max(1, parallelism // max(1, len(self.workers)))
        self.redis_db = None if not self.workers else redis_db if redis_db is not None else free_redis_db()
        self.env = self._environment(database_url, ledger_url, pseudonym_key, parallelism, extra_env or {})

    def _environment(self, database_url: str, ledger_url: str | None, pseudonym_key: str | None,
                     parallelism: int, extra: dict[str, str]) -> dict[str, str]:
        # Start from the caller's environment without any Airflow or Tesoma setting: the test session
        # (tests/conftest.py) and a developer's shell carry their own AIRFLOW__DATABASE__… and
        # TESOMA_LEDGER_URL, and a stray one would point this stack at someone else's database.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TESOMA_", "_AIRFLOW"))}
        venv_bin = Path(sys.executable).parent
        env.update({
            "PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",  # components start `airflow …` children
            STACK_VARIABLE: self.stack_id,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_DIR / "plugins"),  # orchestration/plugin.py
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Europe/Helsinki",  # as orchestration.env (naive CLI dates)
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),  # Airflow wants 64+ bytes
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            # One API worker and one parsing process: the stack shares a small machine with its tasks.
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            # The DAG files do not change while a stack runs a test or a check; re-parsing them every 30 s
            # (the default) costs a core-second or more each time on a two-core machine.
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # The task supervisor looks for its task process's exit only this often (default 5 s): each task
            # would hold its slot up to 5 s after it ends, and a failed task's duration include them.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "TESOMA_DATA_ROOT": str(self.data_root),
            "TESOMA_PSEUDONYM_KEY": pseudonym_key or secrets.token_urlsafe(48),
            "TESOMA_RETRY_DELAY_SECONDS": "2",  # a retried task shows at once, not after minutes
            # The <feed>_history DAGs' batches run in their own pool (orchestration/batch_tasks.py), made by
            # start() with a slot per parallel task.
            "TESOMA_BATCH_POOL": BATCH_POOL,
        })
        if database_url.startswith("postgresql+psycopg://"):
            # psycopg 3 is sync and async in one driver, so the same URL serves the async engine (other
            # databases: Airflow derives the async URL itself).
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = database_url
        if ledger_url:
            env["TESOMA_LEDGER_URL"] = ledger_url
        if self.workers:
            env.update(self._celery_environment(database_url))
        env.update(extra)
        return env

    def _celery_environment(self, database_url: str) -> dict[str, str]:
        """The CeleryExecutor's settings (names: the celery provider's ``[celery]`` section)."""
        return {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS[0]}:{REDIS[1]}/{self.redis_db}",
            # Task results in the stack's own metadata database (Celery makes its two tables there):
            # nothing of a task outlives the stack in Redis, and no second database is needed.
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{database_url}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            # One task fetched ahead per worker process (the default, said out loud): a worker that
            # prefetched more would hold tasks the other worker could be running.
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            # Sending a task to Redis on a busy two-core machine can take longer than the default 1 s.
            "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
        }

    def worker_environment(self, worker: str) -> dict[str, str]:
        """A Celery worker's environment: the stack's, with its name as the task instances' hostname."""
        return {**self.env, WORKER_VARIABLE: worker,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname"}

    # -- processes -------------------------------------------------------------------------------------

    @property
    def log_dir(self) -> Path:
        return self.home / "stack-logs"

    def airflow(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        """Run one ``airflow …`` command in this stack's environment; output is captured (text) and also
        appended to ``<home>/stack-logs/cli.log``, so a failure can be read in full afterwards."""
        result = subprocess.run([str(Path(sys.executable).with_name("airflow")), *args], env=self.env,
                                capture_output=True, text=True, timeout=timeout, start_new_session=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / "cli.log").open("a") as log:
            log.write(f"$ airflow {' '.join(args)}  # exit {result.returncode}\n{result.stdout}{result.stderr}\n")
        if check and result.returncode != 0:
            # stderr first: the traceback is there, stdout may be long (e.g. one line per backfill run)
            raise RuntimeError(f"airflow {' '.join(args)} exited {result.returncode} (full output in "
                               f"{self.log_dir / 'cli.log'}):\n{result.stderr[-4000:]}\n{result.stdout[-1000:]}")
        return result

    def migrate(self) -> None:
        """``airflow db migrate``: creates the metadata schema in the (empty) database."""
        self.home.mkdir(parents=True, exist_ok=True)
        result = self.airflow("db", "migrate", timeout=900, check=False)
        (self.home / "db-migrate.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed ({result.returncode}); see {self.home / 'db-migrate.log'}")

    def write_preload(self) -> None:
        """Make the processes that fork task processes (here the scheduler) import ``self.preload`` once
        when they start (``airflow_local_settings``; :mod:`orchestration.env`, *Preloading the task code*).

        The LocalExecutor forks its workers from the scheduler and every task process from a worker, and
        each task otherwise imports the pipeline's libraries afresh: Great Expectations alone takes about
        5 s of CPU, more than the work of a small delivery. ``preload=()`` writes nothing: each task then
        imports what it needs itself (to measure the difference, as tests/integration/test_task_startup.py).
        """
        from orchestration.env import write_local_settings

        write_local_settings(self.home, self.preload)

    def start(self, wait: float = 180) -> None:
        """Start every component (and the Celery workers), then wait until the API answers and reports each
        one healthy and every worker is ready."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.write_preload()
        if self.redis_db is not None:
            flush_redis_db(self.redis_db)  # no task queued by an earlier stack on this number
        airflow = str(Path(sys.executable).with_name("airflow"))
        for name in COMPONENTS:
            args = [airflow, name]
            if name == "api-server":
                args += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
            self._launch(name, args, self.env)
        for worker in self.workers:
            self._launch(f"{WORKER_PREFIX}{worker}", [
                airflow, "celery", "worker", "--celery-hostname", f"{worker}@%h",
                "--concurrency", str(self.worker_concurrency),
                "--pid", str(self.home / f"celery-{worker}.pid"),  # the default file is one per AIRFLOW_HOME
                # Every worker would serve its task logs on the same port (8793); the API server reads
                # them from the shared AIRFLOW_HOME/logs instead.
                "--skip-serve-logs",
                "--without-mingle", "--without-gossip",  # nothing to synchronise between workers here
            ], self.worker_environment(worker))
        self.wait_healthy(wait)
        self.warm_execution_api()
        self.wait_workers_ready(wait)
        self.make_batch_pool()

    def warm_execution_api(self, timeout: float = 60) -> float:
        """Ask the task-facing execution API once (``/execution/health``), so that it builds its routes now:
        the first request does (6–9 s measured on 2 cores), blocking every other request meanwhile — in the
        first task, whose client then times out and retries. Returns the seconds it took."""
        started = time.monotonic()
        # (not answering is no error: the first task warms it then)
        with contextlib.suppress(OSError, ValueError):
            self._request("GET", "/execution/health", authorise=False, timeout=timeout)
        return time.monotonic() - started

    def _launch(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = self.log_dir / f"{name}.log"
        with log.open("ab") as out:
            # start_new_session: setsid, so the component leads its own group and session and a
            # signal to the group also reaches the executor's workers and the parsing processes.
            process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        self.components[name] = Component(name, process, log)

    def wait_workers_ready(self, wait: float = 180) -> None:
        """Wait until every Celery worker has said in its log that it is ready to take tasks."""
        deadline = time.monotonic() + wait
        waiting = list(self.workers)
        while waiting:
            self.check_alive()
            waiting = [w for w in waiting if not self._ready(w)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"Celery worker(s) {waiting} not ready after {wait:.0f} s; logs in {self.log_dir}")
            time.sleep(1)

    def _ready(self, worker: str) -> bool:
        """Whether the worker's log has Celery's ``w1@<host> ready.`` line."""
        log = self.log_dir / f"{WORKER_PREFIX}{worker}.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        return any(f"{worker}@" in line and " ready." in line for line in text.splitlines())

    def make_batch_pool(self) -> None:
        """The pool of the history DAGs' batches, one slot per task the stack runs at once (a task in a
        pool that does not exist is never scheduled). Already there: left as it is."""
        import urllib.error

        try:
            self.api("POST", "/api/v2/pools", {"name": BATCH_POOL, "slots": self.parallelism,
                                               "description": "tesoma history batches (dags/history.py)"})
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise

    def health(self) -> dict:
        """``/api/v2/monitor/health`` (no token needed); {} while the API server is not answering."""
        try:
            return self._request("GET", "/api/v2/monitor/health", authorise=False, timeout=5)
        except (OSError, ValueError):
            return {}

    def wait_healthy(self, wait: float = 180) -> None:
        deadline = time.monotonic() + wait
        wanted = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        while True:
            self.check_alive()
            health = self.health()
            states = {k: (health.get(k) or {}).get("status") for k in wanted}
            if all(s == "healthy" for s in states.values()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"Airflow not healthy after {wait:.0f} s: {states}; logs in {self.log_dir}")
            time.sleep(1)

    def check_alive(self) -> None:
        """Raise, with the end of its log, when a component has exited (e.g. a crashed scheduler)."""
        dead = {n: c.process.returncode for n, c in self.components.items() if c.process.poll() is not None}
        if dead:
            raise RuntimeError(f"Airflow component(s) exited: {dead}; see {self.log_dir}\n{self.tail(*dead)}")

    def tail(self, *names: str, lines: int = 40) -> str:
        """The last lines of the components' logs (all when no name is given), for failure messages."""
        out = []
        for name in names or tuple(self.components):
            log = self.log_dir / f"{name}.log"
            if log.exists():
                text = log.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {log} ---\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self, timeout: float = 30) -> StopReport:
        """SIGTERM to each component's process group, SIGKILL to a group still alive after ``timeout``
        seconds, then SIGKILL to any process of the stack left outside those groups.

        The scheduler, DAG processor, triggerer and Celery workers go first and the API server last: tasks
        that are still finishing report their state through the API server's execution API. A Celery
        worker's SIGTERM is its warm shutdown (it finishes the tasks it runs). The broker's Redis database
        is flushed at the end.
        """
        started = time.monotonic()
        report = StopReport()
        api = [c for n, c in self.components.items() if n == "api-server"]
        others = [c for n, c in self.components.items() if n != "api-server"]
        for batch in (others, api):
            for c in batch:
                _signal_group(c.process.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for c in batch:
                try:
                    c.process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    report.killed.append(c.name)
                    _signal_group(c.process.pid, signal.SIGKILL)
                    c.process.wait(10)
                report.returncodes[c.name] = c.process.returncode
            # The leader has exited; its group may still hold children (executor workers, parsers).
            for c in batch:
                _wait_group_gone(c.process.pid, timeout=5)
        for pid, cmdline in self.leftovers():
            report.stragglers.append((pid, cmdline))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if report.stragglers:
            time.sleep(0.5)
        if self.redis_db is not None:
            import redis

            with contextlib.suppress(redis.exceptions.RedisError):  # Redis gone: nothing of ours left in it
                flush_redis_db(self.redis_db)
        self.components.clear()
        report.seconds = time.monotonic() - started
        return report

    def leftovers(self) -> list[tuple[int, str]]:
        """(pid, command line) of every live process that belongs to this stack, found by its
        environment variable, whatever process group or session it moved to."""
        marker = f"{STACK_VARIABLE}={self.stack_id}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if marker not in (entry / "environ").read_bytes().split(b"\0"):
                    continue
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # a zombie: already dead, waiting for its parent to reap it
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue  # gone meanwhile, or not ours
            found.append((int(entry.name), cmdline.strip()))
        return found

    def cleanup(self) -> None:
        """Delete the temporary AIRFLOW_HOME (when this stack made it)."""
        if self._own_home:
            import shutil

            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> AirflowStack:
        try:
            self.migrate()
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.stop()
        if exc_type is None:
            self.cleanup()  # a temporary home is kept after a failure: its logs say what happened

    # -- REST API v2 -----------------------------------------------------------------------------------

    def token(self) -> str:
        """A JWT from ``GET /auth/token`` (all-admins mode: no credentials)."""
        if self._token is None:
            self._token = self._request("GET", "/auth/token", authorise=False)["access_token"]
        return self._token

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 60) -> dict:
        """One REST API call; raises ``urllib.error.HTTPError`` with the server's message on 4xx/5xx."""
        return self._request(method, path, body, timeout=timeout)

    def _request(self, method: str, path: str, body: dict | None = None, *, authorise: bool = True,
                 timeout: float = 60) -> dict:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        request.add_header("Content-Type", "application/json")
        if authorise:
            request.add_header("Authorization", f"Bearer {self.token()}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:2000]
            raise urllib.error.HTTPError(e.url, e.code, f"{e.reason}: {detail}", e.headers, None) from None

    def dags(self) -> list[dict]:
        return self.api("GET", "/api/v2/dags?limit=1000")["dags"]

    def dag_runs(self, dag_id: str, **query: str) -> list[dict]:
        params = "&".join(f"{k}={v}" for k, v in {"limit": "1000", **query}.items())
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?{params}")["dag_runs"]


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_group_gone(pgid: int, timeout: float) -> None:
    """Wait until no process is left in group ``pgid``; SIGKILL the group if one still is."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.2)
    _signal_group(pgid, signal.SIGKILL)
