"""Backfill check against a running UI (after `make airflow`): backfill a DAG over a date range through
the REST API v2 (as `airflow backfill create` does), then again, and show that the second changes nothing.

    .venv/bin/python scripts/airflow_backfill_check.py [--dag city_visits] [--from 2026-10-02] [--to 2026-10-31]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

from tesoma.airflow_ui import api


def fingerprint(root: Path) -> tuple[str, int]:
    """(hash of every published Parquet file, number of files) under the data root's warehouse."""
    h = hashlib.sha256()
    files = sorted((root / "warehouse" / "harmonised").rglob("*.parquet"))
    for path in files:
        h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest(), len(files)


def backfill(token: str, dag: str, start: str, end: str) -> tuple[int, dict]:
    created = api("POST", "/api/v2/backfills", token, {
        "dag_id": dag, "from_date": f"{start}T00:00:00Z", "to_date": f"{end}T23:59:59Z",
        "reprocess_behavior": "completed", "max_active_runs": 4})
    backfill_id = created["id"]
    while not api("GET", f"/api/v2/backfills/{backfill_id}", token).get("completed_at"):
        time.sleep(5)
    runs = api("GET", f"/api/v2/dags/{dag}/dagRuns?limit=200&run_type=backfill", token)["dag_runs"]
    states: dict[str, int] = {}
    for run in runs:
        if run.get("backfill_id") in (None, backfill_id):
            states[run["state"]] = states.get(run["state"], 0) + 1
    return backfill_id, states


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dag", default="city_visits")
    parser.add_argument("--from", dest="start", default="2026-10-02")
    parser.add_argument("--to", dest="end", default="2026-10-31")
    args = parser.parse_args()
    root = Path(os.environ.get("TESOMA_DATA_ROOT", "data")).resolve()
    token = api("GET", "/auth/token")["access_token"]
    api("PATCH", f"/api/v2/dags/{args.dag}", token, {"is_paused": False})
    results = []
    for attempt in (1, 2):
        started = time.monotonic()
        backfill_id, states = backfill(token, args.dag, args.start, args.end)
        fp = fingerprint(root)
        results.append(fp)
        print(f"backfill {attempt} (id {backfill_id}): runs {states} in {time.monotonic() - started:.0f} s; "
              f"warehouse {fp[1]} files, sha256 {fp[0][:16]}…")
        if set(states) - {"success"}:
            return 1
    unchanged = results[0] == results[1]
    print("second backfill changed nothing" if unchanged else "second backfill CHANGED the warehouse")
    return 0 if unchanged else 1


if __name__ == "__main__":
    sys.exit(main())
