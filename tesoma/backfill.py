"""``tesoma backfill``: one command that backfills feeds over a range of delivery dates through Airflow.

    tesoma backfill --from 2022-01-01 --to 2026-09-30                 every feed (history DAGs: a month or more)
    tesoma backfill --feed city_visits --feed costs --from … --to …   some feeds
    tesoma backfill --daily --from 2026-10-01 --to 2026-10-03         the daily feed DAGs, a run per delivery date

The operator names *delivery dates*; which DAG does the work (:func:`dag_for`, :func:`use_history`):

- a range of :data:`HISTORY_MIN_DAYS` days or more goes through the feeds' **history DAGs**
  (``<feed>_history``, dags/history.py): one run per month, whose tasks take batches of delivery dates
  and publish each batch with one warehouse commit, so that five years do not pay a run's start-up and a
  commit per delivery. The range rides along as each run's configuration (``{"from": …, "to": …}``), so
  a first or last month the range covers in part is processed only in part. Airflow backfills only months
  that are over: the dates of the current month are left to the daily DAGs (the command says so);
- a shorter range, or any range with ``--daily``, goes through the **daily feed DAGs** (one run per feed
  and delivery date, as in daily operation: a daily feed's run for 1 October is at 07:00 on 2 October, a
  monthly feed's run for October on 2 November: :func:`tesoma.schedule.run_time_for`); ``--history``
  forces the history DAGs for a short range.

Dates before a contract's ``servicePeriodStart`` are left out (and said so) unless the operator set
``TESOMA_HISTORY_FROM`` (:func:`tesoma.feed_config.history_from`) here and where the tasks run.

It goes through Airflow's own backfill REST API
(``POST /api/v2/backfills``, the same as ``airflow backfill create`` and the UI's *Backfill* dialog), so the
runs are ordinary backfill runs in the grid, and the scheduler, its pools and its executor do the work.

What it does, in order:

1. asks Airflow which runs the backfill would create (``POST /api/v2/backfills/dry_run``); with none
   left for any feed it says "nothing to do: every date already ran" and prints the summary. Dates that
   already have a run are skipped (``reprocess_behavior`` ``none``); ``--rerun failed`` runs the failed
   ones again, ``--rerun completed`` every one (after a fix in the code or a mapping);
2. creates one backfill per feed, then unpauses the DAGs that are paused (Airflow runs no backfill run of a
   paused DAG; created first, the backfill's runs exist before unpausing could schedule one of its dates);
3. shows progress until every backfill is complete: deliveries done of the total (from the ledger, the
   total from the files in ``landing/``), DAG runs finished, deliveries per second and the time left — one
   updating line on a terminal, plain lines otherwise;
4. ends with the range's summary from the ledger: deliveries published (and how many of them had
   quarantined rows), rejected (each with the ledger's reason), superseded, missing, and the wall time.

Airflow refuses backfills on its embedded SQLite database (``airflow standalone``, ``make airflow``) with
HTTP 503; the command then explains that limit and what to run instead, and exits 1.

Where Airflow is: ``--airflow-url``, else ``TESOMA_AIRFLOW_URL``, else http://127.0.0.1:8080. A token comes
from ``/auth/token``: with ``TESOMA_AIRFLOW_USERNAME`` and ``TESOMA_AIRFLOW_PASSWORD`` set, as that user
(the production stack); without them, the simple auth manager's all-admins token (``make airflow``, tests).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

DEFAULT_URL = "http://127.0.0.1:8080"
URL_VARIABLE = "TESOMA_AIRFLOW_URL"
USER_VARIABLE, PASSWORD_VARIABLE = "TESOMA_AIRFLOW_USERNAME", "TESOMA_AIRFLOW_PASSWORD"
RERUN = {"none": "none", "failed": "failed", "completed": "completed"}
"""``--rerun`` → Airflow's ``reprocess_behavior``: what happens to a date that already has a run."""
FINISHED = ("success", "failed")
DONE_STATES = ("published", "rejected", "superseded")
"""Ledger states of a delivery that is through the pipeline."""
HISTORY_MIN_DAYS = 28
"""Ranges of this many days or more go through the history DAGs (unless ``--daily``): from about a month of
dates on, batches beat a run per delivery date; shorter ranges look and behave as daily operation."""
PAGE = 100  # Airflow's default [api] maximum_page_limit: larger limits are silently cut to it
EXIT_OK, EXIT_FAILED = 0, 1


