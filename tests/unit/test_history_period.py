"""Loading history from before the contracts' service period: ``TESOMA_HISTORY_FROM`` extends every feed's
covered period backwards; unset, earlier dates are refused with a message that names the setting."""

from __future__ import annotations

import datetime as dt

import pytest

from tesoma import feed_config
from tesoma.feed_config import HISTORY_FROM, covered_from, history_from, not_covered

SERVICE_START = dt.date(2026, 10, 1)  # every contract's servicePeriodStart


def test_without_the_setting_dates_before_the_service_period_are_refused_naming_the_setting(monkeypatch):
    monkeypatch.delenv(HISTORY_FROM, raising=False)
    assert history_from() is None
    assert covered_from("city_visits") == SERVICE_START
    why = not_covered("city_visits", dt.date(2022, 1, 3))
    assert why.startswith("city_visits has no deliveries before 2026-10-01 (contract servicePeriodStart); "
                          "this run's delivery date is 2022-01-03.")
    assert f"set {HISTORY_FROM}=" in why
    assert not_covered("city_visits", SERVICE_START) is None


def test_the_setting_extends_every_feeds_covered_period_backwards(monkeypatch):
    monkeypatch.setenv(HISTORY_FROM, "2021-11-01")
    assert history_from() == dt.date(2021, 11, 1)
    for feed in ("city_visits", "costs", "mehilainen_fhir", "population"):
        assert covered_from(feed) == dt.date(2021, 11, 1), feed
        assert not_covered(feed, dt.date(2021, 11, 1)) is None
        assert not_covered(feed, dt.date(2024, 6, 1)) is None
    why = not_covered("costs", dt.date(2021, 10, 1))  # still before the history's first date
    assert why.startswith("costs has no deliveries before 2021-11-01 (TESOMA_HISTORY_FROM; the contract's "
                          "servicePeriodStart is 2026-10-01)")
    assert "set TESOMA_HISTORY_FROM to an earlier date" in why


def test_a_later_setting_never_narrows_the_contracts_period(monkeypatch):
    monkeypatch.setenv(HISTORY_FROM, "2027-03-01")
    assert covered_from("city_visits") == SERVICE_START
    assert not_covered("city_visits", dt.date(2026, 12, 1)) is None
    assert "(contract servicePeriodStart)" in not_covered("city_visits", dt.date(2026, 9, 30))


@pytest.mark.parametrize("value", ["2021-13-01", "November 2021", "2021/11/01"])
def test_a_setting_that_is_not_a_date_says_what_to_give(monkeypatch, value):
    monkeypatch.setenv(HISTORY_FROM, value)
    with pytest.raises(ValueError, match=r"TESOMA_HISTORY_FROM=.* is not a date: give .* as YYYY-MM-DD"):
        not_covered("city_visits", dt.date(2022, 1, 1))


def test_blank_is_unset(monkeypatch):
    monkeypatch.setenv(HISTORY_FROM, "  ")
    assert history_from() is None and feed_config.covered_from("costs") == SERVICE_START
