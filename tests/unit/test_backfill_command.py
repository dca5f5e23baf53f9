"""``tesoma backfill`` against a small Airflow-shaped HTTP server started in the test.

The server answers the REST API v2 calls the command makes (a token, dry run, create, the backfill's state,
the DAG and its runs) with bodies shaped as Airflow 3.3 answers them, and plays the scheduler: each time
the command asks whether a backfill is complete, one more of its runs finishes and writes its delivery
into the ledger, as the DAG's tasks would. What is asserted is what the operator reads.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tesoma import backfill, cli
from tesoma.schedule import delivery_date_for, run_time_for
from warehouse.ledger import Ledger

FEED = "city_visits"
FIRST, LAST = dt.date(2026, 10, 1), dt.date(2026, 10, 3)
SQLITE_DETAIL = ("Database is locked. Backfill creation is not supported on SQLite under concurrent access. "
                 "Please use PostgreSQL or MySQL.")
REJECT_REASON = "missing required column 'visit_id' (contract city_visits)"


class FakeAirflow:
    """The few endpoints of Airflow's API that ``tesoma backfill`` uses, with a scheduler that finishes one
    run per look at a backfill. Dates: the 1st publishes, the 2nd publishes with quarantined rows, the 3rd
    is rejected (its run fails, as the feed DAG's ``report`` makes it)."""

    def __init__(self, ledger_url: str, *, sqlite: bool = False, password: str | None = None,
                 dags: tuple[str, ...] = (FEED,)):
        self.ledger_url = ledger_url
        self.sqlite = sqlite
        self.password = password
        self.dags = {d: {"dag_id": d, "is_paused": True} for d in dags}
        self.runs: list[dict] = []
        self.backfills: list[dict] = []
        self.requests: list[tuple[str, str, dict | None]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeAirflow:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- the scheduler's part ----------------------------------------------------------------------------

    def _logical_dates(self, body: dict) -> list[dt.datetime]:
        first = dt.datetime.fromisoformat(body["from_date"])
        last = dt.datetime.fromisoformat(body["to_date"])
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        return [d for d in days if d <= last]

    def _to_run(self, body: dict) -> list[dt.datetime]:
        """As Airflow: a date without a run, or one whose run finished and ``reprocess_behavior`` says to run
        again (a run still queued or running is never touched)."""
        existing = {r["logical_date"]: r["state"] for r in self.runs if r["dag_id"] == body["dag_id"]}
        behaviour = body.get("reprocess_behavior", "none")
        return [d for d in self._logical_dates(body) if _iso(d) not in existing
                or (behaviour == "completed" and existing[_iso(d)] in ("success", "failed"))
                or (behaviour == "failed" and existing[_iso(d)] == "failed")]

    def _advance(self, b: dict) -> None:
        """Finish the backfill's next queued run, writing its delivery into the ledger; complete the backfill
        when none is left."""
        queued = [r for r in self.runs if r["backfill_id"] == b["id"] and r["state"] == "queued"]
        if not queued:
            b["completed_at"] = _iso(dt.datetime.now(dt.UTC))
            return
        run = queued[0]
        day = delivery_date_for(dt.datetime.fromisoformat(run["logical_date"]))
        ledger = Ledger(self.ledger_url)
        try:
            delivery, _ = ledger.record_landed(partner="city", feed=FEED, delivery_date=day, sequence=1,
                                               source_name=f"city_visits_{day:%Y%m%d}.csv", sha256=f"{day:%Y%m%d}" * 8,
                                               raw_path=f"raw/city/city_visits/{day:%Y%m%d}.csv", size_bytes=100,
                                               arrived_at=None)
            if day == FIRST + dt.timedelta(days=2):
                ledger.update(delivery.delivery_id, state="rejected", reason=REJECT_REASON, rows_read=5,
                              rows_published=0, rows_quarantined=5)
            else:
                quarantined = 2 if day == FIRST + dt.timedelta(days=1) else 0
                ledger.update(delivery.delivery_id, state="published", rows_read=10, rows_published=10 - quarantined,
                              rows_quarantined=quarantined)
        finally:
            ledger.engine.dispose()
        run["state"] = "failed" if day == FIRST + dt.timedelta(days=2) else "success"
        if run is queued[-1]:  # the scheduler's next pass marks the backfill complete
            b["completed_at"] = _iso(dt.datetime.now(dt.UTC))

    # -- HTTP ----------------------------------------------------------------------------------------------

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.requests.append((method, url.path, body))
                status, answer = fake.answer(method, url.path, query, body, self.headers.get("Authorization"))
                self._answer(status, answer)

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def do_PATCH(self) -> None:
                self._route("PATCH")

        return Handler

    def answer(self, method: str, path: str, query: dict, body: dict | None, auth: str | None) -> tuple[int, dict]:
        if path == "/auth/token":
            if self.password is None:
                return 201, {"access_token": "all-admins-token"}
            if method == "GET":
                return 403, {"detail": "Login with no credentials is only allowed when all users are admins"}
            if body != {"username": "operator", "password": self.password}:
                return 401, {"detail": "Invalid credentials"}
            return 201, {"access_token": "operator-token"}
        if auth not in ("Bearer all-admins-token", "Bearer operator-token"):
            return 401, {"detail": "Not authenticated"}
        if path.startswith("/api/v2/backfills"):
            return self._backfills(method, path, query, body)
        parts = path.split("/")  # /api/v2/dags/<dag_id>[/dagRuns]
        dag = self.dags.get(parts[4]) if len(parts) > 4 else None
        if dag is None:
            return 404, {"detail": f"The Dag with ID: `{parts[4] if len(parts) > 4 else ''}` was not found"}
        if len(parts) == 5 and method == "PATCH":
            dag.update(body or {})
            return 200, dag
        if len(parts) == 5:
            return 200, dag
        return 200, self._dag_runs(dag["dag_id"], query)

    def _backfills(self, method: str, path: str, query: dict, body: dict | None) -> tuple[int, dict]:
        if path == "/api/v2/backfills/dry_run":
            if body["dag_id"] not in self.dags:
                return 404, {"detail": f"Could not find dag {body['dag_id']}"}
            dates = self._to_run(body)
            return 200, {"backfills": [{"logical_date": _iso(d), "partition_key": None, "partition_date": None}
                                       for d in dates], "total_entries": len(dates)}
        if path == "/api/v2/backfills" and method == "POST":
            if self.sqlite:
                return 503, {"detail": SQLITE_DETAIL}
            if any(b["dag_id"] == body["dag_id"] and not b["completed_at"] for b in self.backfills):
                return 409, {"detail": f"There is already a running backfill for dag {body['dag_id']}"}
            now = _iso(dt.datetime.now(dt.UTC))
            b = {"id": len(self.backfills) + 1, "dag_id": body["dag_id"], "from_date": body["from_date"],
                 "to_date": body["to_date"], "dag_run_conf": body.get("dag_run_conf"), "is_paused": False,
                 "reprocess_behavior": body["reprocess_behavior"], "max_active_runs": body["max_active_runs"],
                 "created_at": now, "completed_at": None, "updated_at": now, "dag_display_name": body["dag_id"]}
            self.backfills.append(b)
            for d in self._to_run(body):
                self.runs = [r for r in self.runs if not (r["dag_id"] == b["dag_id"] and r["logical_date"] == _iso(d))]
                self.runs.append({"dag_run_id": f"{FEED}__{delivery_date_for(d)}__backfill_{b['id']}",
                                  "dag_id": b["dag_id"], "logical_date": _iso(d), "state": "queued",
                                  "run_type": "backfill", "backfill_id": b["id"], "conf": b["dag_run_conf"]})
            return 200, b
        if path == "/api/v2/backfills":
            found = [b for b in self.backfills if b["dag_id"] == query["dag_id"][0]]
            return 200, {"backfills": found, "total_entries": len(found)}
        b = self.backfills[int(path.rsplit("/", 1)[1]) - 1]
        if not b["completed_at"]:
            self._advance(b)
        return 200, b

    def _dag_runs(self, dag_id: str, query: dict) -> dict:
        first = dt.datetime.fromisoformat(query.get("logical_date_gte", ["0001-01-01T00:00:00+00:00"])[0])
        last = dt.datetime.fromisoformat(query.get("logical_date_lte", ["9999-12-31T00:00:00+00:00"])[0])
        runs = [r for r in self.runs if r["dag_id"] == dag_id
                and first <= dt.datetime.fromisoformat(r["logical_date"]) <= last
                and (not query.get("state") or r["state"] in query["state"])]
        offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["100"])[0])
        return {"dag_runs": runs[offset:offset + limit], "total_entries": len(runs)}


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


