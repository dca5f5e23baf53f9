"""Backfill check: backfill DAGs over a date range, then again, and show that the second changes nothing.

Two ways to run it:

- ``--postgres`` (the production shape): starts its own Airflow — scheduler, DAG processor, triggerer and
  API server as separate processes on a new PostgreSQL database (``tesoma.airflow_stack``) — on a new
  data root with ``--days`` of generated demo deliveries, backfills with ``airflow backfill create``
  twice (the second with ``--reprocess-behavior completed``, so every run really runs again), compares a
  hash of the warehouse's Parquet files after each pass, stops everything and drops the database::

      .venv/bin/python scripts/airflow_backfill_check.py --postgres [--days 30] [--dag city_visits | --all-daily]

- without it, against a running UI (after ``make airflow``: standalone, SQLite), through the REST API v2
  (``POST /api/v2/backfills``, what ``airflow backfill create`` does)::

      .venv/bin/python scripts/airflow_backfill_check.py [--dag city_visits] [--from 2026-10-02] [--to 2026-10-31]

Exit status 0 when every run of both passes succeeded and the warehouse is byte-identical after the second.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PASS_TIMEOUT = 3600  # seconds; a 30-day pass takes minutes, a stuck scheduler is reported long before this


def fingerprint(root: Path) -> tuple[str, int]:
    """(hash of every published Parquet file, number of files) under the data root's warehouse."""
    h = hashlib.sha256()
    files = sorted((root / "warehouse" / "harmonised").rglob("*.parquet"))
    for path in files:
        h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest(), len(files)


# -- against a running UI (standalone) ------------------------------------------------------------------

def backfill(token: str, dag: str, start: str, end: str) -> tuple[int, dict]:
    from tesoma.airflow_ui import api

    created = api("POST", "/api/v2/backfills", token, {
        "dag_id": dag, "from_date": f"{start}T00:00:00Z", "to_date": f"{end}T23:59:59Z",
        "reprocess_behavior": "completed", "max_active_runs": 4})
    backfill_id = created["id"]
    while not api("GET", f"/api/v2/backfills/{backfill_id}", token).get("completed_at"):
        time.sleep(5)
    runs = api("GET", f"/api/v2/dags/{dag}/dagRuns?limit=200&run_type=backfill", token)["dag_runs"]
    states: dict[str, int] = {}
    for run in runs:
        states[run["state"]] = states.get(run["state"], 0) + 1
    return backfill_id, states


def check_running_ui(args: argparse.Namespace) -> int:
    from tesoma.airflow_ui import api

    root = Path(os.environ.get("TESOMA_DATA_ROOT", "data")).resolve()
    token = api("GET", "/auth/token")["access_token"]
    dag = args.dag[0] if args.dag else "city_visits"
    api("PATCH", f"/api/v2/dags/{dag}", token, {"is_paused": False})
    results = []
    for attempt in (1, 2):
        started = time.monotonic()
        backfill_id, states = backfill(token, dag, args.start_run, args.end_run)
        fp = fingerprint(root)
        results.append(fp)
        print(f"backfill {attempt} (id {backfill_id}): runs {states} in {time.monotonic() - started:.0f} s; "
              f"warehouse {fp[1]} files, sha256 {fp[0][:16]}…")
        if set(states) - {"success"}:
            return 1
    unchanged = results[0] == results[1]
    print("second backfill changed nothing" if unchanged else "second backfill CHANGED the warehouse")
    return 0 if unchanged else 1


# -- on PostgreSQL, with a stack of its own -------------------------------------------------------------

def ledger_summary(ledger_url: str, feeds: list[str]) -> dict:
    """Deliveries per (feed, state) with their row accounting: must not change between the passes."""
    from warehouse.ledger import Ledger

    ledger = Ledger(ledger_url)
    try:
        summary: dict = {}
        for feed in feeds:
            for d in ledger.all(feed):
                key = (feed, d.state)
                n, read, published, quarantined = summary.get(key, (0, 0, 0, 0))
                summary[key] = (n + 1, read + (d.rows_read or 0), published + (d.rows_published or 0),
                                quarantined + (d.rows_quarantined or 0))
        return summary
    finally:
        ledger.engine.dispose()


def task_failures(stack) -> list[str]:
    """Exception types of every failed task try so far, from the scheduler's log (tasks' errors are
    relayed there). A failed try that a retry repaired leaves the run successful; this shows it anyway."""
    import re

    log = stack.log_dir / "scheduler.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    return [m.group(1) for line in text.splitlines() if "Task failed with exception" in line
            for m in [re.search(r"'exc_type': '([^']+)'", line)] if m]


