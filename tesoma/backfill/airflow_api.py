"""Airflow's REST API as the command uses it: a token, backfills (dry run, create, state), DAG runs."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from tesoma.backfill.dates import Window
from tesoma.backfill.terms import PAGE, PASSWORD_VARIABLE, URL_VARIABLE, USER_VARIABLE, AirflowError, BackfillError

# -- Airflow's REST API ------------------------------------------------------------------------------------

class Airflow:
    """A small client of Airflow 3's REST API v2 with a JWT from ``/auth/token``."""

    def __init__(self, url: str, username: str | None = None, password: str | None = None, timeout: float = 60):
        self.url = url.rstrip("/")
        self.username, self.password = username, password
        self.timeout = timeout
        self._token: str | None = None

    def login(self) -> None:
        """Get a token: as the user when credentials are set, else the all-admins token (simple auth manager)."""
        try:
            if self.username:
                answer = self._send("POST", "/auth/token", {"username": self.username, "password": self.password or ""},
                                    authorise=False)
            else:
                answer = self._send("GET", "/auth/token", authorise=False)
        except AirflowError as exc:
            if exc.status in (401, 403, 404, 405):
                raise BackfillError(self._login_problem(exc)) from None
            raise
        self._token = answer["access_token"]

    def _login_problem(self, exc: AirflowError) -> str:
        if self.username:
            return (f"Airflow at {self.url} refused the credentials of {self.username!r} (HTTP {exc.status}: "
                    f"{exc.detail}); check {USER_VARIABLE} and {PASSWORD_VARIABLE}")
        return (f"Airflow at {self.url} wants credentials (HTTP {exc.status} for a token without them: "
                f"{exc.detail}); set {USER_VARIABLE} and {PASSWORD_VARIABLE} to a user allowed to create backfills")

    def call(self, method: str, path: str, body: dict | None = None, **query: str | list[str]) -> dict:
        if query:
            path = f"{path}?{urllib.parse.urlencode(query, doseq=True)}"
        try:
            return self._send(method, path, body)
        except AirflowError as exc:
            if exc.status in (401, 403):
                raise BackfillError(f"Airflow refused {method} {path.split('?')[0]} (HTTP {exc.status}: {exc.detail}); "
                                    f"the user in {USER_VARIABLE} needs the right to read DAGs and create "
                                    "backfills") from None
            raise

    def _send(self, method: str, path: str, body: dict | None = None, *, authorise: bool = True) -> dict:
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        request.add_header("Content-Type", "application/json")
        request.add_header("Accept", "application/json")
        if authorise:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise AirflowError(exc.code, _detail(exc.read()), path.split("?")[0]) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackfillError(
                f"cannot reach Airflow's API at {self.url} ({reason}); start Airflow (the PostgreSQL stack: "
                f"`docker-compose up -d`) or point --airflow-url or {URL_VARIABLE} at its API server") from None

    def runs(self, w: Window, *states: str, limit: int = 1, offset: int = 0) -> dict:
        """The DAG runs of a window (all of them, or those in ``states``): ``dag_runs`` and ``total_entries``."""
        query: dict = {**w.query(), "limit": str(limit), "offset": str(offset), "order_by": "logical_date"}
        if states:
            query["state"] = list(states)
        return self.call("GET", f"/api/v2/dags/{urllib.parse.quote(w.dag_id)}/dagRuns", **query)

    def run_count(self, w: Window, *states: str) -> int:
        return int(self.runs(w, *states)["total_entries"])

    def all_runs(self, w: Window, *states: str) -> list[dict]:
        found: list[dict] = []
        while True:
            page = self.runs(w, *states, limit=PAGE, offset=len(found))["dag_runs"]
            found += page
            if len(page) < PAGE:
                return found


def _detail(raw: bytes) -> str:
    """The ``detail`` of an error answer (FastAPI: a string, or a list of validation errors), on one line."""
    try:
        detail = json.loads(raw or b"{}").get("detail", "")
    except (ValueError, AttributeError):
        return raw.decode(errors="replace")[:300]
    if isinstance(detail, list):  # validation errors: [{"msg": …, "loc": […]}, …]
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return " ".join(str(detail).split())


@dataclass
class Backfill:
    """One feed's backfill in Airflow: its id, and how many runs it creates or reruns (from the dry run)."""

    window: Window
    to_run: int
    backfill_id: int | None = None
    followed: bool = False  # an earlier backfill of the DAG, still running, that this command follows
    reprocess: str | None = None
    """Its own ``reprocess_behavior`` when not the command's: ``completed`` for months to run again
    (:mod:`tesoma.backfill.reruns`)."""
    span: Window | None = None
    """The runs it covers when not all of the window's: the months to run again, and those between them."""
    rerun_months: tuple[str, ...] = ()  # the months (YYYY-MM) with a run that it runs again for undone dates

    def request(self, reprocess: str, max_active_runs: int) -> dict:
        """The body of ``POST /api/v2/backfills`` for this backfill."""
        return _body(self.span or self.window, self.reprocess or reprocess, max_active_runs)