@pytest.fixture
def ledger_url(data_root) -> str:
    """The data root's ledger, with the three dates' files in landing/ (names only: the command counts them)."""
    folder = data_root / "landing" / "city" / FEED
    folder.mkdir(parents=True)
    for i in range(3):
        (folder / f"city_visits_{FIRST + dt.timedelta(days=i):%Y%m%d}.csv").write_text("")
    return f"sqlite:///{data_root / 'ledger.sqlite'}"


def _run(fake: FakeAirflow, tty: bool = False, **options) -> tuple[int, backfill.Summary, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status, summary = backfill.run([FEED], FIRST, LAST, url=fake.url, poll=0.01, out=out, err=err, tty=tty,
                                   every=0, **options)
    return status, summary, out.getvalue(), err.getvalue()


def test_backfill_shows_progress_and_ends_with_the_ledgers_summary(ledger_url):
    with FakeAirflow(ledger_url) as fake:
        status, summary, out, _ = _run(fake)
    created = [body for method, path, body in fake.requests if (method, path) == ("POST", "/api/v2/backfills")]
    assert created == [{"dag_id": FEED, "from_date": run_time_for(FIRST).isoformat(),
                        "to_date": run_time_for(LAST).isoformat(), "reprocess_behavior": "none",
                        "max_active_runs": 4, "run_backwards": False}]
    assert fake.dags[FEED]["is_paused"] is False
    lines = out.splitlines()
    assert "city_visits: backfill 1 created, 3 run(s) for 2026-10-01 … 2026-10-03" in lines
    assert "city_visits: unpaused (Airflow runs no backfill run of a paused DAG)" in lines
    progress = [line for line in lines if line.startswith("deliveries ")]
    # The total is known from landing/ before anything ran; each run adds its delivery.
    assert [p.split(" · ")[:2] for p in progress] == [["deliveries 1/3", "runs 1/3"], ["deliveries 2/3", "runs 2/3"],
                                                       ["deliveries 3/3", "runs 3/3"]]
    assert all("deliveries/s" in p and ("left" in p or "all runs finished" in p) for p in progress)
    summary_lines = lines[lines.index(progress[-1]) + 1:]
    assert summary_lines[:4] == [
        "published: 2 deliveries (18 rows), 1 of them with quarantined rows (2 rows)",
        "rejected: 1",
        f"  city_visits-city-20261003-1-20261003: {REJECT_REASON}",
        "superseded: 0 (replaced by a corrected re-delivery)"]
    assert "missing: 0" in summary_lines
    assert "DAG runs: 1 failed, 2 success" in summary_lines
    assert summary_lines[-1].startswith("wall time: ") and "3 deliveries finished meanwhile" in summary_lines[-1]
    assert status == 0  # the failed run is explained by its rejected delivery
    assert (summary.published, summary.with_quarantine, summary.rows_quarantined) == (2, 1, 2)


def test_on_a_terminal_progress_is_one_line_rewritten_in_place(ledger_url):
    with FakeAirflow(ledger_url) as fake:
        _, _, out, _ = _run(fake, tty=True)
    progress_part = out[out.index("\rdeliveries"):out.index("published:")]
    assert progress_part.count("\n") == 1  # the updates share one line, ended once before the summary
    assert progress_part.count("\rdeliveries ") >= 3
    assert "deliveries 3/3 · runs 3/3" in progress_part


def test_a_second_backfill_of_the_same_range_has_nothing_to_do(ledger_url):
    with FakeAirflow(ledger_url) as fake:
        _, first, _, _ = _run(fake)
        runs = [dict(r) for r in fake.runs]
        status, second, out, _ = _run(fake)
    assert "nothing to do: every date already ran (3 feed-date(s) of 1 feed(s) have their runs; --rerun failed " \
           "runs the failed ones again)" in out
    assert fake.runs == runs
    assert len(fake.backfills) == 1  # no second backfill created
    assert (second.published, second.rejected, second.rows_published) == (first.published, first.rejected,
                                                                          first.rows_published)
    assert status == 0


def test_rerun_failed_runs_only_the_failed_date_again(ledger_url):
    with FakeAirflow(ledger_url) as fake:
        _run(fake)
        _, _, out, _ = _run(fake, rerun="failed")
    assert "city_visits: backfill 2 created, 1 run(s) for 2026-10-01 … 2026-10-03" in out
    assert fake.backfills[1]["reprocess_behavior"] == "failed"


def test_on_sqlite_it_explains_the_limit_and_what_to_run_instead(ledger_url):
    with FakeAirflow(ledger_url, sqlite=True) as fake:
        status, _, out, err = _run(fake)
    assert status == 1
    assert f"Airflow refused the backfill: {SQLITE_DETAIL}" in err
    assert "metadata in SQLite" in err and "docker-compose up -d" in err
    assert ("docker-compose exec airflow-worker tesoma backfill --feed city_visits --from 2026-10-01 "
            "--to 2026-10-03") in err
    assert "tesoma run --feed city_visits --date 2026-10-02" in err
    assert "published:" not in out


def test_a_backfill_already_running_is_followed_not_doubled(ledger_url):
    with FakeAirflow(ledger_url) as fake:
        # Someone started the same backfill (say, from the UI); its runs are queued.
        fake.answer("POST", "/api/v2/backfills", {}, {"dag_id": FEED, "from_date": run_time_for(FIRST).isoformat(),
                                                      "to_date": run_time_for(FIRST).isoformat(),
                                                      "reprocess_behavior": "none", "max_active_runs": 4},
                    "Bearer all-admins-token")
        status, summary, out, _ = _run(fake)
    assert "city_visits: a backfill is already running (id 1" in out and "following it" in out
    assert len(fake.backfills) == 1
    assert summary.published == 1 and summary.missing == {FEED: ["2026-10-02", "2026-10-03"]}


def _main(capsys, *args: str) -> tuple[int, str]:
    status = cli.main(["backfill", *args])
    return status, capsys.readouterr().err


def test_bad_arguments_and_unreachable_or_refusing_airflow_say_what_to_fix(ledger_url, capsys, monkeypatch):
    status, err = _main(capsys, "--from", "2026-10-05", "--to", "2026-10-01")
    assert status == 2 and "--from 2026-10-05 is after --to 2026-10-01: give the earlier date as --from" in err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["backfill", "--feed", "city_visit", "--from", "2026-10-01", "--to", "2026-10-02"])
    assert exit_.value.code == 2 and "unknown feed 'city_visit'; known feeds: city_access" in capsys.readouterr().err

    with FakeAirflow(ledger_url) as fake:
        url = fake.url
    status, err = _main(capsys, "--from", "2026-10-01", "--to", "2026-10-01", "--airflow-url", url)
    assert status == 1 and f"cannot reach Airflow's API at {url}" in err
    assert "--airflow-url or TESOMA_AIRFLOW_URL" in err

    with FakeAirflow(ledger_url, password="s3cret-enough") as fake:
        monkeypatch.setenv("TESOMA_AIRFLOW_URL", fake.url)  # the variable, not the option
        status, err = _main(capsys, "--feed", FEED, "--from", "2026-10-01", "--to", "2026-10-01")
        assert status == 1 and "wants credentials" in err and "TESOMA_AIRFLOW_USERNAME" in err
        monkeypatch.setenv("TESOMA_AIRFLOW_USERNAME", "operator")
        monkeypatch.setenv("TESOMA_AIRFLOW_PASSWORD", "wrong")
        status, err = _main(capsys, "--feed", FEED, "--from", "2026-10-01", "--to", "2026-10-01")
        assert status == 1 and "refused the credentials of 'operator' (HTTP 401: Invalid credentials)" in err
        monkeypatch.setenv("TESOMA_AIRFLOW_PASSWORD", "s3cret-enough")
        status = cli.main(["backfill", "--feed", FEED, "--from", "2026-10-01", "--to", "2026-10-01", "--poll", "0.01"])
        assert status == 0 and "published: 1 deliveries" in capsys.readouterr().out