def run_pass(stack, dags: dict[str, tuple[dt.datetime, dt.datetime]], max_active_runs: int, number: int) -> dict:
    """One backfill of every DAG at once with ``airflow backfill create``; waits until each is complete.

    Returns per DAG: the backfill id, the states of its runs, how many of them ran in this pass (started
    after it began: with ``--reprocess-behavior completed`` the second pass clears and re-runs the same
    DAG runs), and the seconds from create to complete.
    """
    began = dt.datetime.now(dt.UTC)
    started = time.monotonic()

    def create(dag_id: str) -> None:
        first, last = dags[dag_id]
        stack.airflow("backfill", "create", "--dag-id", dag_id, "--from-date", first.isoformat(),
                      "--to-date", last.isoformat(), "--max-active-runs", str(max_active_runs),
                      "--reprocess-behavior", "completed")

    with ThreadPoolExecutor(max_workers=len(dags)) as pool:
        list(pool.map(create, dags))
    created = time.monotonic() - started
    print(f"  pass {number}: `airflow backfill create` for {', '.join(dags)} in {created:.1f} s", flush=True)
    for dag_id in dags:  # unpaused only now: see tests/integration/test_airflow_postgres.py
        stack.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    pending = set(dags)
    result: dict = {}
    deadline = time.monotonic() + PASS_TIMEOUT
    last_report = 0.0
    while pending:
        stack.check_alive()  # a crashed scheduler ends the check here, with its log
        for dag_id in sorted(pending):
            backfills = stack.api("GET", f"/api/v2/backfills?dag_id={dag_id}&limit=100")["backfills"]
            latest = max(backfills, key=lambda b: b["id"])
            if latest.get("completed_at"):
                runs = stack.dag_runs(dag_id, run_type="backfill")
                states: dict[str, int] = {}
                for run in runs:
                    states[run["state"]] = states.get(run["state"], 0) + 1
                reran = sum(1 for r in runs if r.get("start_date") and
                            dt.datetime.fromisoformat(r["start_date"].replace("Z", "+00:00")) >= began)
                result[dag_id] = {"backfill_id": latest["id"], "states": states, "ran": reran,
                                  "seconds": time.monotonic() - started}
                pending.discard(dag_id)
        if time.monotonic() > deadline:
            raise TimeoutError(f"pass {number}: backfills of {sorted(pending)} not complete after {PASS_TIMEOUT} s")
        if pending and time.monotonic() - last_report > 60:
            last_report = time.monotonic()
            print(f"  pass {number}: {time.monotonic() - started:.0f} s, waiting for {sorted(pending)}", flush=True)
        time.sleep(3 if pending else 0)
    return result


def _dates_without_delivery(root: Path, feeds: list[str], start: dt.date, days: int) -> dict[str, list[dt.date]]:
    import connectors

    landing = root / "landing"
    dates = [start + dt.timedelta(days=i) for i in range(days)]
    missing = {f: [d for d in dates if not connectors.for_feed(f).discover_all(landing, d)] for f in feeds}
    return {f: d for f, d in missing.items() if d}


