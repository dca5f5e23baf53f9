"""The summary at the end, from the ledger: published, rejected with reasons, superseded, missing."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from tesoma.backfill.airflow_api import Airflow
from tesoma.backfill.dates import Window, _helsinki
from tesoma.backfill.ledger_view import RangeLedger
from tesoma.backfill.progress import _duration

# -- the summary ---------------------------------------------------------------------------------------------

@dataclass
class Summary:
    """The range's deliveries as the ledger has them after the backfill, and the DAG runs' ends."""

    published: int = 0
    rows_published: int = 0
    with_quarantine: int = 0
    rows_quarantined: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (delivery id, reason)
    rejected_on: set[tuple[str, dt.date]] = field(default_factory=set)  # (feed, delivery date) of a rejection
    superseded: int = 0
    unfinished: int = 0  # landed or staged: a run still open, or stopped mid-way
    missing: dict[str, list[str]] = field(default_factory=dict)  # feed -> "<date>" or "<date> <partner>"
    runs: Counter = field(default_factory=Counter)  # DAG-run state -> count
    unexplained: list[str] = field(default_factory=list)  # failed runs without a rejected or missing delivery
    seconds: float = 0.0
    processed: int = 0  # deliveries that finished during the command

    def lines(self, windows: list[Window]) -> list[str]:
        out = [f"published: {self.published} deliveries ({self.rows_published} rows), "
               f"{self.with_quarantine} of them with quarantined rows ({self.rows_quarantined} rows)",
               f"rejected: {len(self.rejected)}"]
        out += [f"  {delivery_id}: {reason}" for delivery_id, reason in self.rejected]
        out.append(f"superseded: {self.superseded} (replaced by a corrected re-delivery)")
        if self.unfinished:
            out.append(f"not finished: {self.unfinished} (landed or staged; `tesoma status --all`)")
        skipping = {w.feed for w in windows if _skips_missing(w.feed)}
        out.append(f"missing: {sum(map(len, self.missing.values()))}")
        for feed, items in self.missing.items():
            shown = ", ".join(items[:6]) + (f", … ({len(items) - 6} more)" if len(items) > 6 else "")
            normal = " (normal for this feed: a day without a delivery is skipped)" if feed in skipping else ""
            out.append(f"  {feed}: {shown}{normal}")
        if self.runs:
            out.append("DAG runs: " + ", ".join(f"{n} {state}" for state, n in sorted(self.runs.items())))
        if self.unexplained:
            out.append(f"failed runs without a rejected or missing delivery ({len(self.unexplained)}; their task "
                       "logs in the Airflow UI say why): " + ", ".join(self.unexplained[:10]))
        rate = f", {self.processed / self.seconds:.2f} deliveries/s" if self.seconds and self.processed else ""
        out.append(f"wall time: {_duration(self.seconds)} ({self.processed} deliveries finished meanwhile{rate})")
        return out


def _skips_missing(feed: str) -> bool:
    from tesoma.feed_config import load

    return load()[feed].if_not_delivered == "skip"


def summarise(ledger: RangeLedger, windows: list[Window]) -> Summary:
    """Count the range's deliveries by state, and which feed, date (and partner) has no delivery at all.

    Missing: for a feed that expects every partner (``expect: all``) each partner and date without a
    delivery; for one where any partner is enough, each date without any."""
    import contracts
    from tesoma.feed_config import load

    s = Summary()
    seen: set[tuple[str, dt.date, str]] = set()
    for d in ledger.deliveries():
        seen.add((d.feed, d.delivery_date, d.partner))
        if d.state == "published":
            s.published += 1
            s.rows_published += d.rows_published or 0
            if d.rows_quarantined:
                s.with_quarantine += 1
                s.rows_quarantined += d.rows_quarantined
        elif d.state == "rejected":
            s.rejected.append((d.delivery_id, " ".join((d.reason or "(no reason recorded)").split())))
            s.rejected_on.add((d.feed, d.delivery_date))
        elif d.state == "superseded":
            s.superseded += 1
        else:
            s.unfinished += 1
    for w in windows:
        partners = contracts.load(w.feed).partners
        expect_all = load()[w.feed].expect == "all"
        items = []
        for day in w.dates:
            absent = [p for p in partners if (w.feed, day, p) not in seen]
            if expect_all:
                items += [f"{day} {p}" if len(partners) > 1 else str(day) for p in absent]
            elif len(absent) == len(partners):
                items.append(str(day))
        if items:
            s.missing[w.feed] = items
    return s


def explain_failures(airflow: Airflow, windows: list[Window], summary: Summary) -> None:
    """Count the windows' DAG runs by state; list the failed runs that no rejected or missing delivery of
    their feed and date explains (a rejected delivery fails its run on purpose, see dags/feeds.py), for a
    history run of its month (dags/history.py)."""
    from tesoma.schedule import delivery_date_for

    for w in windows:
        for state in ("success", "failed", "queued", "running"):
            n = airflow.run_count(w, state)
            if n:
                summary.runs[state] += n
        if not airflow.run_count(w, "failed"):
            continue
        missing = {dt.date.fromisoformat(m.split(" ")[0]) for m in summary.missing.get(w.feed, [])}
        explained = missing | {day for feed, day in summary.rejected_on if feed == w.feed}
        for run in airflow.all_runs(w, "failed"):
            logical = dt.datetime.fromisoformat(run["logical_date"].replace("Z", "+00:00"))
            if w.history:  # a history run's logical date is its month's start (Helsinki)
                month = logical.astimezone(_helsinki()).date().replace(day=1)
                covered = any(d.replace(day=1) == month for d in explained)
            else:
                covered = delivery_date_for(logical, w.cadence) in explained
            if not covered:
                summary.unexplained.append(run["dag_run_id"])