def plan(airflow: Airflow, windows: list[Window], reprocess: str) -> list[Backfill]:
    """What each feed's backfill would run: ``POST /api/v2/backfills/dry_run`` (changes nothing)."""
    planned = []
    for w in windows:
        try:
            answer = airflow.call("POST", "/api/v2/backfills/dry_run", _body(w, reprocess, 1))
        except AirflowError as exc:
            raise BackfillError(_refusal(airflow, w, exc)) from None
        planned.append(Backfill(w, int(answer.get("total_entries", len(answer.get("backfills", []))))))
    return planned


def _body(w: Window, reprocess: str, max_active_runs: int) -> dict:
    body = {"dag_id": w.dag_id, "from_date": w.first_run.isoformat(), "to_date": w.last_run.isoformat(),
            "reprocess_behavior": reprocess, "max_active_runs": max_active_runs, "run_backwards": False}
    if w.conf:
        body["dag_run_conf"] = w.conf
    return body


def _refusal(airflow: Airflow, w: Window, exc: AirflowError) -> str:
    if exc.status == 404:
        return (f"Airflow at {airflow.url} has no DAG {w.dag_id!r} (for feed {w.feed}): is its DAG processor "
                "running and has it parsed dags/? (`airflow dags list-import-errors`)")
    return f"Airflow refused the backfill of {w.dag_id} ({w.dates[0]} … {w.dates[-1]}): HTTP {exc.status}: {exc.detail}"


class SQLiteRefused(Exception):
    """Airflow answered 503 to a backfill: its metadata database is SQLite (``Database is locked. Backfill
    creation is not supported on SQLite …``), or it was otherwise unable to create one."""

    def __init__(self, detail: str, created: list[Backfill]):
        super().__init__(detail)
        self.detail, self.created = detail, created


def start(airflow: Airflow, planned: list[Backfill], reprocess: str, max_active_runs: int,
          echo: Callable[[str], None], *, poll: float = 2.0, wait: float = 90.0) -> list[Backfill]:
    """Create the backfills that have runs to do; follow a backfill of the DAG already running instead
    (HTTP 409: Airflow allows one per DAG) — unless every run of the DAG has finished and that backfill only
    waits for the scheduler to mark it complete: then wait for that (up to ``wait`` seconds) and create this
    one (a command run right after another one of the same feeds). Raises :class:`SQLiteRefused` on HTTP 503."""
    started: list[Backfill] = []
    for b in planned:
        if not b.to_run:
            continue
        waited = False
        while True:
            try:
                created = airflow.call("POST", "/api/v2/backfills", b.request(reprocess, max_active_runs))
            except AirflowError as exc:
                if exc.status == 503:
                    raise SQLiteRefused(exc.detail, started) from None
                if exc.status != 409:
                    raise BackfillError(_refusal(airflow, b.window, exc)) from None
                running = [x for x in airflow.call("GET", "/api/v2/backfills", dag_id=b.window.dag_id,
                                                   limit=str(PAGE))["backfills"] if not x.get("completed_at")]
                if not running:
                    raise BackfillError(_refusal(airflow, b.window, exc)) from None
                if not waited and _finishing(airflow, b.window.dag_id, running[-1]["id"], poll, wait):
                    waited = True
                    continue
                b.backfill_id, b.followed = running[-1]["id"], True
                echo(f"{b.window.dag_id}: a backfill is already running (id {b.backfill_id}, "
                     f"{running[-1]['from_date']} … {running[-1]['to_date']}); following it instead of starting "
                     "another (run this command again when it is done, for any date it does not cover)")
            else:
                b.backfill_id = created["id"]
                again = (f" (running again the month(s) with a run: {', '.join(b.rerun_months)})"
                         if b.rerun_months else "")
                echo(f"{b.window.dag_id}: backfill {b.backfill_id} created, {b.to_run} run(s) for "
                     f"{b.window.dates[0]} … {b.window.dates[-1]}{again}")
            break
        started.append(b)
    for b in started:
        path = f"/api/v2/dags/{urllib.parse.quote(b.window.dag_id)}"
        if airflow.call("GET", path).get("is_paused"):
            airflow.call("PATCH", path, {"is_paused": False})
            echo(f"{b.window.dag_id}: unpaused (Airflow runs no backfill run of a paused DAG)")
    return started


def _finishing(airflow: Airflow, dag_id: str, backfill_id: int, poll: float, wait: float) -> bool:
    """Whether the DAG's running backfill ``backfill_id`` is over but for its mark: no run of the DAG is queued
    or running, and the scheduler marks it complete within ``wait`` seconds (it looks every 30 s:
    ``SchedulerJobRunner._mark_backfills_complete``)."""
    unfinished = airflow.call("GET", f"/api/v2/dags/{urllib.parse.quote(dag_id)}/dagRuns",
                              state=["queued", "running"], limit="1")
    if int(unfinished["total_entries"]):
        return False
    deadline = time.monotonic() + wait
    while not complete(airflow, backfill_id):
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
    return True


def complete(airflow: Airflow, backfill_id: int) -> bool:
    return bool(airflow.call("GET", f"/api/v2/backfills/{backfill_id}").get("completed_at"))