def check_postgres(args: argparse.Namespace) -> int:
    from tesoma.airflow_stack import AirflowStack, temporary_database
    from tesoma.feed_config import load
    from tesoma.feeds import carried
    from tesoma.schedule import run_time_for
    from tesoma.synthetic import generate

    runs = load()
    daily = [f for f in carried() if runs[f].cadence == "daily"]
    feeds = daily if args.all_daily else (args.dag or ["city_visits"])
    unknown = [f for f in feeds if f not in runs or runs[f].cadence != "daily"]
    if unknown:
        sys.exit(f"not a daily feed DAG: {', '.join(unknown)} (daily: {', '.join(daily)})")
    last = args.start + dt.timedelta(days=args.days - 1)
    windows = {f: (run_time_for(args.start, "daily", runs[f].run_at), run_time_for(last, "daily", runs[f].run_at))
               for f in feeds}
    root = Path(args.data_root or tempfile.mkdtemp(prefix="tesoma-backfill-")).resolve()
    timings: dict[str, float] = {}

    t = time.monotonic()
    generate(root, start=args.start, days=args.days, residents=args.residents, seed=42, fault_rate=args.fault_rate)
    timings["generate demo data"] = time.monotonic() - t
    print(f"data root {root}: {args.days} days from {args.start} ({args.residents} residents) "
          f"in {timings['generate demo data']:.1f} s")
    # A drop feed's first task (wait_for_delivery) waits in the triggerer, up to the feed's wait_up_to, for
    # a delivery that is not there, even in a backfill of past dates; with max_active_runs such runs hold
    # up the whole backfill for hours. Say so up front instead of appearing to hang.
    missing = _dates_without_delivery(root, feeds, args.start, args.days)
    if missing and not args.allow_missing:
        for feed, days in missing.items():
            print(f"{feed}: no delivery for {len(days)} date(s) ({', '.join(map(str, days))}): its runs would "
                  f"wait {runs[feed].wait_up_to} each for them", file=sys.stderr)
        print("leave those feeds out (--dag), or pass --allow-missing to wait", file=sys.stderr)
        if not args.data_root:
            shutil.rmtree(root, ignore_errors=True)
        return 2
    print(f"backfill {', '.join(feeds)}: runs {windows[feeds[0]][0].isoformat()} … {windows[feeds[0]][1].isoformat()}")

    passes, prints, summaries = [], [], []
    with temporary_database() as airflow_db, temporary_database(prefix="airflow_it_ledger_") as ledger_db:
        stack = AirflowStack(airflow_db, root, ledger_url=ledger_db if args.ledger == "postgres" else None,
                             preload=() if args.no_preload else ("great_expectations", "tesoma.steps",
                                                                 "tesoma.delivery_sensor"))
        ledger_url = ledger_db if args.ledger == "postgres" else f"sqlite:///{root / 'ledger.sqlite'}"
        print(f"Airflow home {stack.home} (component logs in {stack.log_dir}); API {stack.url}")
        ok = False
        try:
            t = time.monotonic()
            stack.migrate()
            timings["airflow db migrate"] = time.monotonic() - t
            t = time.monotonic()
            stack.start()
            timings["start until healthy"] = time.monotonic() - t
            t = time.monotonic()
            while not set(feeds) <= {d["dag_id"] for d in stack.dags()}:
                stack.check_alive()
                time.sleep(2)
            timings["DAGs parsed"] = time.monotonic() - t
            for number in (1, 2):
                failed_before = len(task_failures(stack))
                result = run_pass(stack, windows, args.max_active_runs, number)
                failures = task_failures(stack)[failed_before:]
                passes.append(result)
                prints.append(fingerprint(root))
                summaries.append(ledger_summary(ledger_url, feeds))
                seconds = max(r["seconds"] for r in result.values())
                timings[f"pass {number}"] = seconds
                for dag_id, r in result.items():
                    print(f"  pass {number}: {dag_id} backfill {r['backfill_id']}: runs {r['states']}, "
                          f"{r['ran']} ran in this pass, {r['seconds']:.0f} s")
                print(f"  pass {number}: warehouse {prints[-1][1]} Parquet files, sha256 {prints[-1][0]}")
                print(f"  pass {number}: ledger (feed, state): (deliveries, rows read, published, quarantined) "
                      f"{summaries[-1]}")
                print(f"  pass {number}: failed task tries (retried): {len(failures)} {sorted(set(failures))}",
                      flush=True)
            ok = True
        except Exception as e:  # report with the scheduler's log, then stop and clean up
            print(f"FAILED: {type(e).__name__}: {e}\n{stack.tail('scheduler', lines=80)}", file=sys.stderr)
        finally:
            t = time.monotonic()
            report = stack.stop()
            timings["stop"] = time.monotonic() - t
            left = stack.leftovers()
            print(f"stopped: {report}; processes left: {left or 'none'}")
            if args.keep or not ok:  # after a failure the logs are the evidence: keep them
                print(f"kept: Airflow home {stack.home}, data root {root}")
            else:
                stack.cleanup()
                if not args.data_root:
                    shutil.rmtree(root, ignore_errors=True)

    print("timings: " + "; ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    if not ok:
        return 1
    all_success = all(set(r["states"]) == {"success"} and r["ran"] == args.days for p in passes for r in p.values())
    unchanged = prints[0] == prints[1] and summaries[0] == summaries[1]
    print(f"every run of both passes succeeded and ran: {all_success}")
    print("second backfill changed nothing (Parquet hash and ledger accounting identical)" if unchanged
          else f"second backfill CHANGED the warehouse: {prints} {summaries}")
    return 0 if all_success and unchanged and not left else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dag", action="append", help="DAG to backfill (repeatable; default city_visits)")
    parser.add_argument("--postgres", action="store_true",
                        help="start an Airflow stack of its own on a new PostgreSQL database (see above)")
    parser.add_argument("--all-daily", action="store_true", help="--postgres: every daily feed DAG at once")
    parser.add_argument("--days", type=int, default=30, help="--postgres: delivery dates to backfill (default 30)")
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 10, 1),
                        help="--postgres: first delivery date (default 2026-10-01, the demo's)")
    parser.add_argument("--residents", type=int, default=16_000, help="--postgres: demo residents (default 16000)")
    parser.add_argument("--fault-rate", type=float, default=0.0,
                        help="--postgres: demo faults (default 0: every run should succeed)")
    parser.add_argument("--ledger", choices=("postgres", "sqlite"), default="postgres",
                        help="--postgres: ledger on a second new PostgreSQL database, or SQLite in the data root")
    parser.add_argument("--max-active-runs", type=int, default=4, help="--postgres: per backfill (default 4)")
    parser.add_argument("--no-preload", action="store_true",
                        help="--postgres: do not pre-import the task code in the scheduler (slower; production-like)")
    parser.add_argument("--data-root", type=Path, help="--postgres: generate into this folder (default: temporary)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="--postgres: backfill dates without a delivery too (their runs wait for it)")
    parser.add_argument("--keep", action="store_true",
                        help="--postgres: keep the Airflow home and the data root (always kept after a failure)")
    parser.add_argument("--from", dest="start_run", default="2026-10-02", help="running UI: first run date")
    parser.add_argument("--to", dest="end_run", default="2026-10-31", help="running UI: last run date")
    args = parser.parse_args()
    return check_postgres(args) if args.postgres else check_running_ui(args)


if __name__ == "__main__":
    sys.exit(main())
