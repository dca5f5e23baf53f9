"""``tesoma backfill`` over the history DAGs runs a month again when it has a run but dates of the range that no
run processed (a range that grew, a month backfilled in part), and only then.

Against the Airflow-shaped server of test_backfill_command.py, here with monthly history runs that, like
dags/history.py, process the files in landing/ of their month within their configuration's range and skip
the deliveries already published.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest

from tesoma import backfill
from tesoma.backfill.dates import _helsinki, _month_run
from tests.unit.test_backfill_command import FEED, FakeAirflow, _iso
from warehouse.ledger import Ledger

DAG = f"{FEED}_history"
JAN, FEB, MAR = dt.date(2022, 1, 1), dt.date(2022, 2, 1), dt.date(2022, 3, 1)


def _month(logical_date: str) -> dt.date:
    return dt.datetime.fromisoformat(logical_date).astimezone(_helsinki()).date().replace(day=1)


class HistoryAirflow(FakeAirflow):
    """A history DAG's monthly runs: each processes its month's files within its conf, as dags/history.py."""

    def __init__(self, ledger_url: str, landing: list[dt.date]):
        super().__init__(ledger_url, dags=(DAG,))
        self.landing = landing

    def _logical_dates(self, body: dict) -> list[dt.datetime]:
        month, last = _month(body["from_date"]), _month(body["to_date"])
        found = []
        while month <= last:
            found.append(_month_run(month))
            month = (month + dt.timedelta(days=32)).replace(day=1)
        return found

    def _advance(self, b: dict) -> None:
        queued = [r for r in self.runs if r["backfill_id"] == b["id"] and r["state"] == "queued"]
        if not queued:
            b["completed_at"] = _iso(dt.datetime.now(dt.UTC))
            return
        run = queued[0]
        month, conf = _month(run["logical_date"]), run["conf"] or {}
        first, last = dt.date.fromisoformat(conf["from"]), dt.date.fromisoformat(conf["to"])
        ledger = Ledger(self.ledger_url)
        try:
            for day in self.landing:
                if day.replace(day=1) != month or not first <= day <= last or ledger.for_date(FEED, day):
                    continue
                delivery, _ = ledger.record_landed(
                    partner="city", feed=FEED, delivery_date=day, sequence=1,
                    source_name=f"city_visits_{day:%Y%m%d}.csv", sha256=f"{day:%Y%m%d}" * 8,
                    raw_path=f"raw/city/city_visits/{day:%Y%m%d}.csv", size_bytes=100, arrived_at=None)
                ledger.update(delivery.delivery_id, state="published", rows_read=10, rows_published=10,
                              rows_quarantined=0)
        finally:
            ledger.engine.dispose()
        run["state"] = "success"


@pytest.fixture
def landing(data_root, monkeypatch) -> list[dt.date]:
    """A city_visits file a day in landing/ for January and February 2022 (names only); history from then on."""
    monkeypatch.setenv("TESOMA_HISTORY_FROM", "2022-01-01")
    folder = data_root / "landing" / "city" / FEED
    folder.mkdir(parents=True)
    days = [JAN + dt.timedelta(days=i) for i in range((MAR - JAN).days)]
    for day in days:
        (folder / f"city_visits_{day:%Y%m%d}.csv").write_text("")
    return days


@pytest.fixture
def ledger_url(data_root) -> str:
    return f"sqlite:///{data_root / 'ledger.sqlite'}"


def _run(fake: FakeAirflow, first: dt.date, last: dt.date) -> tuple[int, backfill.Summary, list[str]]:
    out = io.StringIO()
    status, summary = backfill.run([FEED], first, last, url=fake.url, poll=0.01, out=out, tty=False, every=0,
                                   history=True)
    return status, summary, out.getvalue().splitlines()


def _published(ledger_url: str) -> list[dt.date]:
    ledger = Ledger(ledger_url)
    try:
        return [d.delivery_date for d in ledger.all(FEED) if d.state == "published"]
    finally:
        ledger.engine.dispose()


def test_a_month_backfilled_in_part_is_run_again_for_its_dates_not_done(landing, ledger_url):
    feb_end = dt.date(2022, 2, 28)
    with HistoryAirflow(ledger_url, landing) as fake:
        _run(fake, dt.date(2022, 1, 15), feb_end)
        assert _published(ledger_url) == landing[14:]  # 15 January on
        february = next(dict(r) for r in fake.runs if _month(r["logical_date"]) == FEB)

        status, summary, lines = _run(fake, JAN, feb_end)
        assert (f"{DAG} 2022-01: 14 delivery date(s) not yet processed though the month has a run (success); "
                "running it again with the range as its configuration") in lines
        assert (f"{DAG}: backfill 2 created, 1 run(s) for 2022-01-01 … 2022-02-28 (running again the month(s) "
                "with a run: 2022-01)") in lines
        created = [body for method, path, body in fake.requests if (method, path) == ("POST", "/api/v2/backfills")]
        # January alone, reprocessed with the new range as its run's configuration; February left alone
        assert created[1] == {"dag_id": DAG, "from_date": _month_run(JAN).isoformat(),
                              "to_date": _month_run(JAN).isoformat(), "reprocess_behavior": "completed",
                              "max_active_runs": 4, "run_backwards": False,
                              "dag_run_conf": {"from": "2022-01-01", "to": "2022-02-28"}}
        assert next(r for r in fake.runs if _month(r["logical_date"]) == FEB) == february
        assert _published(ledger_url) == landing
        assert (status, summary.published, summary.missing) == (0, 59, {})

        # the backfill is finished: the same command again changes nothing
        runs = [dict(r) for r in fake.runs]
        status, _, lines = _run(fake, JAN, feb_end)
    assert [line for line in lines if line.startswith(("nothing to do", DAG))] == [
        "nothing to do: every date already ran (59 feed-date(s) of 1 feed(s) have their runs; --rerun failed "
        "runs the failed ones again)"]
    assert fake.runs == runs and len(fake.backfills) == 2 and status == 0


def test_when_every_date_is_done_there_is_nothing_to_do(landing, ledger_url):
    with HistoryAirflow(ledger_url, landing) as fake:
        _run(fake, JAN, dt.date(2022, 2, 28))
        runs = [dict(r) for r in fake.runs]
        _, _, lines = _run(fake, JAN, dt.date(2022, 2, 28))
        _, _, inner = _run(fake, dt.date(2022, 1, 10), dt.date(2022, 2, 20))  # a range inside it: done too
    assert any(line.startswith("nothing to do: every date already ran") for line in lines)
    assert any(line.startswith("nothing to do: every date already ran") for line in inner)
    assert not [line for line in lines + inner if "again" in line and line.startswith(DAG)]
    assert fake.runs == runs and len(fake.backfills) == 1


def test_which_months_run_again_and_why(monkeypatch):
    monkeypatch.setenv("TESOMA_HISTORY_FROM", "2022-01-01")
    w = backfill.window(FEED, JAN, dt.date(2022, 5, 31), True, today=dt.date(2026, 12, 5))
    runs = {JAN: "success", FEB: "success", MAR: "failed", dt.date(2022, 4, 1): "running"}
    undone = [dt.date(2022, 1, d) for d in range(1, 15)] + [dt.date(2022, 3, 30), dt.date(2022, 4, 2)]

    def found(with_undone: list[dt.date]) -> list[backfill.Month]:
        listed = [{"logical_date": _iso(_month_run(m)), "state": s} for m, s in runs.items()]
        return backfill.months(w, listed, with_undone)

    # given: month → its run, and dates not done      expected: (run again?, needs a run?)
    assert [(f"{m.start:%Y-%m}", m.run_state, m.undone, m.again, m.needs_run("none")) for m in found(undone)] == [
        ("2022-01", "success", 14, True, True),   # backfilled in part: runs again
        ("2022-02", "success", 0, False, False),  # done
        ("2022-03", "failed", 1, True, True),     # a file that arrived after its run
        ("2022-04", "running", 1, False, False),  # its run is not over: left to it
        ("2022-05", None, 0, False, True),        # no run yet: Airflow creates it
    ]
    runs_again, lines = backfill.span(w, found(undone), "none")
    # one backfill (Airflow allows one per DAG at a time) from January to May: February is run too
    assert (runs_again.first_run, runs_again.last_run, runs_again.conf) == (_month_run(JAN),
                                                                           _month_run(dt.date(2022, 5, 1)), w.conf)
    assert [line.split(": ", 1)[0] for line in lines] == [f"{DAG} 2022-01", f"{DAG} 2022-02", f"{DAG} 2022-03",
                                                           f"{DAG} 2022-04"]
    assert "done, but run again too: it lies between months to run" in lines[1]
    assert "its run is running, so it is left to finish" in lines[3]
    # nothing undone in a month with a finished run: Airflow's own dry run decides, as before
    assert backfill.span(w, found([dt.date(2022, 4, 2)]), "none") is None


def test_dates_not_done_are_those_whose_file_the_ledger_has_not_through_the_pipeline(landing, ledger_url,
                                                                                    data_root):
    import os

    arrived = dt.datetime(2022, 3, 1, 6, tzinfo=dt.UTC)
    for day in landing:  # every file arrived then
        os.utime(data_root / "landing" / "city" / FEED / f"city_visits_{day:%Y%m%d}.csv", (arrived.timestamp(),) * 2)
    # given: the ledger's delivery of a January date        expected: a run still has it to do?
    table = {dt.date(2022, 1, 1): ("published", arrived),  # no
             dt.date(2022, 1, 2): ("rejected", arrived),   # no: --rerun failed or completed tries it again
             dt.date(2022, 1, 3): ("staged", arrived),     # yes: a run stopped half-way
             dt.date(2022, 1, 4): ("published", arrived - dt.timedelta(hours=1)),  # yes: the file was sent again
             dt.date(2022, 1, 5): ("superseded", None)}    # no (no arrival recorded: the file is the one)
    ledger = Ledger(ledger_url)
    try:
        for day, (state, when) in table.items():
            delivery, _ = ledger.record_landed(partner="city", feed=FEED, delivery_date=day, sequence=1,
                                               source_name=f"city_visits_{day:%Y%m%d}.csv",
                                               sha256=f"{day:%Y%m%d}" * 8, raw_path="raw/x.csv", size_bytes=1,
                                               arrived_at=when)
            ledger.update(delivery.delivery_id, state=state)
    finally:
        ledger.engine.dispose()
    w = backfill.window(FEED, JAN, dt.date(2022, 1, 31), True, today=dt.date(2026, 12, 5))
    view = backfill.RangeLedger(ledger_url, [w])
    try:
        undone = view.undone(w)
    finally:
        view.close()
    # 3 and 4 as the table says, and 6 … 31 (files in landing/, nothing in the ledger)
    assert undone == [dt.date(2022, 1, 3), dt.date(2022, 1, 4)] + landing[5:31]
