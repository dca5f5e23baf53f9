"""The catalog waits while history is being backfilled: a backfill is one burst of publications.

A five-year backfill publishes for half an hour without a pause. Every ``announce`` of a history run emits
asset events, and the ``catalog`` DAG (one run at a time, events coalesced) would otherwise refresh back to
back for the whole backfill: views, quality page, Data Docs and audit again and again, each for a warehouse
that is out of date a minute later, on the cores the backfill needs. So the catalog's first task,
``wait_for_backfills``, holds the refresh while any ``<feed>_history`` run is queued or running, and lets it
go when they have all ended — one refresh for the whole burst, plus at most one for what was announced while
it ran. The wait is bounded: after :func:`most_wait` seconds (``TESOMA_CATALOG_MAX_WAIT_SECONDS``, default
20 minutes) the catalog refreshes anyway, so during a long backfill analysts see it move forward at that
pace. Daily runs are never held: with no history run active the first look lets the refresh go.

The sensor runs in ``reschedule`` mode: between looks (every :func:`poke_seconds`) it holds no worker slot.
"""

from __future__ import annotations

import datetime as dt
import os

ACTIVE_STATES = ("queued", "running")
"""States of a history run that hold the catalog back."""

DEFAULT_POKE_SECONDS = 15
"""How often the sensor looks again while a backfill runs: the catalog starts at most this late after it."""

DEFAULT_MOST_WAIT_SECONDS = 20 * 60


def poke_seconds() -> float:
    """Seconds between the sensor's looks: ``TESOMA_CATALOG_POKE_SECONDS`` or 15 (tests use a few)."""
    return _seconds("TESOMA_CATALOG_POKE_SECONDS", DEFAULT_POKE_SECONDS, "between looks for running backfills",
                    least=1)


def most_wait() -> float:
    """Seconds a catalog run waits for backfills at most: ``TESOMA_CATALOG_MAX_WAIT_SECONDS`` or 20 min."""
    return _seconds("TESOMA_CATALOG_MAX_WAIT_SECONDS", DEFAULT_MOST_WAIT_SECONDS,
                    "a catalog run may wait for backfills to end (0: never wait)", least=0)


def _seconds(name: str, default: float, meaning: str, least: float) -> float:
    value = os.environ.get(name)
    if not value:
        return float(default)
    try:
        seconds = float(value)
    except ValueError:
        seconds = least - 1
    if seconds < least:
        raise ValueError(f"{name}={value!r}: give the seconds {meaning}, at least {least:g}")
    return seconds


def history_dag_ids() -> list[str]:
    """The history DAGs whose runs hold the catalog back (one per feed with a contract)."""
    import contracts
    from tesoma.feed_config import load

    available = contracts.available()
    return sorted(f"{run.feed}_history" for run in load().values() if run.feed in available)


def verdict(active: dict[str, int], waited_seconds: float, most: float) -> tuple[bool, str]:
    """Whether the catalog may refresh now, and why, given the active history runs per DAG and how long this
    catalog run has waited. Pure: the sensor's whole decision."""
    busy = {dag_id: n for dag_id, n in sorted(active.items()) if n}
    if not busy:
        return True, "no backfill is running: refreshing now"
    runs = ", ".join(f"{dag_id} {n}" for dag_id, n in busy.items())
    if waited_seconds >= most:
        return True, (f"backfill still running ({runs}), but this run has waited {waited_seconds:.0f} s "
                      f"(at most {most:.0f} s): refreshing now, the next run catches up")
    return False, (f"backfill running ({runs} active run(s)): the catalog refreshes when it ends "
                   f"(or after {most - waited_seconds:.0f} s more)")


def backfills_settled(context) -> bool:
    """The sensor's poke: count the active history runs through Airflow's task API, decide, say why."""
    ti = context["ti"]
    active = {dag_id: ti.get_dr_count(dag_id=dag_id, states=list(ACTIVE_STATES)) for dag_id in history_dag_ids()}
    started = context["dag_run"].start_date or dt.datetime.now(dt.UTC)
    waited = (dt.datetime.now(dt.UTC) - started.astimezone(dt.UTC)).total_seconds()
    go, why = verdict(active, waited, most_wait())
    print(why)
    return go
