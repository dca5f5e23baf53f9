"""Smoke check of the running UI (after `make airflow`): log in through the REST API v2, trigger a run,
wait for success, and take a headless Chromium screenshot of the DAG list that must show the DAGs.

    .venv/bin/python scripts/airflow_smoke.py [--dag city_visits] [--out data/airflow/dags.png]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from orchestration.browser import chromium, screenshot
from orchestration.ui import URL, api
from tesoma.feed_config import load
from tesoma.schedule import delivery_date_for
from tesoma.schedule import run_id as run_id_for


def not_blank(png: Path) -> float:
    """Share of pixels that differ from the most common colour (0 for a blank page)."""
    import zlib

    data = png.read_bytes()
    # Decode PNG IDAT minimally: count distinct byte values as a cheap proxy when Pillow is absent.
    chunks, i = [], 8
    while i < len(data):
        length = int.from_bytes(data[i:i + 4], "big")
        kind = data[i + 4:i + 8]
        if kind == b"IDAT":
            chunks.append(data[i + 8:i + 8 + length])
        i += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    common = max(set(raw[:200_000]), key=raw[:200_000].count)
    return sum(1 for b in raw[:200_000] if b != common) / min(len(raw), 200_000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dag", default="city_visits")
    # 07:MM:SS Helsinki on 31 October: processes the demo's last day again (idempotent), and the odd minute
    # and second keep the logical date unique among runs.
    parser.add_argument("--date", default=time.strftime("2026-10-31T05:%M:%SZ", time.gmtime()),
                        help="logical date of the triggered run")
    parser.add_argument("--out", type=Path, default=Path("data/airflow/dags.png"))
    args = parser.parse_args()

    token = api("GET", "/auth/token")["access_token"]  # all-admins mode: no credentials needed locally
    dags = [d["dag_id"] for d in api("GET", "/api/v2/dags?limit=100", token)["dags"]]
    print(f"DAGs: {', '.join(sorted(dags))}")
    api("PATCH", f"/api/v2/dags/{args.dag}", token, {"is_paused": False})  # new DAGs start paused
    day = delivery_date_for(dt.datetime.fromisoformat(args.date.replace("Z", "+00:00")), load()[args.dag].cadence)
    run = api("POST", f"/api/v2/dags/{args.dag}/dagRuns", token,
              {"logical_date": args.date, "dag_run_id": run_id_for(args.dag, day, f"smoke{int(time.time())}")})
    run_id = run["dag_run_id"]
    print(f"triggered {args.dag} run {run_id}")
    for _ in range(120):
        state = api("GET", f"/api/v2/dags/{args.dag}/dagRuns/{run_id}", token)["state"]
        if state in ("success", "failed"):
            break
        time.sleep(5)
    print(f"run state: {state}")
    if state != "success":
        return 1
    if chromium() is None:
        sys.exit("chromium is not installed (Debian: apt-get install chromium)")
    dom = screenshot(f"{URL}/dags", args.out)
    shown = [d for d in dags if d in dom]
    ink = not_blank(args.out)
    print(f"screenshot {args.out}: {ink:.1%} non-background bytes; DAGs named on the page: {len(shown)}/{len(dags)}")
    return 0 if len(shown) == len(dags) and ink > 0.005 else 1  # every DAG, on a page that is not blank


if __name__ == "__main__":
    sys.exit(main())
