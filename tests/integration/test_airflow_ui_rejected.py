"""A rejected delivery, as the operator sees it in a real Airflow (all components, its UI in headless Chromium).

Given a city_visits file saved as UTF-16 (the contract allows UTF-8 or cp1252), its run — named after the
feed and the delivery date — fails; its ``ingest`` task failed and its log starts with the partner-readable
reason; the run's note carries the reason; the extra links open the quarantine report; and the published
delivery of another day has an offline Data Docs page. Screenshots of the run's task page and of the Data
Docs page go to ``$TESOMA_SCREENS`` (default ``<temp folder>/tesoma-screens``).

Needs Chromium (Debian package ``chromium``); skipped without it unless CI=true. Takes about 2 minutes.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from orchestration.browser import screenshot
from orchestration.stack import AirflowStack
from synthetic import generate
from tesoma.schedule import run_id, run_time_for

pytestmark = pytest.mark.integration

DAY, CLEAN_DAY = dt.date(2026, 10, 2), dt.date(2026, 10, 1)
# Where the screenshots go, to be looked at (TESOMA_SCREENS; by default the temp folder, kept after the run).
SCREENS = Path(os.environ.get("TESOMA_SCREENS", Path(tempfile.gettempdir()) / "tesoma-screens"))


def wait_for_run(stack: AirflowStack, dag_id: str, run: str, timeout: float = 420) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run)}")
        if found["state"] in ("success", "failed"):
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run} still {found['state']} after {timeout:.0f} s; logs in {stack.log_dir}")
        stack.check_alive()
        time.sleep(3)


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", errors="replace")


def test_a_rejected_delivery_is_unmistakable_in_the_ui(browser, tmp_path, monkeypatch):
    data_root = tmp_path / "data"
    key = secrets.token_urlsafe(48)
    generate(data_root, start=CLEAN_DAY, days=2, residents=300, seed=7, fault_rate=0.0)
    landing = data_root / "landing" / "city" / "city_visits"
    (bad,) = landing.glob(f"city_visits_{DAY:%Y%m%d}*.csv")
    raw = bad.read_bytes()
    text = raw.decode("utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252")
    bad.write_bytes(text.encode("utf-16"))  # the partner's export saved as UTF-16

    home = tmp_path / "airflow"
    with AirflowStack(f"sqlite:///{home / 'airflow.db'}", data_root, home=home, pseudonym_key=key,
                      parallelism=2) as stack:
        stack.api("PATCH", "/api/v2/dags/city_visits", {"is_paused": False})
        stack.api("PATCH", "/api/v2/dags/catalog", {"is_paused": False})
        runs = {}
        for day in (CLEAN_DAY, DAY):
            runs[day] = run_id("city_visits", day)
            stack.api("POST", "/api/v2/dags/city_visits/dagRuns",
                      {"dag_run_id": runs[day], "logical_date": run_time_for(day).isoformat()})
        clean, rejected = (wait_for_run(stack, "city_visits", runs[d]) for d in (CLEAN_DAY, DAY))
        assert clean["state"] == "success", clean
        assert rejected["state"] == "failed"

        run = urllib.parse.quote(runs[DAY])
        tis = {(t["task_id"], t["map_index"]): t["state"] for t in stack.api(
            "GET", f"/api/v2/dags/city_visits/dagRuns/{run}/taskInstances")["task_instances"]}
        assert tis[("ingest", 0)] == "failed" and tis[("report", -1)] == "failed"
        assert tis[("land", -1)] == "success"
        ingest = stack.api("GET", f"/api/v2/dags/city_visits/dagRuns/{run}/taskInstances/ingest/0")
        assert ingest["try_number"] == 1, "a rejection is not retried"

        # the note says which delivery was rejected and why, in the partner's words
        assert "REJECTED city_visits-city-20261002" in rejected["note"]
        assert "encoding: The file is UTF-16 encoded." in rejected["note"]
        # the log leads with it
        log = stack.api("GET", f"/api/v2/dags/city_visits/dagRuns/{run}/taskInstances/ingest/logs/1?map_index=0")
        events = [e.get("event", "") for e in log["content"] if isinstance(e, dict)]
        ours = [e for e in events if e.startswith(("REJECTED", "row accounting"))]
        assert ours[0].startswith("REJECTED city_visits-city-20261002") and "UTF-16" in ours[0]
        assert "| city_visits-city-20261002" in ours[1] and "| rejected |" in ours[1]

        # extra links: the quarantine report (served by the plugin) gives the reason
        links = stack.api("GET", f"/api/v2/dags/city_visits/dagRuns/{run}/taskInstances/ingest/links?map_index=0"
                          )["extra_links"]
        assert set(links) == {"Data Docs", "Quarantine report"}
        status, page = fetch(stack.url + links["Quarantine report"])
        assert status == 200 and "UTF-16" in page

        # the clean day's note holds its row accounting, its Data Docs page opens offline
        assert "| published |" in clean["note"]
        clean_links = stack.api("GET", f"/api/v2/dags/city_visits/dagRuns/{urllib.parse.quote(runs[CLEAN_DAY])}"
                                       "/taskInstances/ingest/links?map_index=0")["extra_links"]
        deadline = time.monotonic() + 240  # the catalog DAG (started by publish's asset event) builds the docs
        while (status := fetch(stack.url + clean_links["Data Docs"])[0]) != 200 and time.monotonic() < deadline:
            time.sleep(5)
        assert status == 200, "no Data Docs page for the published delivery"

        SCREENS.mkdir(parents=True, exist_ok=True)
        task_page = f"{stack.url}/dags/city_visits/runs/{run}/tasks/ingest/mapped/0"
        dom = screenshot(task_page, SCREENS / "rejected-run-ingest.png", wait_ms=20000)
        assert "ingest" in dom
        screenshot(f"{stack.url}/dags/city_visits/runs/{run}", SCREENS / "rejected-run.png", wait_ms=20000)
        listing = fetch(stack.url + clean_links["Data Docs"])[1]  # one page per suite: the contract's first
        (contract_page,) = re.findall(r"href='([^']+/city_visits/contract/[^']+)'", listing)
        status, html = fetch(stack.url + contract_page)
        assert status == 200 and "city_visits-city-20261001" in html and "://cdn" not in html
        docs_dom = screenshot(stack.url + contract_page, SCREENS / "data-docs-offline.png")
        assert "city_visits.contract" in docs_dom
