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


def test_durations_in_feeds_yaml():
    from tesoma.feed_config import duration

    assert duration("90s") == dt.timedelta(seconds=90)
    assert duration("10m") == dt.timedelta(minutes=10)
    assert duration(" 3h ") == dt.timedelta(hours=3)
    assert duration("1.5d") == dt.timedelta(hours=36)
    for bad in ("3", 3, "3 hours", "0h", "-1h", ""):
        with pytest.raises(ValueError, match="duration"):
            duration(bad)


def test_waiting_and_lateness_settings(tmp_path):
    from tesoma.feed_config import load

    runs = load()
    assert runs["city_visits"].late_after == dt.timedelta(hours=3)  # the default
    assert runs["city_visits"].expect == "all" and runs["city_visits"].if_not_delivered == "fail"
    assert runs["ngo_activity"].expect == "any" and runs["ngo_activity"].if_not_delivered == "skip"
    assert runs["costs"].wait_up_to == dt.timedelta(days=7)
    for run in runs.values():
        assert run.poll_every < run.wait_up_to and run.late_after > dt.timedelta(0)

    def config(**feed) -> dict:
        path = tmp_path / f"feeds-{len(list(tmp_path.iterdir()))}.yaml"
        lines = ["defaults: {owner: x, retries: 2, run_at: '07:00', late_after: 2h}", "feeds:", "  city_visits:",
                 "    cadence: daily", *(f"    {k}: {v}" for k, v in feed.items())]
        path.write_text("\n".join(lines) + "\n")
        return load(path)

    run = config(wait_up_to="2h", poll_every="1m")["city_visits"]
    assert (run.late_after, run.wait_up_to, run.poll_every) == (dt.timedelta(hours=2), dt.timedelta(hours=2),
                                                                 dt.timedelta(minutes=1))
    with pytest.raises(ValueError, match="poll_every must be shorter"):
        config(wait_up_to="5m", poll_every="5m")
    with pytest.raises(ValueError, match="expect"):
        config(expect="most")
    with pytest.raises(ValueError, match="if_not_delivered"):
        config(if_not_delivered="retry")
    with pytest.raises(ValueError, match="late_after"):
        config(late_after="soon")
