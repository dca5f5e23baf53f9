"""Backfill check: backfill DAGs over a date range, then again, and show that the second changes nothing.

Two ways to run it:

- ``--postgres`` (the production shape): starts its own Airflow — scheduler, DAG processor, triggerer and
  API server as separate processes on a new PostgreSQL database (``orchestration.stack``) — on a new
  data root with ``--days`` of generated demo deliveries, backfills with ``airflow backfill create``
  twice (the second with ``--reprocess-behavior completed``, so every run really runs again), compares a
  hash of the warehouse's current state (each table's Iceberg snapshot and its data files) after each
  pass, stops everything and drops the database::

      .venv/bin/python scripts/airflow_backfill_check.py --postgres [--days 30] [--dag city_visits | --all-daily]

- without it, against a running UI (after ``make airflow``: standalone, SQLite), through the REST API v2
  (``POST /api/v2/backfills``, what ``airflow backfill create`` does)::

      .venv/bin/python scripts/airflow_backfill_check.py [--dag city_visits] [--from 2026-10-02] [--to 2026-10-31]

A date without a delivery does not wait in a backfill: ``wait_for_delivery`` applies the feed's
``if_not_delivered`` (config/feeds.yaml) at once (orchestration.delivery_sensor). So the check expects, per delivery
date, what its files in landing/ say: delivered — the run succeeds; not delivered — ``skip``: the run succeeds
with ``wait_for_delivery`` skipped (the NGO feeds' Sundays), ``fail``: the run fails with it failed.

Exit status 0 when every run of both passes ended as expected and the second committed nothing (the same
warehouse state, byte-identical data files); 1 when any run ended otherwise (or did not run), or the second
pass changed something.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

PASS_TIMEOUT = 3600  # seconds; a 30-day pass takes minutes, a stuck scheduler is reported long before this


def fingerprint(root: Path, ledger_url: str | None = None) -> tuple[str, int]:
    """(hash of the warehouse's current state, number of data files): every table's Iceberg snapshot as the
    state records it and the path and bytes of every data file of those snapshots. A pass that commits
    anything (even the same rows again) changes it."""
    from warehouse import readers, states
    from warehouse.iceberg import Place
    from warehouse.ledger import Ledger

    place = Place.for_root(root, ledger_url)
    ledger = Ledger(place.ledger_url)
    try:
        state = states.head(ledger.engine)
    finally:
        ledger.engine.dispose()
    h = hashlib.sha256(json.dumps(state.snapshots, sort_keys=True).encode())
    files = sorted(p for paths in readers.files_for(place, state).values() for p in paths)
    for path in files:
        h.update(path.as_posix().encode() + path.read_bytes())
    return h.hexdigest(), len(files)


# -- what each run must end as ----------------------------------------------------------------------------

DELIVERED = "delivered"  # otherwise a run's outcome is its feed's if_not_delivered: "skip" or "fail"
# outcome -> (state of the DAG run, state of its wait_for_delivery; None: not looked at)
EXPECTED_STATES = {DELIVERED: ("success", None), "skip": ("success", "skipped"), "fail": ("failed", "failed")}


def expected_outcomes(landing: Path, feed: str, dates: list[dt.date]) -> dict[dt.date, str]:
    """Per delivery date, how the feed's backfill run must end: ``delivered`` when its files are in
    landing/ — decided by the sensor's own functions, so ``expect: any`` counts as ``wait_for_delivery``
    counts — else the feed's ``if_not_delivered``, which the sensor applies at once in a backfill."""
    from orchestration.delivery_sensor import is_complete, landed
    from tesoma.feed_config import load

    run = load()[feed]
    if not run.waits_for_files:  # a pull feed has no wait_for_delivery: it queries the source
        return dict.fromkeys(dates, DELIVERED)
    return {d: DELIVERED if is_complete(feed, landed(feed, d, landing), run.expect) else run.if_not_delivered
            for d in dates}


def count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def delivery_date(run: dict, cadence: str) -> dt.date:
    from tesoma.schedule import delivery_date_for

    return delivery_date_for(dt.datetime.fromisoformat(run["logical_date"].replace("Z", "+00:00")), cadence)


def unexpected_runs(get: Callable[[str], dict], dag_id: str, cadence: str, runs: list[dict],
                    expected: dict[dt.date, str]) -> list[str]:
    """The runs of ``expected``'s dates that did not end as it says, as "date: expected …, got …", and its
    dates without a run. For a date without a delivery, ``wait_for_delivery`` itself must be skipped or
    failed: a run that failed elsewhere (or a sensor that waited and timed out) is not the policy at work."""
    wrong, seen = [], set()
    for run in runs:
        day = delivery_date(run, cadence)
        if day not in expected:  # another backfill's run (running UI)
            continue
        seen.add(day)
        want_run, want_sensor = EXPECTED_STATES[expected[day]]
        got_sensor = None
        if want_sensor is not None:
            got_sensor = get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run['dag_run_id'], safe='')}"
                             f"/taskInstances/wait_for_delivery").get("state")
        if run["state"] != want_run or got_sensor != want_sensor:
            wrong.append(f"{day}: expected {expected[day]} (run {want_run}"
                         f"{f', wait_for_delivery {want_sensor}' if want_sensor else ''}), got run {run['state']}"
                         f"{f', wait_for_delivery {got_sensor}' if want_sensor else ''}")
    wrong += [f"{day}: no run" for day in sorted(set(expected) - seen)]
    return wrong


