"""The note of a DAG run (the text the Airflow UI shows on the run's page and in the grid's tooltip).

A task cannot set its run's note through the task SDK (the execution API has no such call), so it goes
through the public REST API like the UI does: ``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}`` with
``{"note": …}``.

Where the API server is: ``[api] base_url`` when set, else the server of ``[core]
execution_api_server_url`` (the API server serves both). How to log in: with
``TESOMA_AIRFLOW_API_USERNAME`` / ``TESOMA_AIRFLOW_API_PASSWORD`` when set (``POST /auth/token``),
else without credentials (``GET /auth/token``: the simple auth manager's all-admins mode of the local
stacks).

The note repeats what the task log already says; when it cannot be written (``dag.test()`` has no API
server; a production auth manager without credentials) a warning says so and the task goes on.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request

log = logging.getLogger(__name__)

ATTEMPTS = 3
"""Tries to write a note before giving up (with 2 s, then 4 s between them)."""

MAX_NOTE = 1000
"""Airflow keeps at most 1000 characters of a note."""


def api_url() -> str:
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback=None)
    if not base:
        execution = conf.get("core", "execution_api_server_url", fallback=None) or "http://localhost:8080/execution/"
        parts = urllib.parse.urlsplit(execution)
        base = f"{parts.scheme}://{parts.netloc}"
    return base.rstrip("/")


def _call(method: str, url: str, body: dict | None = None, token: str | None = None) -> dict:
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def _token(base: str) -> str:
    user, password = os.environ.get("TESOMA_AIRFLOW_API_USERNAME"), os.environ.get("TESOMA_AIRFLOW_API_PASSWORD")
    if user and password:
        return _call("POST", f"{base}/auth/token", {"username": user, "password": password})["access_token"]
    return _call("GET", f"{base}/auth/token")["access_token"]


def set_note(dag_id: str, run_id: str, note: str) -> bool:
    """Replace the run's note with ``note`` (cut to Airflow's limit); False (and a warning) when it failed."""
    if len(note) > MAX_NOTE:
        note = note[:MAX_NOTE - 20].rsplit("\n", 1)[0] + "\n… (see the task logs)"
    base = api_url()
    path = f"/api/v2/dags/{urllib.parse.quote(dag_id, safe='')}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _call("PATCH", f"{base}{path}", {"note": note}, _token(base))
            return True
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == ATTEMPTS:  # refused (auth, no such run): asking again won't help
                return _not_set(dag_id, run_id, base, exc)
        except (OSError, ValueError, KeyError) as exc:  # (URLError is an OSError: no server, a timeout)
            no_server = isinstance(getattr(exc, "reason", exc), ConnectionRefusedError)  # e.g. under dag.test()
            if attempt == ATTEMPTS or no_server or isinstance(exc, ValueError | KeyError):
                return _not_set(dag_id, run_id, base, exc)
        time.sleep(2 * attempt)  # a busy API server (small machines, many tasks at once) answers later
    return False


def _not_set(dag_id: str, run_id: str, base: str, exc: Exception) -> bool:
    log.warning("could not set the note of run %s of %s through %s (%s); the task log has the same text",
                run_id, dag_id, base, exc)
    return False
