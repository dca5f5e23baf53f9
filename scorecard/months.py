"""Calendar months, as the scorecard counts them: a month is the date of its first day."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator


def month_start(day: dt.date) -> dt.date:
    """The month ``day`` is in (its first day)."""
    return day.replace(day=1)


def month_end(day: dt.date) -> dt.date:
    """The last day of the month ``day`` is in."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(month: dt.date, n: int) -> dt.date:
    """The first day of the month ``n`` months after (before, for negative ``n``) ``month``'s."""
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def months_between(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    """Every month from ``first``'s to ``last``'s, both included."""
    month = month_start(first)
    while month <= last:
        yield month
        month = add_months(month, 1)
