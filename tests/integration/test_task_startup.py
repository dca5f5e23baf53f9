"""Per-task start-up of a feed DAG on the production shape of Airflow (LocalExecutor, PostgreSQL): the task
code is imported once in the scheduler, not once per task (orchestration/env.py, *Preloading the task code*).

The test runs two small deliveries of ``city_activity``, one run after the other, through
``wait_for_delivery → land → ingest → publish → report`` on an :class:`~orchestration.stack.AirflowStack`
with its defaults, and checks that the scheduler preloaded the task code, that the runs succeeded, and that
unpausing the DAG created no scheduled run (orchestration/timetable.py). It prints each task's time in
Airflow beside the ledger's ``seconds`` of the delivery's ingest (the work itself).

The figures with and without preloading, side by side (two stacks one after the other, ~3 min)::

    .venv/bin/python -m tests.integration.test_task_startup

Needs PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres): skipped when it is down, failed under CI=true.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import pytest

from orchestration.env import PRELOAD
from orchestration.stack import AirflowStack, temporary_database
from tesoma.schedule import run_id, run_time_for

FEED = "city_activity"  # a drop feed with one partner and small daily files
DAYS = (dt.date(2026, 10, 1), dt.date(2026, 10, 2))  # run one after the other: the first on a cold stack
TASKS = ("wait_for_delivery", "land", "ingest", "publish", "report")


def generate(root: Path) -> None:
    from synthetic import generate as make

    make(root, start=DAYS[0], days=len(DAYS), residents=200, seed=5, fault_rate=0.0)


def run_one_delivery(root: Path, preload: tuple[str, ...], key: str, timeout: float = 240) -> dict[str, dict]:
    """Start a stack on a new PostgreSQL database, run the feed for each of DAYS in turn, return the figures
    of each run ("first": the stack's first run, "next": the following one)."""
    with temporary_database() as url, AirflowStack(url, root, pseudonym_key=key, preload=preload) as stack:
        deadline = time.monotonic() + 120
        while FEED not in {d["dag_id"] for d in stack.dags()}:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{FEED} not parsed after 120 s\n{stack.tail(lines=20)}")
            time.sleep(2)
        stack.api("PATCH", f"/api/v2/dags/{FEED}", {"is_paused": False})
        results = {}
        for label, day in zip(("first", "next"), DAYS, strict=True):
            results[label] = _run(stack, root, day, timeout)
        scheduler_log = (stack.log_dir / "scheduler.log").read_text(errors="replace")
        for result in results.values():
            result["scheduled_runs"] = [r["dag_run_id"] for r in stack.dag_runs(FEED, run_type="scheduled")]
            result["preloaded"] = "task code preloaded" in scheduler_log
        return results


def _run(stack: AirflowStack, root: Path, day: dt.date, timeout: float) -> dict:
    name = run_id(FEED, day, "startup")
    stack.api("POST", f"/api/v2/dags/{FEED}/dagRuns",
              {"dag_run_id": name, "logical_date": run_time_for(day).isoformat()})
    deadline = time.monotonic() + timeout
    while (state := stack.api("GET", f"/api/v2/dags/{FEED}/dagRuns/{name}")["state"]) not in ("success", "failed"):
        stack.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {name} still {state} after {timeout:.0f} s\n{stack.tail(lines=20)}")
        time.sleep(1)
    tis = stack.api("GET", f"/api/v2/dags/{FEED}/dagRuns/{name}/taskInstances")["task_instances"]
    run = stack.api("GET", f"/api/v2/dags/{FEED}/dagRuns/{name}")
    return {"state": state, "tasks": {t["task_id"]: t["duration"] for t in tis},
            "task_states": {t["task_id"]: t["state"] for t in tis},
            "run_seconds": _seconds(run["start_date"], run["end_date"]), "ingest_work": _ledger_seconds(root, day)}


def _seconds(start: str, end: str) -> float:
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()


def _ledger_seconds(root: Path, day: dt.date) -> float:
    """The ledger's ``seconds`` of the day's deliveries (each delivery's ingest: the work itself)."""
    from warehouse.ledger import Ledger

    return sum(d.seconds or 0 for d in Ledger(f"sqlite:///{root / 'ledger.sqlite'}").for_date(FEED, day))


def table(results: dict[str, dict]) -> str:
    lines = [f"{'task':<20}" + "".join(f"{label:>22}" for label in results)]
    for task in TASKS:
        lines.append(f"{task:<20}" + "".join(f"{r['tasks'].get(task) or 0:>21.1f}s" for r in results.values()))
    lines.append(f"{'run (start → end)':<20}" + "".join(f"{r['run_seconds']:>21.1f}s" for r in results.values()))
    lines.append(f"{'ingest work (ledger)':<20}" + "".join(f"{r['ingest_work']:>21.2f}s" for r in results.values()))
    return "\n".join(lines)


@pytest.mark.integration
@pytest.mark.xdist_group("services")
@pytest.mark.timeout(400)
def test_small_deliveries_with_the_task_code_preloaded(tmp_path):
    from tests.conftest import TEST_KEY, require_service

    require_service("PostgreSQL", "127.0.0.1", 5432)
    root = tmp_path / "data"
    generate(root)
    results = run_one_delivery(root, PRELOAD, TEST_KEY)
    print("\n" + table({f"preloaded, {k}": r for k, r in results.items()}))
    for result in results.values():
        assert result["preloaded"], "the scheduler did not preload the task code (orchestration/env.py)"
        assert result["state"] == "success", result["task_states"]
        assert set(result["task_states"].values()) == {"success"}, result["task_states"]
        assert result["scheduled_runs"] == [], "unpausing created a scheduled run (orchestration/timetable.py)"


def main() -> int:
    """Both ways, one after the other, each on a fresh data root; prints the table."""
    import shutil
    import tempfile

    from tests.conftest import TEST_KEY

    results = {}
    with tempfile.TemporaryDirectory(prefix="tesoma-startup-") as tmp:
        template = Path(tmp) / "template"
        generate(template)
        for label, preload in (("each task", ()), ("preloaded", PRELOAD)):
            root = Path(tmp) / label.replace(" ", "-")
            shutil.copytree(template, root)
            for run, result in run_one_delivery(root, preload, TEST_KEY).items():
                results[f"{label}, {run}"] = result
                print(f"{label}, {run} run: {result['state']}", flush=True)
    print(f"{FEED}, one delivery per run ({', '.join(map(str, DAYS))}); seconds of each task in Airflow "
          "(start → end); task code imported by each task / preloaded in the scheduler; first / next run of the stack:")
    print(table(results))
    return 0 if all(r["state"] == "success" for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())


# --- without services: which processes preload, and the deployed stacks do -------------------------------

def test_only_the_processes_that_fork_tasks_preload(monkeypatch):
    from orchestration.env import forks_tasks, preload_task_code

    assert forks_tasks(["airflow", "scheduler"]) and forks_tasks(["airflow", "celery", "worker", "-q", "default"])
    for other in (["airflow", "api-server"], ["airflow", "dag-processor"], ["airflow", "triggerer"],
                  ["airflow", "celery", "flower"], ["airflow", "db", "migrate"], ["tesoma", "demo"]):
        assert not forks_tasks(other), other
    assert preload_task_code(("json",), argv=["airflow", "api-server"]) == []
    assert preload_task_code(("json",), argv=["airflow", "scheduler"]) == ["json"]
    monkeypatch.setenv("TESOMA_AIRFLOW_PRELOAD", "0")
    assert preload_task_code(("json",), argv=["airflow", "scheduler"]) == []


def test_every_deployed_stack_preloads(tmp_path, monkeypatch):
    import os
    from types import SimpleNamespace

    import yaml

    from orchestration.env import configure, write_local_settings
    from tesoma.config import PROJECT_DIR

    written = write_local_settings(tmp_path / "home").read_text()
    deployed = PROJECT_DIR / "deploy" / "airflow" / "config" / "airflow_local_settings.py"
    assert deployed.read_text() == written, f"{deployed} differs from what orchestration.env writes: rewrite it"
    compose = yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())
    mounts = compose["x-airflow-common"]["volumes"]
    assert f"./{deployed.relative_to(PROJECT_DIR)}:/opt/airflow/config/airflow_local_settings.py:ro" in mounts
    # `tesoma airflow` (standalone): configure() writes it into AIRFLOW_HOME/config
    monkeypatch.setattr(os, "environ", dict(os.environ))  # configure() sets defaults in the environment
    home = configure(SimpleNamespace(data_root=tmp_path / "data"))
    assert (home / "config" / "airflow_local_settings.py").read_text() == written
    # the test stacks: by default
    assert AirflowStack("postgresql+psycopg://x/y", tmp_path, home=tmp_path / "stack").preload == PRELOAD


