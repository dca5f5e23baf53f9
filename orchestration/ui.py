"""`tesoma airflow`: the operator's UI on the embedded default, one command away.

Loads the demo data when there is none, gives every DAG at least one successful run (``dag.test()``),
then starts ``airflow standalone`` (SQLite, LocalExecutor) on http://127.0.0.1:8080 in its own process
group. ``tesoma airflow --stop`` stops that group. Local use only: every user is an admin
(simple auth manager, all admins), and the server listens on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tesoma.config import Settings

URL = "http://127.0.0.1:8080"


def _pid_file(settings: Settings) -> Path:
    return settings.data_root / "airflow" / "standalone.pid"


def environment(settings: Settings) -> dict[str, str]:
    from orchestration.env import configure

    configure(settings)
    env = dict(os.environ)
    # standalone starts its components as `airflow …` subprocesses: they must find this environment's one
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    env.setdefault("AIRFLOW__API__PORT", "8080")
    env.setdefault("AIRFLOW__CORE__PARALLELISM", "4")
    env.setdefault("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    env["TESOMA_RETRY_DELAY_SECONDS"] = env.get("TESOMA_RETRY_DELAY_SECONDS", "30")
    return env


def seed_runs(settings: Settings, echo=print) -> None:
    """Give every DAG a successful run on the latest date that has a delivery (demo data).

    The runs are ``dag.test()`` runs made to look like the scheduler's (:func:`tesoma.demo.run_dag`): each
    task's log in the UI, and a duration of seconds, the time the run took.
    """
    from tesoma.demo import load_dag, output_to, run_dag
    from tesoma.feed_config import load
    from tesoma.schedule import run_time_for
    from warehouse.ledger import Ledger

    ledger = Ledger(settings.ledger_url)
    log = settings.data_root / "airflow" / "seed-runs.log"

    def run(dag_id: str, **kwargs) -> str:
        with output_to(log):
            dag = load_dag(dag_id)
        return str(run_dag(dag, log, **kwargs).state)

    for feed, feed_run in load().items():
        dates = sorted({d.delivery_date for d in ledger.all(feed) if d.state == "published"})
        if not dates:
            continue
        state = run(feed, logical_date=run_time_for(dates[-1], feed_run.cadence, feed_run.run_at))
        echo(f"  {feed}: run for {dates[-1]} → {state}")
    echo(f"  retention → {run('retention', logical_date=dt.datetime.now(dt.UTC) - dt.timedelta(days=1))}")
    # in production the feeds' asset events start it; dag.test() has no scheduler
    echo(f"  catalog → {run('catalog')}")


def has_published_data(settings: Settings) -> bool:
    """Whether anything is published yet: the ledger has a warehouse state (one row read; a ledger not
    created yet means no). A data root still in the pre-Iceberg layout stops here, saying to migrate it."""
    import sqlalchemy as sa

    from warehouse import states
    from warehouse.iceberg import refuse_old_layout

    refuse_old_layout(settings.data_root)
    url = settings.ledger_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return False  # not even a ledger (connecting would create an empty one)
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).has_table("warehouse_states") and states.head(engine).state_id is not None
    finally:
        engine.dispose()


def healthy(timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{URL}/api/v2/monitor/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def start(settings: Settings, echo=print, wait: float = 240) -> int:
    env = environment(settings)
    for key, value in env.items():  # seed runs in this process with the same settings
        os.environ[key] = value
    if healthy():
        echo(f"Airflow is already running at {URL}")
        return 0
    subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not has_published_data(settings):
        echo("no demo data yet: running `tesoma demo` first …")
        subprocess.run([str(Path(sys.executable).with_name("tesoma")), "demo"], check=True, env=env)
    if not (settings.data_root / "airflow" / "seeded").exists():
        echo("giving every DAG a successful run (dag.test) …")
        seed_runs(settings, echo)
        (settings.data_root / "airflow" / "seeded").touch()
    log = settings.data_root / "airflow" / "standalone.log"
    with log.open("ab") as out:
        process = subprocess.Popen([str(Path(sys.executable).with_name("airflow")), "standalone"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    _pid_file(settings).write_text(str(process.pid))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if healthy():
            _warm_execution_api()
            echo(f"Airflow is up: {URL} (every local user is an admin). Log: {log}. Stop: tesoma airflow --stop")
            return 0
        if process.poll() is not None:
            echo(f"airflow standalone exited ({process.returncode}); see {log}")
            return 1
        time.sleep(2)
    echo(f"Airflow did not answer within {wait:.0f} s; see {log}")
    return 1


def _warm_execution_api() -> None:
    """One request to the task-facing API, which builds its routes on the first one (6–9 s on 2 cores,
    blocking other requests): now, rather than in the first task (orchestration.stack.warm_execution_api)."""
    with contextlib.suppress(OSError):  # (not answering is no error: the first task warms it then)
        urllib.request.urlopen(f"{URL}/execution/health", timeout=60).close()


def stop(settings: Settings, echo=print) -> int:
    pid_file = _pid_file(settings)
    if not pid_file.exists():
        echo("no Airflow started by tesoma is running")
        return 0
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(30):
            time.sleep(1)
            os.killpg(pid, 0)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pid_file.unlink(missing_ok=True)
    echo("Airflow stopped")
    return 0


def api(method: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"{URL}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")