class BackfillError(ValueError):
    """A problem the operator can fix (a bad range, an unknown feed, Airflow not reachable, bad credentials);
    the message says what to do. A ValueError, so ``tesoma`` prints it as one ``tesoma: error:`` line."""


class AirflowError(Exception):
    """An HTTP error answer of Airflow's REST API: its status and the ``detail`` it gave."""

    def __init__(self, status: int, detail: str, path: str):
        super().__init__(f"HTTP {status} from {path}: {detail}")
        self.status, self.detail, self.path = status, detail, path


# -- what to backfill ------------------------------------------------------------------------------------

def feeds() -> list[str]:
    """The feeds with a DAG: declared in config/feeds.yaml and with a contract (as dags/feeds.py makes them)."""
    import contracts
    from tesoma.feed_config import load

    available = set(contracts.available())
    return [feed for feed in load() if feed in available]


def dag_for(feed: str, history: bool = False) -> str:
    """The DAG that backfills ``feed``: its history DAG ``<feed>_history`` (months in batches), else its
    own daily DAG, whose id is the feed's name. :func:`window` turns delivery dates into that DAG's runs."""
    return f"{feed}_history" if history else feed


def use_history(first: dt.date, last: dt.date, daily: bool = False, history: bool = False) -> bool:
    """Whether a backfill from ``first`` to ``last`` goes through the history DAGs: ``--history`` says yes,
    ``--daily`` no; otherwise yes for a range of :data:`HISTORY_MIN_DAYS` days or more."""
    if daily and history:
        raise BackfillError("--daily and --history exclude each other: say which DAGs should run the backfill")
    if daily or history:
        return history
    return (last - first).days + 1 >= HISTORY_MIN_DAYS


def delivery_dates(cadence: str, first: dt.date, last: dt.date) -> list[dt.date]:
    """The delivery dates of a feed of ``cadence`` from ``first`` to ``last`` (both included): every day;
    monthly feeds the 1st of each month; yearly feeds 1 January (the dates their deliveries carry)."""
    days = (first + dt.timedelta(days=i) for i in range((last - first).days + 1))
    if cadence == "monthly":
        return [d for d in days if d.day == 1]
    if cadence == "yearly":
        return [d for d in days if (d.month, d.day) == (1, 1)]
    return list(days)


@dataclass(frozen=True)
class Window:
    """One feed's part of a backfill: its DAG, the delivery dates, and the logical dates of the first and
    last run that process them (the ``from_date``/``to_date`` of the Airflow backfill)."""

    feed: str
    dag_id: str
    cadence: str
    dates: tuple[dt.date, ...]
    first_run: dt.datetime
    last_run: dt.datetime
    note: str = ""
    conf: dict | None = None
    """The runs' configuration: a history run's range of delivery dates (``{"from": …, "to": …}``)."""
    history: bool = False

    def query(self) -> dict[str, str]:
        """The DAG-run list filter of this window's runs (logical dates, both ends included)."""
        return {"logical_date_gte": self.first_run.isoformat(), "logical_date_lte": self.last_run.isoformat()}


