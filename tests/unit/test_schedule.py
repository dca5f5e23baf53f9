"""Which delivery a scheduled run processes, per cadence (Helsinki calendar)."""

from __future__ import annotations

import datetime as dt

import pytest

from tesoma.schedule import cron, delivery_date_for, run_time_for


@pytest.mark.parametrize(("cadence", "delivery"), [
    ("daily", dt.date(2026, 10, 1)), ("daily", dt.date(2026, 12, 31)), ("daily", dt.date(2026, 10, 25)),
    ("monthly", dt.date(2026, 10, 1)), ("monthly", dt.date(2026, 12, 1)), ("yearly", dt.date(2027, 1, 1)),
])
def test_run_time_and_delivery_date_round_trip(cadence, delivery):
    assert delivery_date_for(run_time_for(delivery, cadence), cadence) == delivery


def test_examples():
    run = dt.datetime(2026, 10, 2, 4, 0, tzinfo=dt.UTC)  # 07:00 in Helsinki (UTC+3)
    assert delivery_date_for(run) == dt.date(2026, 10, 1)
    assert delivery_date_for(dt.datetime(2026, 11, 2, 5, tzinfo=dt.UTC), "monthly") == dt.date(2026, 10, 1)
    assert delivery_date_for(dt.datetime(2027, 1, 15, 5, tzinfo=dt.UTC), "yearly") == dt.date(2027, 1, 1)
    assert cron("daily") == "0 7 * * *" and cron("monthly", "06:30") == "30 6 2 * *"