def test_a_feed_airflow_does_not_know_is_named(ledger_url):
    with FakeAirflow(ledger_url, dags=()) as fake, pytest.raises(backfill.BackfillError) as error:
        _run(fake)
    assert "has no DAG 'city_visits' (for feed city_visits)" in str(error.value)


def test_each_feed_is_backfilled_over_the_runs_of_its_delivery_dates():
    assert backfill.delivery_dates("daily", FIRST, LAST) == [FIRST, FIRST + dt.timedelta(1), LAST]
    assert backfill.delivery_dates("monthly", dt.date(2026, 9, 15), dt.date(2026, 11, 1)) == [
        dt.date(2026, 10, 1), dt.date(2026, 11, 1)]
    assert backfill.delivery_dates("yearly", dt.date(2025, 6, 1), dt.date(2026, 10, 31)) == [dt.date(2026, 1, 1)]
    costs = backfill.window("costs", dt.date(2026, 9, 2), dt.date(2026, 10, 31))  # monthly: October's file
    assert costs.dates == (dt.date(2026, 10, 1),) and costs.first_run == run_time_for(dt.date(2026, 10, 1), "monthly")
    assert backfill.window("costs", dt.date(2026, 10, 2), dt.date(2026, 10, 30)) is None
    assert backfill.dag_for(FEED) == FEED