def window(feed: str, first: dt.date, last: dt.date, history: bool = False, *,
           today: dt.date | None = None) -> Window | None:
    """The runs of ``feed``'s DAG (:func:`dag_for`) that process its deliveries from ``first`` to ``last``;
    None when the feed has no delivery date there. Dates the feed does not cover are left out (their run
    would only fail saying so: before the contract's ``servicePeriodStart``, unless ``TESOMA_HISTORY_FROM``
    says to load history from earlier), and so, for the history DAG, are the dates of months not over yet
    on ``today`` (Airflow backfills no run whose interval has not ended: the daily DAGs process those)."""
    from tesoma.feed_config import HISTORY_FROM, covered_from, history_from, load, not_covered
    from tesoma.schedule import run_time_for

    run = load()[feed]
    dates = delivery_dates(run.cadence, first, last)
    covered = [d for d in dates if not_covered(feed, d) is None]
    notes = []
    if len(covered) < len(dates):
        notes.append(f"{len(dates) - len(covered)} date(s) before {covered_from(feed)} left out (the contract's "
                     "service period starts then" + (
                         f"; to load them set {HISTORY_FROM}=<first date> here and where the tasks run)"
                         if history_from() is None else f", or {HISTORY_FROM} is {history_from()})"))
    if history:
        this_month = (today or _helsinki_today()).replace(day=1)
        current = [d for d in covered if d >= this_month]
        covered = [d for d in covered if d < this_month]
        if current:
            notes.append(f"{len(current)} date(s) of {this_month:%Y-%m} (not over yet) left to the daily DAG: "
                         f"tesoma backfill --daily --feed {feed} --from {current[0]} --to {current[-1]}")
    if not covered:
        return None
    if not history:
        return Window(feed, dag_for(feed), run.cadence, tuple(covered),
                      run_time_for(covered[0], run.cadence, run.run_at),
                      run_time_for(covered[-1], run.cadence, run.run_at), "; ".join(notes))
    partial = []
    if run.cadence == "daily":  # a monthly or yearly feed's date is the 1st: its month is never cut
        partial += [f"{covered[0]:%Y-%m} from the {covered[0].day}."] if covered[0].day != 1 else []
        partial += [f"{covered[-1]:%Y-%m} to the {covered[-1].day}."] if covered[-1] < _month_end(covered[-1]) else []
    if partial:
        notes.append("history runs process whole months, here in part: " + ", ".join(partial))
    return Window(feed, dag_for(feed, True), run.cadence, tuple(covered), _month_run(covered[0]),
                  _month_run(covered[-1]), "; ".join(notes), {"from": first.isoformat(), "to": last.isoformat()},
                  history=True)


def _helsinki():
    from zoneinfo import ZoneInfo

    from tesoma.config import TIMEZONE

    return ZoneInfo(TIMEZONE)


def _helsinki_today() -> dt.date:
    return dt.datetime.now(_helsinki()).date()


def _month_run(day: dt.date) -> dt.datetime:
    """The logical date of the history run of ``day``'s month: the month's start, Helsinki time, in UTC
    (dags/history.py: a monthly cron data interval, whose logical date is the interval's start)."""
    return dt.datetime.combine(day.replace(day=1), dt.time(), tzinfo=_helsinki()).astimezone(dt.UTC)


def _month_end(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


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
          echo: Callable[[str], None]) -> list[Backfill]:
    """Create the backfills that have runs to do; follow a backfill of the DAG already running instead
    (HTTP 409: Airflow allows one per DAG). Raises :class:`SQLiteRefused` on HTTP 503."""
    started: list[Backfill] = []
    for b in planned:
        if not b.to_run:
            continue
        try:
            created = airflow.call("POST", "/api/v2/backfills", _body(b.window, reprocess, max_active_runs))
        except AirflowError as exc:
            if exc.status == 503:
                raise SQLiteRefused(exc.detail, started) from None
            if exc.status != 409:
                raise BackfillError(_refusal(airflow, b.window, exc)) from None
            running = [x for x in airflow.call("GET", "/api/v2/backfills", dag_id=b.window.dag_id,
                                               limit=str(PAGE))["backfills"] if not x.get("completed_at")]
            if not running:
                raise BackfillError(_refusal(airflow, b.window, exc)) from None
            b.backfill_id, b.followed = running[-1]["id"], True
            echo(f"{b.window.dag_id}: a backfill is already running (id {b.backfill_id}, {running[-1]['from_date']} "
                 f"… {running[-1]['to_date']}); following it instead of starting another (run this command "
                 "again when it is done, for any date it does not cover)")
        else:
            b.backfill_id = created["id"]
            echo(f"{b.window.dag_id}: backfill {b.backfill_id} created, {b.to_run} run(s) for "
                 f"{b.window.dates[0]} … {b.window.dates[-1]}")
        started.append(b)
    for b in started:
        path = f"/api/v2/dags/{urllib.parse.quote(b.window.dag_id)}"
        if airflow.call("GET", path).get("is_paused"):
            airflow.call("PATCH", path, {"is_paused": False})
            echo(f"{b.window.dag_id}: unpaused (Airflow runs no backfill run of a paused DAG)")
    return started


def complete(airflow: Airflow, backfill_id: int) -> bool:
    return bool(airflow.call("GET", f"/api/v2/backfills/{backfill_id}").get("completed_at"))


# -- the ledger's view of the range ------------------------------------------------------------------------

