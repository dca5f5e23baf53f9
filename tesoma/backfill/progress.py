"""Progress while the backfill runs: deliveries done of the total, rate, time left."""

from __future__ import annotations

import time
from typing import TextIO

from tesoma.backfill.ledger_view import Tally

# -- progress ------------------------------------------------------------------------------------------------

class Progress:
    """One line rewritten in place on a terminal; on anything else a plain line when the figures changed,
    at most every ``every`` seconds (a log stays readable)."""

    def __init__(self, out: TextIO, tty: bool | None = None, every: float = 10.0):
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.every = every
        self._last_text = ""
        self._last_time = -float("inf")
        self._width = 0

    def show(self, text: str, *, force: bool = False) -> None:
        if self.tty:
            self.out.write("\r" + text.ljust(self._width))
            self._width = len(text)
            self.out.flush()
            return
        now = time.monotonic()
        if text != self._last_text and (force or now - self._last_time >= self.every):
            print(text, file=self.out, flush=True)
            self._last_text, self._last_time = text, now

    def echo(self, line: str) -> None:
        """A line of its own (a note), above the progress line."""
        if self.tty and self._width:
            self.out.write("\r" + " " * self._width + "\r")
            self._width = 0
        print(line, file=self.out, flush=True)

    def end(self) -> None:
        if self.tty and self._width:
            self.out.write("\n")
            self._width = 0
        self.out.flush()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def progress_line(tally: Tally, runs_done: int, runs_total: int, runs_started_with: int, to_run: int,
                  elapsed: float) -> str:
    """``deliveries 24/90 · runs 8/30 · 1.6 deliveries/s · about 41 s left · 15 s``.

    The rate counts the deliveries this command saw finish; the time left is the runs still to finish at
    the pace of the runs finished so far (a run is Airflow's unit of work, one feed and delivery date)."""
    rate = tally.since_start / elapsed if elapsed > 0 else 0.0
    remaining = max(0, runs_total - runs_done)
    finished_here = max(0, to_run - remaining) if to_run else max(0, runs_done - runs_started_with)
    if remaining == 0:
        left = "all runs finished"
    elif finished_here:
        left = f"about {_duration(remaining * elapsed / finished_here)} left"
    else:
        left = "time left: after the first run"
    return (f"deliveries {tally.done}/{tally.total} · runs {runs_done}/{runs_total} · {rate:.1f} deliveries/s · "
            f"{left} · {_duration(elapsed)}")


