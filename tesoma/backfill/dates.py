"""What to backfill: the feeds, the DAG that does the work (daily or history) and each DAG's run window."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tesoma.backfill.terms import HISTORY_MIN_DAYS, BackfillError

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