@dataclass
class Tally:
    """Deliveries of the range through the pipeline (``done``), expected (``total``), and done since the
    command started (``since_start``)."""

    done: int
    total: int
    since_start: int


class RangeLedger:
    """The ledger's deliveries of some feeds between two delivery dates (read only)."""

    def __init__(self, url: str, windows: list[Window]):
        from warehouse.ledger import Ledger

        self.engine = Ledger(url).engine
        self.windows = windows
        self.expected = sum(expected_in_landing(w) for w in windows)

    def _where(self):
        import sqlalchemy as sa

        from warehouse.ledger import deliveries as t

        return sa.or_(*(sa.and_(t.c.feed == w.feed, t.c.delivery_date.in_(w.dates)) for w in self.windows))

    def tally(self, since: dt.datetime) -> Tally:
        import sqlalchemy as sa

        from warehouse.ledger import deliveries as t

        if not self.windows:
            return Tally(0, 0, 0)
        done = t.c.state.in_(DONE_STATES)
        query = sa.select(sa.func.count(),
                          sa.func.sum(sa.case((done, 1), else_=0)),
                          sa.func.sum(sa.case((sa.and_(done, t.c.updated_at >= since), 1), else_=0))
                          ).where(self._where())
        with self.engine.connect() as conn:
            known, finished, recent = conn.execute(query).one()
        return Tally(int(finished or 0), max(self.expected, int(known or 0)), int(recent or 0))

    def deliveries(self) -> list:
        import sqlalchemy as sa

        from warehouse.ledger import Delivery
        from warehouse.ledger import deliveries as t

        if not self.windows:
            return []
        fields = [c for c in t.c if c.name in Delivery.__dataclass_fields__]
        query = sa.select(*fields).where(self._where()).order_by(t.c.feed, t.c.delivery_date, t.c.partner,
                                                                 t.c.sequence)
        with self.engine.connect() as conn:
            return [Delivery(**row) for row in conn.execute(query).mappings()]

    def close(self) -> None:
        self.engine.dispose()


def expected_in_landing(w: Window) -> int:
    """How many deliveries of the window's dates are in ``landing/`` (files, or export folders) now."""
    from tesoma.config import settings
    from tesoma.feeds import connector_for
    from warehouse.layout import Layout

    landing = Layout(settings().data_root).landing
    if not landing.is_dir():
        return 0
    dates = set(w.dates)
    return sum(1 for f in connector_for(w.feed).survey(landing).deliveries if f.delivery_date in dates)


# -- progress ------------------------------------------------------------------------------------------------

class Progress:
    """One line rewritten in place on a terminal; on anything else a plain line when the figures changed,
    at most every ``every`` seconds (a log stays readable)."""

    def __init__(self, out: TextIO, tty: bool | None = None, every: float = 10.0):
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.every = every
        self._last_text = ""
        self._last_time = -float("inf")
        self._width = 0

    def show(self, text: str, *, force: bool = False) -> None:
        if self.tty:
            self.out.write("\r" + text.ljust(self._width))
            self._width = len(text)
            self.out.flush()
            return
        now = time.monotonic()
        if text != self._last_text and (force or now - self._last_time >= self.every):
            print(text, file=self.out, flush=True)
            self._last_text, self._last_time = text, now

    def echo(self, line: str) -> None:
        """A line of its own (a note), above the progress line."""
        if self.tty and self._width:
            self.out.write("\r" + " " * self._width + "\r")
            self._width = 0
        print(line, file=self.out, flush=True)

    def end(self) -> None:
        if self.tty and self._width:
            self.out.write("\n")
            self._width = 0
        self.out.flush()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def progress_line(tally: Tally, runs_done: int, runs_total: int, runs_started_with: int, to_run: int,
                  elapsed: float) -> str:
    """``deliveries 24/90 · runs 8/30 · 1.6 deliveries/s · about 41 s left · 15 s``.

    The rate counts the deliveries this command saw finish; the time left is the runs still to finish at
    the pace of the runs finished so far (a run is Airflow's unit of work, one feed and delivery date)."""
    rate = tally.since_start / elapsed if elapsed > 0 else 0.0
    remaining = max(0, runs_total - runs_done)
    finished_here = max(0, to_run - remaining) if to_run else max(0, runs_done - runs_started_with)
    if remaining == 0:
        left = "all runs finished"
    elif finished_here:
        left = f"about {_duration(remaining * elapsed / finished_here)} left"
    else:
        left = "time left: after the first run"
    return (f"deliveries {tally.done}/{tally.total} · runs {runs_done}/{runs_total} · {rate:.1f} deliveries/s · "
            f"{left} · {_duration(elapsed)}")