def test_a_month_or_more_goes_through_the_history_dags_a_run_per_month_with_the_range_as_conf(monkeypatch):
    monkeypatch.delenv("TESOMA_HISTORY_FROM", raising=False)
    first, last = dt.date(2026, 10, 5), dt.date(2026, 11, 20)
    assert backfill.use_history(first, last) is True
    assert backfill.use_history(FIRST, LAST) is False  # three days: the daily DAGs, as daily operation
    assert backfill.use_history(first, last, daily=True) is False
    assert backfill.use_history(FIRST, LAST, history=True) is True
    with pytest.raises(backfill.BackfillError, match="--daily and --history exclude each other"):
        backfill.use_history(FIRST, LAST, daily=True, history=True)

    w = backfill.window(FEED, first, last, True, today=dt.date(2026, 12, 5))
    assert (w.dag_id, w.history, w.dates[0], w.dates[-1]) == (f"{FEED}_history", True, first, last)
    # the history runs of October and November: logical dates at the months' start, Helsinki time
    assert (w.first_run.isoformat(), w.last_run.isoformat()) == ("2026-09-30T21:00:00+00:00",
                                                                "2026-10-31T22:00:00+00:00")
    assert w.conf == {"from": "2026-10-05", "to": "2026-11-20"}  # the runs process only the range's dates
    assert "in part: 2026-10 from the 5., 2026-11 to the 20." in w.note
    assert backfill._body(w, "none", 4)["dag_run_conf"] == w.conf
    assert "dag_run_conf" not in backfill._body(backfill.window(FEED, FIRST, LAST), "none", 4)

    # the month not over yet is left to the daily DAG (Airflow backfills no run whose interval is open)
    w = backfill.window(FEED, first, dt.date(2026, 12, 3), True, today=dt.date(2026, 12, 5))
    assert w.dates[-1] == dt.date(2026, 11, 30) and w.last_run.isoformat() == "2026-10-31T22:00:00+00:00"
    assert (f"3 date(s) of 2026-12 (not over yet) left to the daily DAG: tesoma backfill --daily --feed {FEED} "
            "--from 2026-12-01 --to 2026-12-03") in w.note
    assert backfill.window("costs", dt.date(2026, 12, 1), dt.date(2026, 12, 31), True,
                           today=dt.date(2026, 12, 5)) is None


