"""The catalog's current state and state as of a date (warehouse.catalog._versions): the latest delivered
version of each event, exactly as one window over every version orders them — although only the events
delivered more than once now go through that window."""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import pytest

from warehouse.catalog import _LATEST, _versions

REFERENCE = ("select * exclude (_version) from (select *, " + _LATEST.format(key="event_id") +
             " as _version from service_event {where}) where _version = 1")


def _table(rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create table service_event (event_id varchar, source_updated_at timestamp, "
                "delivery_date date, delivery_id varchar, value integer)")
    con.executemany("insert into service_event values (?, ?, ?, ?, ?)", rows)
    _versions(con, "service_event", "event_id")
    return con


def _rows(con, sql: str, *params) -> list[tuple]:
    return sorted(con.execute(sql, list(params)).fetchall(), key=repr)


T = dt.datetime(2026, 10, 1, 8)
D = dt.date(2026, 10, 1)
LATER = D + dt.timedelta(days=1)


@pytest.mark.parametrize(("name", "versions", "current_value"), [
    ("one version", [("e1", T, D, "d1", 1)], 1),
    ("the later source update wins", [("e1", T, D, "d1", 1), ("e1", T + dt.timedelta(hours=1), D, "d2", 2)], 2),
    ("the later source update wins even when delivered earlier",
     [("e1", T + dt.timedelta(hours=1), D, "d1", 1), ("e1", T, D + dt.timedelta(days=3), "d2", 2)], 1),
    ("same update time: the later delivery date", [("e1", T, LATER, "d1", 1), ("e1", T, D, "d2", 2)], 1),
    ("same update time and date: the greater delivery id", [("e1", T, D, "d2", 1), ("e1", T, D, "d1", 2)], 1),
    ("an unknown update time loses to a known one", [("e1", None, LATER, "d9", 1), ("e1", T, D, "d1", 2)], 2),
])
def test_the_latest_version_of_an_event_is_current(name, versions, current_value):
    con = _table([*versions, ("other", T, D, "d1", 99)])
    assert _rows(con, "select event_id, value from service_event_current") == [("e1", current_value), ("other", 99)]


def test_current_and_as_of_equal_one_window_over_every_version():
    """Many events, some delivered up to four times, with ties in the update time and the delivery date (a
    delivery holds one version of an event, so the delivery id breaks every tie)."""
    rng = random.Random(14)
    rows = []
    for event in range(400):
        for version in range(rng.choice([1, 1, 1, 2, 3, 4])):
            rows.append((f"e{event:04d}", rng.choice([None, T, T + dt.timedelta(minutes=rng.randrange(3))]),
                         D + dt.timedelta(days=rng.randrange(4)), f"d{rng.randrange(3)}-{version}",
                         event * 10 + version))
    con = _table(rows)
    assert _rows(con, "select * from service_event_current") == _rows(con, REFERENCE.format(where=""))
    for day in range(5):
        as_of = D + dt.timedelta(days=day - 1)
        assert (_rows(con, "select * from service_event_as_of(?)", as_of)
                == _rows(con, REFERENCE.format(where="where delivery_date <= ?"), as_of)), as_of
    # every event once, none lost
    counts = con.execute("select count(*), count(distinct event_id) from service_event_current").fetchall()
    assert counts == [(400, 400)]