# -- the summary ---------------------------------------------------------------------------------------------

@dataclass
class Summary:
    """The range's deliveries as the ledger has them after the backfill, and the DAG runs' ends."""

    published: int = 0
    rows_published: int = 0
    with_quarantine: int = 0
    rows_quarantined: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (delivery id, reason)
    rejected_on: set[tuple[str, dt.date]] = field(default_factory=set)  # (feed, delivery date) of a rejection
    superseded: int = 0
    unfinished: int = 0  # landed or staged: a run still open, or stopped mid-way
    missing: dict[str, list[str]] = field(default_factory=dict)  # feed -> "<date>" or "<date> <partner>"
    runs: Counter = field(default_factory=Counter)  # DAG-run state -> count
    unexplained: list[str] = field(default_factory=list)  # failed runs without a rejected or missing delivery
    seconds: float = 0.0
    processed: int = 0  # deliveries that finished during the command

    def lines(self, windows: list[Window]) -> list[str]:
        out = [f"published: {self.published} deliveries ({self.rows_published} rows), "
               f"{self.with_quarantine} of them with quarantined rows ({self.rows_quarantined} rows)",
               f"rejected: {len(self.rejected)}"]
        out += [f"  {delivery_id}: {reason}" for delivery_id, reason in self.rejected]
        out.append(f"superseded: {self.superseded} (replaced by a corrected re-delivery)")
        if self.unfinished:
            out.append(f"not finished: {self.unfinished} (landed or staged; `tesoma status --all`)")
        skipping = {w.feed for w in windows if _skips_missing(w.feed)}
        out.append(f"missing: {sum(map(len, self.missing.values()))}")
        for feed, items in self.missing.items():
            shown = ", ".join(items[:6]) + (f", … ({len(items) - 6} more)" if len(items) > 6 else "")
            normal = " (normal for this feed: a day without a delivery is skipped)" if feed in skipping else ""
            out.append(f"  {feed}: {shown}{normal}")
        if self.runs:
            out.append("DAG runs: " + ", ".join(f"{n} {state}" for state, n in sorted(self.runs.items())))
        if self.unexplained:
            out.append(f"failed runs without a rejected or missing delivery ({len(self.unexplained)}; their task "
                       "logs in the Airflow UI say why): " + ", ".join(self.unexplained[:10]))
        rate = f", {self.processed / self.seconds:.2f} deliveries/s" if self.seconds and self.processed else ""
        out.append(f"wall time: {_duration(self.seconds)} ({self.processed} deliveries finished meanwhile{rate})")
        return out


def _skips_missing(feed: str) -> bool:
    from tesoma.feed_config import load

    return load()[feed].if_not_delivered == "skip"


def summarise(ledger: RangeLedger, windows: list[Window]) -> Summary:
    """Count the range's deliveries by state, and which feed, date (and partner) has no delivery at all.

    Missing: for a feed that expects every partner (``expect: all``) each partner and date without a
    delivery; for one where any partner is enough, each date without any."""
    import contracts
    from tesoma.feed_config import load

    s = Summary()
    seen: set[tuple[str, dt.date, str]] = set()
    for d in ledger.deliveries():
        seen.add((d.feed, d.delivery_date, d.partner))
        if d.state == "published":
            s.published += 1
            s.rows_published += d.rows_published or 0
            if d.rows_quarantined:
                s.with_quarantine += 1
                s.rows_quarantined += d.rows_quarantined
        elif d.state == "rejected":
            s.rejected.append((d.delivery_id, " ".join((d.reason or "(no reason recorded)").split())))
            s.rejected_on.add((d.feed, d.delivery_date))
        elif d.state == "superseded":
            s.superseded += 1
        else:
            s.unfinished += 1
    for w in windows:
        partners = contracts.load(w.feed).partners
        expect_all = load()[w.feed].expect == "all"
        items = []
        for day in w.dates:
            absent = [p for p in partners if (w.feed, day, p) not in seen]
            if expect_all:
                items += [f"{day} {p}" if len(partners) > 1 else str(day) for p in absent]
            elif len(absent) == len(partners):
                items.append(str(day))
        if items:
            s.missing[w.feed] = items
    return s


