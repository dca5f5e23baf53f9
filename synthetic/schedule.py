"""The simulated calendar: which days the services are open and when deliveries arrive.

All clock times in the partners' data are local Helsinki time (``Europe/Helsinki``: UTC+2 in winter,
UTC+3 in summer; the simulated period may cross a daylight-saving change). Deliveries follow the usual
agreement: the extract covering day D arrives at 06:00 on the morning of day D+1, and the file's
modification time is set to that arrival instant so that repeated runs produce identical trees.

Services run on working days (Monday to Friday except Finnish public holidays); on weekends and
holidays only on-call primary care and a few other things happen.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

HELSINKI = ZoneInfo("Europe/Helsinki")
DAILY_ARRIVAL = dt.time(6, 0)
"""Local time at which a day's extract arrives on the following morning."""


def period(start: dt.date, days: int) -> list[dt.date]:
    """The simulated days, in order."""
    return [start + dt.timedelta(days=i) for i in range(days)]


def easter_sunday(year: int) -> dt.date:
    """Easter Sunday in the Gregorian calendar (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@functools.cache
def public_holidays(year: int) -> frozenset[dt.date]:
    """Finnish public holidays and the customary days off (Christmas Eve, Midsummer Eve) of ``year``."""
    easter = easter_sunday(year)
    midsummer_eve = next(dt.date(year, 6, d) for d in range(19, 26) if dt.date(year, 6, d).weekday() == 4)
    return frozenset(
        {
            dt.date(year, 1, 1),
            dt.date(year, 1, 6),
            dt.date(year, 5, 1),
            dt.date(year, 12, 6),
            dt.date(year, 12, 24),
            dt.date(year, 12, 25),
            dt.date(year, 12, 26),
            easter - dt.timedelta(days=2),
            easter + dt.timedelta(days=1),
            easter + dt.timedelta(days=39),
            midsummer_eve,
            midsummer_eve + dt.timedelta(days=1),
        }
    )


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in public_holidays(day.year)


def local(day: dt.date, time: dt.time) -> dt.datetime:
    """An aware Helsinki datetime."""
    return dt.datetime.combine(day, time, tzinfo=HELSINKI)


def aware(naive_local: dt.datetime) -> dt.datetime:
    """A naive local Helsinki datetime made aware (the earlier reading of an ambiguous autumn hour)."""
    return naive_local.replace(tzinfo=HELSINKI)


def iso_with_offset(moment: dt.datetime) -> str:
    """``2026-10-01T09:15:00+03:00``: a FHIR ``dateTime``/``instant`` with the Helsinki offset."""
    if moment.tzinfo is None:
        moment = aware(moment)
    return moment.astimezone(HELSINKI).isoformat(timespec="seconds")


def daily_arrival(covered_day: dt.date) -> dt.datetime:
    """When the extract covering ``covered_day`` is due: 06:00 local on the next morning."""
    return local(covered_day + dt.timedelta(days=1), DAILY_ARRIVAL)


def months_touched(days: list[dt.date]) -> list[tuple[int, int]]:
    """The calendar months (year, month) the period touches, in order."""
    months: list[tuple[int, int]] = []
    for day in days:
        if (day.year, day.month) not in months:
            months.append((day.year, day.month))
    return months


def first_of_next_month(year: int, month: int) -> dt.date:
    return dt.date(year + month // 12, month % 12 + 1, 1)


def wait_days(rng, bands: tuple[tuple[float, int, int], ...]) -> int:
    """Days from a care-need assessment to the visit, drawn from ``bands`` of (share, first day, last day):
    a band by its share, then a day of it uniformly (the waiting-time shapes of the city and Mehiläinen)."""
    roll = rng.random()
    for share, first, last in bands:
        if roll < share:
            return rng.randint(first, last)
        roll -= share
    return 0