# -- against a running UI (standalone) ------------------------------------------------------------------

def backfill(token: str, dag: str, start: str, end: str) -> tuple[int, list[dict]]:
    from orchestration.ui import api

    try:
        created = api("POST", "/api/v2/backfills", token, {
            "dag_id": dag, "from_date": f"{start}T00:00:00Z", "to_date": f"{end}T23:59:59Z",
            "reprocess_behavior": "completed", "max_active_runs": 4})
    except urllib.error.HTTPError as exc:
        if exc.code != 503:
            raise
        # Airflow 3.3 on SQLite: "Backfill creation is not supported on SQLite under concurrent access"
        # (seen 2026-11-24: 10 of 30 runs created, then 503). The runs already created stay and run.
        detail = json.loads(exc.read() or b"{}").get("detail", "database is locked")
        sys.exit(f"Airflow refused the backfill: {detail}\nBackfill long ranges with the PostgreSQL "
                 "metadata database: .venv/bin/python scripts/airflow_backfill_check.py --postgres --days 30")
    backfill_id = created["id"]
    while not api("GET", f"/api/v2/backfills/{backfill_id}", token).get("completed_at"):
        time.sleep(5)
    runs = api("GET", f"/api/v2/dags/{dag}/dagRuns?limit=200&run_type=backfill", token)["dag_runs"]
    return backfill_id, runs


def check_running_ui(args: argparse.Namespace) -> int:
    from orchestration.ui import api
    from tesoma.feed_config import load

    root = Path(os.environ.get("TESOMA_DATA_ROOT", "data")).resolve()
    token = api("GET", "/auth/token")["access_token"]
    dag = args.dag[0] if args.dag else "city_visits"
    cadence = load()[dag].cadence
    api("PATCH", f"/api/v2/dags/{dag}", token, {"is_paused": False})
    results = []
    for attempt in (1, 2):
        started = time.monotonic()
        backfill_id, runs = backfill(token, dag, args.start_run, args.end_run)
        fp = fingerprint(root)
        results.append(fp)
        # The runs of this range only (the list holds every backfill's), each with the outcome its landing/ says
        first, last = (dt.datetime.fromisoformat(f"{d}T00:00:00+00:00") for d in (args.start_run, args.end_run))
        ours = [r for r in runs if first <= dt.datetime.fromisoformat(r["logical_date"].replace("Z", "+00:00"))
                < last + dt.timedelta(days=1)]
        expected = expected_outcomes(root / "landing", dag, sorted({delivery_date(r, cadence) for r in ours}))
        wrong = unexpected_runs(lambda path: api("GET", path, token), dag, cadence, ours, expected)
        print(f"backfill {attempt} (id {backfill_id}): runs {count(r['state'] for r in ours)} "
              f"(expected {count(expected.values())}) in {time.monotonic() - started:.0f} s; "
              f"warehouse state with {fp[1]} data files, sha256 {fp[0][:16]}…")
        if wrong or not ours:
            print("runs not as expected: " + ("; ".join(wrong) or "none in the range"), file=sys.stderr)
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