def explain_failures(airflow: Airflow, windows: list[Window], summary: Summary) -> None:
    """Count the windows' DAG runs by state; list the failed runs that no rejected or missing delivery of
    their feed and date explains (a rejected delivery fails its run on purpose, see dags/feeds.py), for a
    history run of its month (dags/history.py)."""
    from tesoma.schedule import delivery_date_for

    for w in windows:
        for state in ("success", "failed", "queued", "running"):
            n = airflow.run_count(w, state)
            if n:
                summary.runs[state] += n
        if not airflow.run_count(w, "failed"):
            continue
        missing = {dt.date.fromisoformat(m.split(" ")[0]) for m in summary.missing.get(w.feed, [])}
        explained = missing | {day for feed, day in summary.rejected_on if feed == w.feed}
        for run in airflow.all_runs(w, "failed"):
            logical = dt.datetime.fromisoformat(run["logical_date"].replace("Z", "+00:00"))
            if w.history:  # a history run's logical date is its month's start (Helsinki)
                month = logical.astimezone(_helsinki()).date().replace(day=1)
                covered = any(d.replace(day=1) == month for d in explained)
            else:
                covered = delivery_date_for(logical, w.cadence) in explained
            if not covered:
                summary.unexplained.append(run["dag_run_id"])


# -- the command ---------------------------------------------------------------------------------------------

def sqlite_explanation(detail: str, windows: list[Window], created: list[Backfill]) -> list[str]:
    """What to tell the operator when Airflow refuses backfills on SQLite, and what to run instead."""
    lines = [f"Airflow refused the backfill: {detail}",
             "This Airflow keeps its metadata in SQLite (`make airflow`, `airflow standalone`): it cannot create",
             "backfills while its scheduler writes. Backfill on PostgreSQL instead:",
             "  - the production stack (docker-compose.yml, docs/operations.md): `docker-compose up -d`, then",
             f"    `docker-compose exec airflow-worker tesoma backfill {_range_args(windows)}`",
             "    (with TESOMA_AIRFLOW_URL=http://airflow-apiserver:8080 and the UI user's credentials in",
             f"    {USER_VARIABLE} / {PASSWORD_VARIABLE});",
             "  - or, for a small range, without Airflow, one feed and date at a time:"]
    commands = [f"tesoma run --feed {w.feed} --date {d}" for w in windows for d in w.dates]
    lines += [f"      {c}" for c in commands[:8]]
    if len(commands) > 8:
        lines.append(f"      … ({len(commands) - 8} more: one per feed and delivery date)")
    if created:
        lines.append("Backfills created before the refusal keep running: "
                     + ", ".join(f"{b.window.dag_id} (id {b.backfill_id})" for b in created)
                     + " (cancel them in the UI, Browse ▸ Backfills, if unwanted)")
    return lines


def _range_args(windows: list[Window]) -> str:
    feeds_args = " ".join(f"--feed {w.feed}" for w in windows) if len(windows) < len(feeds()) else ""
    first = min(w.dates[0] for w in windows)
    last = max(w.dates[-1] for w in windows)
    return f"{feeds_args} --from {first} --to {last}".strip()