PARSE_IN_A_TASK = """
import importlib, json, sys, time
from pathlib import Path

from orchestration.env import PRELOAD, warm_caches

for name in PRELOAD:
    importlib.import_module(name)
warmed = warm_caches()
import airflow.sdk.execution_time.task_runner  # noqa: F401 — the task process runs it: imported by then
from airflow.dag_processing.dagbag import BundleDagBag

import contracts

dags = Path(sys.argv[1])
found = {}
for path in sorted(dags.glob("*.py")):
    before, reads = set(sys.modules), contracts.load.cache_info().misses
    started = time.perf_counter()
    bag = BundleDagBag(dag_folder=str(path), safe_mode=False, load_op_links=False, bundle_path=str(dags),
                       bundle_name="dags-folder")
    found[path.name] = {"seconds": time.perf_counter() - started, "dags": len(bag.dags),
                        "errors": len(bag.import_errors),
                        "contracts_read": contracts.load.cache_info().misses - reads,
                        "imported": sorted(m for m in set(sys.modules) - before if not m.startswith("unusual_prefix_"))}
print(json.dumps({"warmed": warmed, "files": found}))
"""


def test_after_preloading_a_task_parses_its_dag_file_without_imports_or_yaml(tmp_path):
    """What a task does first (Airflow's task runner parses the task's DAG file) costs no import and no
    contract read once the forking process has preloaded (PRELOAD) and warmed its caches (warm_caches)."""
    import json
    import os
    import subprocess

    from tesoma.config import PROJECT_DIR

    env = {**os.environ, "TESOMA_DATA_ROOT": str(tmp_path)}  # the ledger's schema is checked there
    env.pop("TESOMA_LEDGER_URL", None)
    out = subprocess.run([sys.executable, "-c", PARSE_IN_A_TASK, str(PROJECT_DIR / "dags")], env=env,
                         capture_output=True, text=True, timeout=300, check=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["warmed"] == ["feeds", "ledger schema"]
    assert (tmp_path / "ledger.sqlite").exists()
    files = result["files"]
    assert {"feeds.py", "history.py", "catalog.py"} <= set(files)
    for name, parsed in files.items():
        assert parsed["errors"] == 0 and parsed["dags"] >= 1, (name, parsed)
        assert parsed["imported"] == [], f"{name}: parsing it imports {parsed['imported']}: add them to PRELOAD"
        assert parsed["contracts_read"] == 0, f"{name}: parsing it reads contracts (warm_caches)"
    print({name: f"{parsed['seconds']:.3f} s" for name, parsed in files.items()})


def test_a_task_builds_only_its_own_history_dag(monkeypatch):
    """A task's parse (Airflow sets the parsing context to its DAG) builds one of the eight history DAGs; the
    DAG processor's (no context) builds them all."""
    from airflow.dag_processing.dagbag import BundleDagBag

    from tesoma.config import PROJECT_DIR

    def parse() -> set[str]:
        bag = BundleDagBag(dag_folder=str(PROJECT_DIR / "dags" / "history.py"), safe_mode=False,
                           load_op_links=False, bundle_path=str(PROJECT_DIR / "dags"), bundle_name="dags-folder")
        assert not bag.import_errors, bag.import_errors
        return set(bag.dags)

    every = parse()
    assert "city_visits_history" in every and len(every) > 1
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "city_visits_history")  # what the task runner sets
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "plan")
    assert parse() == {"city_visits_history"}