def run_pass(stack, dags: dict[str, tuple[dt.datetime, dt.datetime]], expected: dict[str, dict[dt.date, str]],
             max_active_runs: int, number: int) -> dict:
    """One backfill of every DAG at once with ``airflow backfill create``; waits until each is complete.

    Returns per DAG: the backfill id, the states of its runs, how many of them ran in this pass (started
    after it began: with ``--reprocess-behavior completed`` the second pass clears and re-runs the same
    DAG runs, the failed ones too), the runs that did not end as ``expected`` (:func:`unexpected_runs`)
    and the seconds from create to complete.
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
                seconds = time.monotonic() - started
                runs = stack.dag_runs(dag_id, run_type="backfill")
                reran = sum(1 for r in runs if r.get("start_date") and
                            dt.datetime.fromisoformat(r["start_date"].replace("Z", "+00:00")) >= began)
                wrong = unexpected_runs(lambda path: stack.api("GET", path), dag_id, "daily", runs, expected[dag_id])
                result[dag_id] = {"backfill_id": latest["id"], "states": count(r["state"] for r in runs),
                                  "ran": reran, "unexpected": wrong, "seconds": seconds}
                pending.discard(dag_id)
        if time.monotonic() > deadline:
            raise TimeoutError(f"pass {number}: backfills of {sorted(pending)} not complete after {PASS_TIMEOUT} s")
        if pending and time.monotonic() - last_report > 60:
            last_report = time.monotonic()
            print(f"  pass {number}: {time.monotonic() - started:.0f} s, waiting for {sorted(pending)}", flush=True)
        time.sleep(3 if pending else 0)
    return result


def check_postgres(args: argparse.Namespace) -> int:
    from orchestration.stack import AirflowStack, temporary_database
    from synthetic import generate
    from tesoma.feed_config import load
    from tesoma.feeds import carried
    from tesoma.schedule import run_time_for

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
    # Dates without a delivery (the NGO feeds' Sundays) are part of the check, not left out: in a backfill
    # wait_for_delivery does not wait for them but applies if_not_delivered at once, and the check holds
    # each run to the outcome its landing/ says.
    dates = [args.start + dt.timedelta(days=i) for i in range(args.days)]
    expected = {f: expected_outcomes(root / "landing", f, dates) for f in feeds}
    for feed, outcomes in expected.items():
        missing = [str(d) for d, o in outcomes.items() if o != DELIVERED]
        if missing:
            print(f"{feed}: no delivery for {len(missing)} date(s) ({', '.join(missing)}): if_not_delivered "
                  f"{runs[feed].if_not_delivered}, so those runs must end "
                  f"{'successful with their tasks skipped' if runs[feed].if_not_delivered == 'skip' else 'failed'}")
    print(f"backfill {', '.join(feeds)}: runs {windows[feeds[0]][0].isoformat()} … {windows[feeds[0]][1].isoformat()}")

    passes, prints, summaries = [], [], []
    with temporary_database() as airflow_db, temporary_database(prefix="airflow_it_ledger_") as ledger_db:
        stack = AirflowStack(airflow_db, root, ledger_url=ledger_db if args.ledger == "postgres" else None,
                             preload=() if args.no_preload else ("great_expectations", "tesoma.steps",
                                                                 "orchestration.delivery_sensor"))
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
                result = run_pass(stack, windows, expected, args.max_active_runs, number)
                failures = task_failures(stack)[failed_before:]
                passes.append(result)
                prints.append(fingerprint(root, ledger_url))
                summaries.append(ledger_summary(ledger_url, feeds))
                seconds = max(r["seconds"] for r in result.values())
                timings[f"pass {number}"] = seconds
                for dag_id, r in result.items():
                    print(f"  pass {number}: {dag_id} backfill {r['backfill_id']}: runs {r['states']} (expected "
                          f"{count(expected[dag_id].values())}), {r['ran']} ran in this pass, {r['seconds']:.0f} s")
                    for line in r["unexpected"]:
                        print(f"  pass {number}: {dag_id} NOT AS EXPECTED {line}", flush=True)
                print(f"  pass {number}: warehouse state with {prints[-1][1]} data files, sha256 {prints[-1][0]}")
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
    as_expected = all(not r["unexpected"] and r["ran"] == args.days for p in passes for r in p.values())
    unchanged = prints[0] == prints[1] and summaries[0] == summaries[1]
    print(f"every run of both passes ran and ended as its delivery says: {as_expected}")
    print("second backfill changed nothing (warehouse state hash and ledger accounting identical)" if unchanged
          else f"second backfill CHANGED the warehouse: {prints} {summaries}")
    return 0 if as_expected and unchanged and not left else 1


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
    # No longer needed: dates without a delivery are always backfilled (they do not wait). Still accepted,
    # so that commands written for the earlier check keep working.
    parser.add_argument("--allow-missing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true",
                        help="--postgres: keep the Airflow home and the data root (always kept after a failure)")
    parser.add_argument("--from", dest="start_run", default="2026-10-02", help="running UI: first run date")
    parser.add_argument("--to", dest="end_run", default="2026-10-31", help="running UI: last run date")
    args = parser.parse_args()
    return check_postgres(args) if args.postgres else check_running_ui(args)


if __name__ == "__main__":
    sys.exit(main())