def run(selected: list[str] | None, first: dt.date, last: dt.date, *, url: str | None = None,
        rerun: str = "none", max_active_runs: int = 4, poll: float = 5.0, out: TextIO | None = None,
        err: TextIO | None = None, tty: bool | None = None, every: float = 10.0,
        ledger_url: str | None = None, daily: bool = False, history: bool = False) -> tuple[int, Summary]:
    """Backfill ``selected`` feeds (None: all) for the delivery dates ``first`` … ``last`` through their
    history DAGs or their daily DAGs (:func:`use_history`: ``daily``/``history`` force one); returns the exit
    status (0: every backfill complete and every failed run explained by a rejected or missing delivery;
    1: Airflow refused the backfill, e.g. on SQLite, or a run failed otherwise) and the summary."""
    from tesoma.config import settings

    out = out or sys.stdout
    err = err or sys.stderr
    began = time.monotonic()
    since = dt.datetime.now(dt.UTC)
    if first > last:
        raise BackfillError(f"--from {first} is after --to {last}: give the earlier date as --from")
    known = feeds()
    unknown = [f for f in selected or [] if f not in known]
    if unknown:
        raise BackfillError(f"unknown feed(s) {', '.join(unknown)}; known feeds: {', '.join(known)}")
    if rerun not in RERUN:
        raise BackfillError(f"--rerun {rerun!r}: say none, failed or completed")
    chosen = list(dict.fromkeys(selected)) if selected else known
    batched = use_history(first, last, daily, history)
    progress = Progress(out, tty, every)
    how = ("the history DAGs (<feed>_history: a run per month, batches of dates)" if batched
           else "the daily feed DAGs (a run per feed and delivery date)")
    why = "" if daily or history else (f": the range is {(last - first).days + 1} day(s); "
                                        f"{'--daily' if batched else '--history'} chooses the other")
    progress.echo(f"through {how}{why}")
    windows = []
    for feed in chosen:
        w = window(feed, first, last, batched)
        if w is None:
            progress.echo(f"{feed}: no delivery date of this {_cadence(feed)} feed between {first} and {last}; "
                          "skipped")
            continue
        if w.note:
            progress.echo(f"{feed}: {w.note}")
        windows.append(w)
    if not windows:
        raise BackfillError(f"none of {', '.join(chosen)} has a delivery date between {first} and {last}: "
                            "widen the range")
    airflow = Airflow(url or os.environ.get(URL_VARIABLE) or DEFAULT_URL, os.environ.get(USER_VARIABLE),
                      os.environ.get(PASSWORD_VARIABLE))
    airflow.login()
    planned = plan(airflow, windows, RERUN[rerun])
    ledger = RangeLedger(ledger_url or settings().ledger_url, windows)
    try:
        if not any(b.to_run for b in planned):
            progress.echo(f"nothing to do: every date already ran ({sum(len(w.dates) for w in windows)} "
                          f"feed-date(s) of {len(windows)} feed(s) have their runs"
                          + ("; --rerun failed runs the failed ones again" if rerun == "none" else "") + ")")
            started: list[Backfill] = []
        else:
            try:
                started = start(airflow, planned, RERUN[rerun], max_active_runs, progress.echo)
            except SQLiteRefused as refused:
                for line in sqlite_explanation(refused.detail, windows, refused.created):
                    print(line, file=err)
                return EXIT_FAILED, Summary(seconds=time.monotonic() - began)
            follow(airflow, started, windows, ledger, progress, since, began, poll)
        summary = summarise(ledger, windows)
        summary.processed = ledger.tally(since).since_start
    finally:
        ledger.close()
    explain_failures(airflow, windows, summary)
    summary.seconds = time.monotonic() - began
    for line in summary.lines(windows):
        print(line, file=out)
    return (EXIT_FAILED if summary.unexplained else EXIT_OK), summary


def _cadence(feed: str) -> str:
    from tesoma.feed_config import load

    return load()[feed].cadence


def follow(airflow: Airflow, started: list[Backfill], windows: list[Window], ledger: RangeLedger,
           progress: Progress, since: dt.datetime, began: float, poll: float) -> None:
    """Show progress until every started backfill is complete."""
    active = [w for w in windows if any(b.window is w for b in started)]
    to_run = sum(b.to_run for b in started if not b.followed)
    runs_total = sum(airflow.run_count(w) for w in active)
    runs_started_with = sum(airflow.run_count(w, *FINISHED) for w in active)
    pending = list(started)
    while True:
        pending = [b for b in pending if not complete(airflow, b.backfill_id)]
        done = {w.feed: airflow.run_count(w, *FINISHED) for w in active}
        total = {w.feed: airflow.run_count(w) for w in active}
        # A backfill created here (all its runs lie in the window) is done when every run of the window has
        # finished: the scheduler marks the backfill complete only on a later pass, up to half a minute on.
        pending = [b for b in pending if b.followed or done[b.window.feed] < total[b.window.feed]]
        runs_done, runs_total = sum(done.values()), sum(total.values())
        line = progress_line(ledger.tally(since), runs_done, runs_total, runs_started_with, to_run,
                             time.monotonic() - began)
        progress.show(line, force=not pending)
        if not pending:
            progress.end()
            return
        time.sleep(poll)
