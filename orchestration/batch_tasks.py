"""What a feed's history run (dags/history.py) does in Airflow: plan a month in batches, process each
batch, report every delivery.

- :func:`plan_month` — the run's first task: the month's delivery dates (``tesoma.steps.batches
  .delivery_dates``) cut into batches of :func:`batch_size` dates; the next task is mapped over them.
- :func:`run_batch` — one mapped task per batch: ``tesoma.steps.process_batch`` (land, ingest each
  delivery, one publish for the batch). It logs each delivery's row accounting and, first,
  ``REJECTED <delivery>: <rule>: <message>`` for each rejection; then it FAILS, without retries, when a
  delivery was rejected (the others are published by then), so the grid shows which batch to look at.
- :func:`announce` — after the batches: the month's deliveries this run published, as the partitions
  (``<partner>/<YYYY-MM-DD>``) the DAG's asset events carry in their extra, so that the ``catalog`` DAG
  refreshes once for a burst of history runs; nothing published, no event (the task is skipped).
- :func:`report_month` — the run's last task: the accounting of every delivery of the month, with the
  rejections first, in its log and the run's note; fails the run when anything was rejected or a batch
  failed.

Where batches run: the Airflow pool :func:`batch_pool` (``TESOMA_BATCH_POOL``; the stacks create
``tesoma_batches`` sized to the machine). Only ids, rule names and counts are logged or written.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

POOL = "tesoma_batches"
"""The pool a deployment creates for history batches: as many slots as batches the machine runs at once."""


def batch_pool() -> str:
    """The pool of the batch tasks: ``TESOMA_BATCH_POOL``, else Airflow's ``default_pool``.

    A task in a pool that does not exist is never scheduled, and a DAG file cannot look into the metadata
    database to check: so the DAGs use :data:`POOL` only where the environment says it was created."""
    return os.environ.get("TESOMA_BATCH_POOL") or "default_pool"


def batch_size() -> int:
    """Delivery dates per batch (:func:`tesoma.steps.batches.batch_size`: ``TESOMA_BATCH_DATES`` or the default)."""
    from tesoma.steps.batches import batch_size as configured

    return configured()


def month_of(context: Any) -> dt.date:
    """The month a history run processes (its 1st day): the start of its data interval, Helsinki time."""
    from zoneinfo import ZoneInfo

    from tesoma.config import TIMEZONE

    moment = context.get("data_interval_start") or context.get("logical_date") or context["dag_run"].run_after
    return moment.astimezone(ZoneInfo(TIMEZONE)).date().replace(day=1)


RANGE_KEYS = ("from", "to")
"""The run's configuration (``dag_run.conf``) may limit it to a range of delivery dates: ``{"from":
"YYYY-MM-DD", "to": "YYYY-MM-DD"}`` (both included). ``tesoma backfill`` passes its range so that a first or
last month the range covers only in part processes only the range's dates."""


def range_of(context: Any) -> tuple[dt.date, dt.date] | None:
    """The delivery-date range of the run's configuration (:data:`RANGE_KEYS`), or None (the whole month)."""
    dag_run = context.get("dag_run")
    conf = (getattr(dag_run, "conf", None) if dag_run is not None else None) or context.get("params") or {}
    first, last = conf.get("from"), conf.get("to")
    if not first and not last:
        return None
    try:
        return (dt.date.fromisoformat(first) if first else dt.date.min,
                dt.date.fromisoformat(last) if last else dt.date.max)
    except (TypeError, ValueError):
        raise ValueError(f"the run's configuration {{'from': {first!r}, 'to': {last!r}}} is not a range of "
                         "delivery dates: give YYYY-MM-DD for either or both, or no configuration for the "
                         "whole month") from None


def plan_month(feed: str, month: dt.date, within: tuple[dt.date, dt.date] | None = None) -> list[list[str]]:
    """The month's delivery dates (ISO; only those ``within`` a range, when given) in batches; an empty
    list (no mapped task) for a month without any."""
    from tesoma.steps.batches import batches_of, delivery_dates

    dates = delivery_dates(feed, month, within=within)
    batches = batches_of(dates, batch_size())
    limited = f" (range {within[0]} … {within[1]})" if within else ""
    log.info("%s %s%s: %d delivery date(s) in %d batch(es) of up to %d", feed, f"{month:%Y-%m}", limited,
             len(dates), len(batches), batch_size())
    return batches


def announce(feed: str, batches: list[list[str]], since: dt.datetime | None) -> list[str]:
    """The partitions (``<partner>/<YYYY-MM-DD>``, sorted) of the planned dates' deliveries published since
    ``since`` (the run's start; None: any time): what the history DAG's asset events carry, so that the
    ``catalog`` DAG (a plain asset schedule: a burst of events makes one or two runs) refreshes after it.

    From the ledger, not from the batches' results: a batch with a rejected delivery fails its task, but
    it published the others, and the catalog must see them."""
    import sqlalchemy as sa

    from tesoma.config import settings
    from tesoma.feed_config import partition_key
    from warehouse.ledger import Ledger, deliveries

    dates = sorted({dt.date.fromisoformat(d) for batch in batches or [] for d in batch})
    if not dates:
        return []
    query = sa.select(deliveries.c.partner, deliveries.c.delivery_date).where(
        deliveries.c.feed == feed, deliveries.c.delivery_date.in_(dates), deliveries.c.state == "published")
    if since is not None:
        query = query.where(deliveries.c.updated_at >= since)
    ledger = Ledger(settings().ledger_url)
    try:
        with ledger.engine.connect() as conn:
            partitions = sorted({partition_key(partner, day) for partner, day in conn.execute(query)})
    finally:
        ledger.engine.dispose()
    log.info("%s: %d partition(s) published by this run%s", feed, len(partitions),
             ": " + ", ".join(partitions[:10]) + (" …" if len(partitions) > 10 else "") if partitions else "")
    return partitions


