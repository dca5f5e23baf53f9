"""Calendar rules shared by the DAGs and the command line."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tesoma.config import TIMEZONE

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
"""The feed DAGs' ``start_date``: Airflow creates no tasks for a run dated before it, so it lies before any
date a feed could cover; which dates a feed has is said by its contract (``servicePeriodStart``)."""

CRON = {"daily": "{minute} {hour} * * *", "monthly": "{minute} {hour} 2 * *", "yearly": "{minute} {hour} 15 1 *"}


def cron(cadence: str, run_at: str = "07:00") -> str:
    """The cron expression (Helsinki time) of a feed's runs."""
    hour, minute = (int(x) for x in run_at.split(":"))
    return CRON[cadence].format(minute=minute, hour=hour)


def delivery_date_for(logical_date: dt.datetime, cadence: str = "daily") -> dt.date:
    """The delivery a run processes: daily — the previous day; monthly — the previous month (its 1st
    day); yearly — the run's year (1 January)."""
    local = logical_date.astimezone(ZoneInfo(TIMEZONE)).date()
    if cadence == "monthly":
        return (local.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    if cadence == "yearly":
        return dt.date(local.year, 1, 1)
    return local - dt.timedelta(days=1)


def run_time_for(delivery_date: dt.date, cadence: str = "daily", run_at: str = "07:00") -> dt.datetime:
    """The scheduled run that processes ``delivery_date``, in UTC."""
    if cadence == "monthly":
        nxt = (delivery_date.replace(day=28) + dt.timedelta(days=4)).replace(day=2)
    elif cadence == "yearly":
        nxt = dt.date(delivery_date.year, 1, 15)
    else:
        nxt = delivery_date + dt.timedelta(days=1)
    hour, minute = (int(x) for x in run_at.split(":"))
    return dt.datetime.combine(nxt, dt.time(hour, minute), tzinfo=ZoneInfo(TIMEZONE)).astimezone(dt.UTC)


def run_id(feed: str, delivery_date: dt.date, suffix: str = "") -> str:
    """The id of a triggered run: the feed and the delivery date it processes (``city_visits__2026-10-01``),
    so the grid and the URLs say which delivery a run is about; ``suffix`` tells apart a second run of the
    same date (``city_visits__2026-10-01__rerun2``). Scheduled runs keep Airflow's ``scheduled__<time>``."""
    return f"{feed}__{delivery_date.isoformat()}" + (f"__{suffix}" if suffix else "")


def task_defaults(owner: str = "data-engineering", retries: int = 2) -> dict:
    """Airflow ``default_args`` shared by every DAG: retries with exponential backoff. The delay is
    minutes in production; the demo and the tests set seconds so a failure shows at once."""
    import os

    return {"owner": owner, "retries": retries,
            "retry_delay": dt.timedelta(seconds=int(os.environ.get("TESOMA_RETRY_DELAY_SECONDS", "300"))),
            "retry_exponential_backoff": True}