def test_history_before_the_service_period_needs_the_operators_setting(monkeypatch):
    first, last = dt.date(2021, 11, 1), dt.date(2026, 10, 31)
    monkeypatch.delenv("TESOMA_HISTORY_FROM", raising=False)
    w = backfill.window("costs", first, last, True, today=dt.date(2026, 12, 5))
    assert w.dates == (dt.date(2026, 10, 1),)
    assert "59 date(s) before 2026-10-01 left out" in w.note and "set TESOMA_HISTORY_FROM=" in w.note
    monkeypatch.setenv("TESOMA_HISTORY_FROM", "2021-11-01")
    w = backfill.window("costs", first, last, True, today=dt.date(2026, 12, 5))
    assert len(w.dates) == 60 and w.dates[0] == first and w.note == ""


def test_a_failed_history_run_is_explained_by_a_rejection_in_its_month(ledger_url):
    class Runs:
        """Airflow answering the run counts and the failed runs of a history window."""

        url = "http://airflow"

        def __init__(self, failed: list[str]):
            self.failed = failed

        def run_count(self, w, *states):
            return len(self.failed) if states == ("failed",) else 0

        def all_runs(self, w, *states):
            return [{"dag_run_id": f"backfill__{d}", "logical_date": d} for d in self.failed]

    w = backfill.window(FEED, dt.date(2026, 10, 1), dt.date(2026, 11, 30), True, today=dt.date(2026, 12, 5))
    summary = backfill.Summary(rejected=[("x", "missing_columns")], rejected_on={(FEED, dt.date(2026, 10, 17))})
    backfill.explain_failures(Runs(["2026-09-30T21:00:00+00:00", "2026-10-31T22:00:00+00:00"]), [w], summary)
    assert summary.unexplained == ["backfill__2026-10-31T22:00:00+00:00"]  # November: nothing rejected there