def run_batch(feed: str, partitions: list[str], final_attempt: bool = True) -> dict:
    """Process one batch; log its accounting; fail (no retry) when one of its deliveries was rejected.

    Before the task's last try, a failure of ours fails the task so that Airflow retries the batch; on the
    last, it rejects the delivery it happened in (``internal_error``), as the daily ``ingest`` does."""
    from airflow.sdk.exceptions import AirflowFailException

    from orchestration.delivery_tasks import operator_problems_fail_at_once, rejection_line
    from tesoma import steps

    with operator_problems_fail_at_once():
        result = steps.process_batch(feed, partitions, final_attempt=final_attempt)
    rejected = [r for r in result["deliveries"] if r["state"] == "rejected"]
    for r in rejected:
        log.error("%s", rejection_line(r["delivery_id"], r.get("reason") or "?", r.get("message")))
    log.info("%s: %s, peak memory %.0f MiB\n%s", ", ".join(partitions),
             _counts_line(result["counts"], result["seconds"]), result["peak_rss_mib"], _table(result["deliveries"]))
    if rejected:
        raise AirflowFailException(f"{len(rejected)} of {len(result['deliveries'])} delivery(ies) rejected (the "
                                   "others are published): " + "; ".join(r["delivery_id"] for r in rejected))
    return {k: result[k] for k in ("feed", "partitions", "counts", "warehouse_state", "seconds", "peak_rss_mib")}


def _counts_line(counts: dict, seconds: float) -> str:
    shown = ("deliveries", "published", "superseded", "rejected", "already_done", "rows_read", "rows_published",
             "rows_quarantined")
    return ", ".join(f"{k.replace('_', ' ')} {counts.get(k, 0)}" for k in shown) + f" in {seconds:.1f} s"


def _table(deliveries: list[dict]) -> str:
    from orchestration.delivery_tasks import table

    return table([{**r, "quarantined_by_reason": {}} for r in deliveries])


def report_month(feed: str, month: dt.date, batches: list[list[str]], context: Any) -> list[dict]:
    """The run's last task: every delivery of the month's planned dates from the ledger, rejections first,
    in the log and the run's note; fails when a delivery was rejected or a batch task failed."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from orchestration.delivery_tasks import accounting, rejection_line, table
    from orchestration.run_notes import set_note
    from tesoma.config import settings
    from warehouse import states
    from warehouse.ledger import Ledger

    ti = context["ti"]
    ledger = Ledger(settings().ledger_url)
    dates = sorted({dt.date.fromisoformat(d) for batch in batches or [] for d in batch})
    rows = accounting(_delivery_ids(ledger, feed, dates))
    failed = ti.get_ti_count(dag_id=ti.dag_id, run_ids=[ti.run_id], states=["failed", "upstream_failed"])
    by_state: dict[str, int] = {}
    for r in rows:
        by_state[r["state"]] = by_state.get(r["state"], 0) + 1
    head = (f"**{feed}, {month:%Y-%m}**: {len(dates)} delivery date(s) in {len(batches or [])} batch(es), "
            f"{len(rows)} delivery(ies): " + (", ".join(f"{n} {s}" for s, n in sorted(by_state.items())) or "none"))
    if by_state.get("published"):
        head += f"; warehouse state {states.head(ledger.engine).state_id}"
    lines = [rejection_line(r["delivery_id"], r["reason"] or "?") for r in rows if r["state"] == "rejected"]
    lines += [f"NOT {'INGESTED' if r['state'] == 'landed' else 'PUBLISHED'} {r['delivery_id']}: its batch failed "
              "(see the batch task's log)" for r in rows if r["state"] in ("landed", "staged")]
    for line in lines:
        log.error("%s", line)
    if rows:
        log.info("row accounting:\n%s", table(rows))
    if rows or failed:
        set_note(ti.dag_id, ti.run_id, "\n\n".join([head, *lines, table(rows)] if rows else [head, *lines]))
    if lines or failed:
        raise AirflowFailException(f"{len(lines)} delivery(ies) not published, {failed} task(s) failed: "
                                   + ("; ".join(lines[:5]) or "see the grid") + (" …" if len(lines) > 5 else ""))
    if not rows:
        raise AirflowSkipException(f"nothing was delivered for {feed} in {month:%Y-%m}")
    return [{k: r[k] for k in ("delivery_id", "state", "rows_read", "rows_published", "rows_quarantined")}
            for r in rows]


def _delivery_ids(ledger: Any, feed: str, dates: list[dt.date]) -> list[str]:
    """The feed's deliveries of these dates, in one query (a month is ~30 dates), in the order of
    ``Ledger.for_date`` date by date: partner, sequence, landing time."""
    import sqlalchemy as sa

    from warehouse.ledger import deliveries

    if not dates:
        return []
    d = deliveries.c
    query = (sa.select(d.delivery_id).where(d.feed == feed, d.delivery_date.in_(dates))
             .order_by(d.delivery_date, d.partner, d.sequence, d.landed_at))
    with ledger.engine.connect() as conn:
        return list(conn.execute(query).scalars())
