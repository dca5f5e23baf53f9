"""Months of a history backfill to run again: a month that has a run, but delivery dates of the range that no
run processed.

Airflow's backfill with ``reprocess_behavior`` ``none`` creates a run for each month without one and leaves
the others alone. A history run processes its month only within its configuration's range (dags/history.py),
so a month backfilled in part before (``--from 2022-01-15``, then ``--from 2022-01-01``), or whose files
arrived after its run, keeps dates no run will process. This module finds those months from the ledger
(:meth:`~tesoma.backfill.ledger_view.RangeLedger.undone`) and turns the feed's backfill into one that runs
them again (``completed``): Airflow clears their runs and gives them the new range as their configuration
(airflow/models/backfill.py, ``_handle_clear_run``: a backfill's ``dag_run_conf`` replaces the cleared run's
``conf``), and the runs skip the deliveries already done (tesoma/steps/batches.py, ``process_batch``).

Airflow allows one backfill per DAG at a time, so that backfill spans the first to the last month to run: a
month in between that is done is run too — cheaply, its deliveries are skipped — and the command says so.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from tesoma.backfill.airflow_api import Airflow, Backfill, plan
from tesoma.backfill.dates import Window, _helsinki, _month_run
from tesoma.backfill.ledger_view import RangeLedger
from tesoma.backfill.terms import FINISHED


@dataclass(frozen=True)
class Month:
    """A month of a history window: its first day, the state of its run (None: no run yet) and how many of
    its delivery dates in the range are not done yet."""

    start: dt.date
    run_state: str | None
    undone: int

    @property
    def again(self) -> bool:
        """It has a finished run, yet dates to process: a backfill must run it again."""
        return self.run_state in FINISHED and self.undone > 0

    def needs_run(self, rerun: str) -> bool:
        """A backfill with ``--rerun`` ``rerun`` must run it: no run yet, dates to process, or a failed run
        that ``--rerun failed`` runs again."""
        return self.run_state is None or self.again or (rerun == "failed" and self.run_state == "failed")


def months(w: Window, runs: list[dict], undone: list[dt.date]) -> list[Month]:
    """The window's months, oldest first, with the state of their run (``runs``: Airflow's DAG runs of the
    window) and their count of ``undone`` dates."""
    states = {_month_of(run["logical_date"]): run["state"] for run in runs}
    counts = Counter(day.replace(day=1) for day in undone)
    return [Month(m, states.get(m), counts[m]) for m in sorted({day.replace(day=1) for day in w.dates})]


def _month_of(logical_date: str) -> dt.date:
    """The month of a history run: its logical date is the month's start, Helsinki time."""
    moment = dt.datetime.fromisoformat(logical_date.replace("Z", "+00:00"))
    return moment.astimezone(_helsinki()).date().replace(day=1)


def span(w: Window, found: list[Month], rerun: str) -> tuple[Window, list[str]] | None:
    """The runs of one backfill that runs ``w``'s months again where dates are undone (and creates those
    without a run), and a line per month saying why it runs again; None when no month with a run has dates to
    process (Airflow's own choice, ``rerun``, is then right)."""
    if not any(m.again for m in found):
        return None
    needed = [m for m in found if m.needs_run(rerun)]
    first, last = needed[0].start, needed[-1].start
    lines = []
    for m in found:
        if m.again:
            lines.append(f"{w.dag_id} {m.start:%Y-%m}: {m.undone} delivery date(s) not yet processed though the "
                         f"month has a run ({m.run_state}); running it again with the range as its configuration")
        elif m.undone and m.run_state is not None and m.run_state not in FINISHED:
            lines.append(f"{w.dag_id} {m.start:%Y-%m}: {m.undone} delivery date(s) not yet processed; its run is "
                         f"{m.run_state}, so it is left to finish (run this command again after it)")
        elif first < m.start < last and not m.needs_run(rerun) and m.run_state in FINISHED:
            lines.append(f"{w.dag_id} {m.start:%Y-%m}: done, but run again too: it lies between months to run and "
                         "Airflow allows one backfill per DAG at a time (its deliveries done are skipped)")
    return replace(w, first_run=_month_run(first), last_run=_month_run(last)), lines


def revise(airflow: Airflow, planned: list[Backfill], ledger: RangeLedger, rerun: str,
           echo: Callable[[str], None]) -> list[Backfill]:
    """``planned`` (Airflow's dry run with ``rerun``), where a history feed has months with a run and dates not
    yet done replaced by a backfill that runs them again (:func:`span`, reprocessing ``completed``), its
    size from Airflow's dry run of that. ``--rerun completed`` runs every month again already."""
    revised = []
    for b in planned:
        w = b.window
        found = months(w, airflow.all_runs(w), ledger.undone(w)) if w.history and rerun != "completed" else []
        spanned = span(w, found, rerun) if found else None
        if spanned is None:
            revised.append(b)
            continue
        runs, lines = spanned
        for line in lines:
            echo(line)
        to_run = plan(airflow, [runs], "completed")[0].to_run
        revised.append(Backfill(w, to_run, reprocess="completed", span=runs,
                                rerun_months=tuple(f"{m.start:%Y-%m}" for m in found if m.again)))
    return revised
