"""``tesoma backfill`` itself: plan, create, follow, summarise (see the package's docstring)."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from typing import TextIO

from tesoma.backfill.airflow_api import Airflow, Backfill, SQLiteRefused, complete, plan, start
from tesoma.backfill.dates import Window, feeds, use_history, window
from tesoma.backfill.ledger_view import RangeLedger
from tesoma.backfill.progress import Progress, progress_line
from tesoma.backfill.reruns import revise
from tesoma.backfill.summary import Summary, explain_failures, summarise
from tesoma.backfill.terms import (
    DEFAULT_URL,
    EXIT_FAILED,
    EXIT_OK,
    FINISHED,
    PASSWORD_VARIABLE,
    RERUN,
    URL_VARIABLE,
    USER_VARIABLE,
    BackfillError,
)

# -- the command ---------------------------------------------------------------------------------------------

def sqlite_explanation(detail: str, windows: list[Window], created: list[Backfill]) -> list[str]:
    """What to tell the operator when Airflow refuses backfills on SQLite, and what to run instead."""
    lines = [f"Airflow refused the backfill: {detail}",
             "This Airflow keeps its metadata in SQLite (`make airflow`, `airflow standalone`): it cannot create",
             "backfills while its scheduler writes. Backfill on PostgreSQL instead:",
             "  - the production stack (docker-compose.yml, docs/operations.md): `docker-compose up -d`, then",
             f"    `docker-compose exec airflow-worker tesoma backfill {_range_args(windows)}`",
             "    (with TESOMA_AIRFLOW_URL=http://airflow-apiserver:8080 and the UI user's credentials in",
             f"    {USER_VARIABLE} / {PASSWORD_VARIABLE});",
             "  - or, for a small range, without Airflow, one feed and date at a time:"]
    commands = [f"tesoma run --feed {w.feed} --date {d}" for w in windows for d in w.dates]
    lines += [f"      {c}" for c in commands[:8]]
    if len(commands) > 8:
        lines.append(f"      … ({len(commands) - 8} more: one per feed and delivery date)")
    if created:
        lines.append("Backfills created before the refusal keep running: "
                     + ", ".join(f"{b.window.dag_id} (id {b.backfill_id})" for b in created)
                     + " (cancel them in the UI, Browse ▸ Backfills, if unwanted)")
    return lines


def _range_args(windows: list[Window]) -> str:
    feeds_args = " ".join(f"--feed {w.feed}" for w in windows) if len(windows) < len(feeds()) else ""
    first = min(w.dates[0] for w in windows)
    last = max(w.dates[-1] for w in windows)
    return f"{feeds_args} --from {first} --to {last}".strip()


def run(selected: list[str] | None, first: dt.date, last: dt.date, *, url: str | None = None,
        rerun: str = "none", max_active_runs: int = 4, poll: float = 5.0, out: TextIO | None = None,
        err: TextIO | None = None, tty: bool | None = None, every: float = 10.0,
        ledger_url: str | None = None, daily: bool = False, history: bool = False) -> tuple[int, Summary]:
    """Backfill ``selected`` feeds (None: all) for the delivery dates ``first`` … ``last`` through their
    history DAGs or their daily DAGs (:func:`use_history`: ``daily``/``history`` force one); returns the exit
    status (0: every backfill complete and every failed run explained by a rejected or missing delivery;
    1: Airflow refused the backfill, e.g. on SQLite, or a run failed otherwise) and the summary."""
    from tesoma.config import settings

    out = out or sys.stdout
    err = err or sys.stderr
    began = time.monotonic()
    since = dt.datetime.now(dt.UTC)
    if first > last:
        raise BackfillError(f"--from {first} is after --to {last}: give the earlier date as --from")
    known = feeds()
    unknown = [f for f in selected or [] if f not in known]
    if unknown:
        raise BackfillError(f"unknown feed(s) {', '.join(unknown)}; known feeds: {', '.join(known)}")
    if rerun not in RERUN:
        raise BackfillError(f"--rerun {rerun!r}: say none, failed or completed")
    chosen = list(dict.fromkeys(selected)) if selected else known
    batched = use_history(first, last, daily, history)
    progress = Progress(out, tty, every)
    how = ("the history DAGs (<feed>_history: a run per month, batches of dates)" if batched
           else "the daily feed DAGs (a run per feed and delivery date)")
    why = "" if daily or history else (f": the range is {(last - first).days + 1} day(s); "
                                        f"{'--daily' if batched else '--history'} chooses the other")
    progress.echo(f"through {how}{why}")
    windows = []
    for feed in chosen:
        w = window(feed, first, last, batched)
        if w is None:
            progress.echo(f"{feed}: no delivery date of this {_cadence(feed)} feed between {first} and {last}; "
                          "skipped")
            continue
        if w.note:
            progress.echo(f"{feed}: {w.note}")
        windows.append(w)
    if not windows:
        raise BackfillError(f"none of {', '.join(chosen)} has a delivery date between {first} and {last}: "
                            "widen the range")
    airflow = Airflow(url or os.environ.get(URL_VARIABLE) or DEFAULT_URL, os.environ.get(USER_VARIABLE),
                      os.environ.get(PASSWORD_VARIABLE))
    airflow.login()
    ledger = RangeLedger(ledger_url or settings().ledger_url, windows)
    try:
        # Airflow's dry run, then the history months with a run whose dates are not all done yet (a range
        # that grew, a month backfilled in part): Airflow's "none" would skip them.
        planned = revise(airflow, plan(airflow, windows, RERUN[rerun]), ledger, rerun, progress.echo)
        if not any(b.to_run for b in planned):
            progress.echo(f"nothing to do: every date already ran ({sum(len(w.dates) for w in windows)} "
                          f"feed-date(s) of {len(windows)} feed(s) have their runs"
                          + ("; --rerun failed runs the failed ones again" if rerun == "none" else "") + ")")
            started: list[Backfill] = []
        else:
            try:
                started = start(airflow, planned, RERUN[rerun], max_active_runs, progress.echo, poll=poll)
            except SQLiteRefused as refused:
                for line in sqlite_explanation(refused.detail, windows, refused.created):
                    print(line, file=err)
                return EXIT_FAILED, Summary(seconds=time.monotonic() - began)
            follow(airflow, started, windows, ledger, progress, since, began, poll)
        summary = summarise(ledger, windows)
        summary.processed = ledger.tally(since).since_start
    finally:
        ledger.close()
    explain_failures(airflow, windows, summary)
    summary.seconds = time.monotonic() - began
    for line in summary.lines(windows):
        print(line, file=out)
    return (EXIT_FAILED if summary.unexplained else EXIT_OK), summary


def _cadence(feed: str) -> str:
    from tesoma.feed_config import load

    return load()[feed].cadence


def follow(airflow: Airflow, started: list[Backfill], windows: list[Window], ledger: RangeLedger,
           progress: Progress, since: dt.datetime, began: float, poll: float) -> None:
    """Show progress until every started backfill is complete."""
    active = [w for w in windows if any(b.window is w for b in started)]
    to_run = sum(b.to_run for b in started if not b.followed)
    runs_total = sum(airflow.run_count(w) for w in active)
    runs_started_with = sum(airflow.run_count(w, *FINISHED) for w in active)
    pending = list(started)
    while True:
        pending = [b for b in pending if not complete(airflow, b.backfill_id)]
        done = {w.feed: airflow.run_count(w, *FINISHED) for w in active}
        total = {w.feed: airflow.run_count(w) for w in active}
        # A backfill created here (all its runs lie in the window) is done when every run of the window has
        # finished: the scheduler marks the backfill complete only on a later pass, up to half a minute on.
        pending = [b for b in pending if b.followed or done[b.window.feed] < total[b.window.feed]]
        runs_done, runs_total = sum(done.values()), sum(total.values())
        line = progress_line(ledger.tally(since), runs_done, runs_total, runs_started_with, to_run,
                             time.monotonic() - began)
        progress.show(line, force=not pending)
        if not pending:
            progress.end()
            return
        time.sleep(poll)

