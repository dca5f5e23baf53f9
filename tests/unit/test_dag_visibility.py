"""What the operator sees of a feed run before any data is read: a date the feed does not cover is an error
that says so, on the run's first task, without retries; the yearly feed's covered year is not refused."""

from __future__ import annotations

import datetime as dt

import pytest
from airflow.sdk.exceptions import AirflowFailException

from orchestration.delivery_tasks import rejection_line, table
from tesoma.feed_config import not_covered
from tests.unit.test_delivery_sensor import context, drop, sensor


def test_a_date_before_the_contracts_service_period_is_refused_by_the_first_task(data_root):
    drop(data_root, "city", "city_visits", "city_visits_20260930.csv")  # even with a file there
    with pytest.raises(AirflowFailException) as refused:
        sensor().execute(context(dt.date(2026, 9, 30)))
    assert str(refused.value).startswith("city_visits has no deliveries before 2026-10-01 (contract "
                                         "servicePeriodStart); this run's delivery date is 2026-09-30.")
    assert "TESOMA_HISTORY_FROM=" in str(refused.value)  # and how to load older history on purpose


def test_covered_dates_are_not_refused():
    assert not_covered("city_visits", dt.date(2026, 10, 1)) is None
    assert not_covered("population", dt.date(2026, 1, 1)) is None  # the yearly run of 15 January 2026
    assert "population has no deliveries before 2026-01-01" in not_covered("population", dt.date(2025, 1, 1))


def test_row_accounting_reads_as_a_table_and_a_rejection_as_one_line():
    rows = [{"delivery_id": "city_visits-city-20261002-1-abc", "partner": "city", "state": "published",
             "rows_read": 10, "rows_published": 8, "rows_quarantined": 2,
             "quarantined_by_reason": {"henkilotunnus: not_an_identity_code": 2}, "reason": None}]
    assert table(rows).splitlines()[-1] == ("| city_visits-city-20261002-1-abc | published | 10 | 8 | 2 | "
                                           "henkilotunnus: not_an_identity_code ×2 |")
    assert rejection_line("d1", "encoding", "The file is UTF-16 encoded.") == \
        "REJECTED d1: encoding: The file is UTF-16 encoded."


def test_a_key_problem_fails_the_task_at_once_with_its_advice():
    """Retrying cannot find a pseudonym key: the task fails without retries, the advice in one line."""
    from airflow.sdk.exceptions import AirflowFailException

    from orchestration.delivery_tasks import operator_problems_fail_at_once
    from transforms.pseudonymise import KeyProblem

    refused = pytest.raises(AirflowFailException, match="^pseudonym key: No pseudonym key. Set TESOMA_PSEUDONYM_KEY")
    with refused, operator_problems_fail_at_once():
        raise KeyProblem("No pseudonym key. Set TESOMA_PSEUDONYM_KEY (32+ bytes) …")
