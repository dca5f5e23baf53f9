"""Calendar rules shared by the DAGs and the command line."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from tesoma.config import TIMEZONE


def delivery_date_for(logical_date: dt.datetime) -> dt.date:
    """A run triggered on day D (Helsinki time) processes the delivery covering day D-1."""
    return logical_date.astimezone(ZoneInfo(TIMEZONE)).date() - dt.timedelta(days=1)


def run_time_for(delivery_date: dt.date) -> dt.datetime:
    """The scheduled run (07:00 Helsinki the next day) that processes ``delivery_date``, in UTC."""
    local = dt.datetime.combine(delivery_date + dt.timedelta(days=1), dt.time(7), tzinfo=ZoneInfo(TIMEZONE))
    return local.astimezone(dt.UTC)
