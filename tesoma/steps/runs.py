"""Whole runs without a scheduler: a feed's date, every landed date, a range of dates in batches, everything
again (reprocess)."""

from __future__ import annotations

import datetime as dt
import logging

from tesoma.config import Settings
from tesoma.feeds import connector_for
from tesoma.steps import landing
from tesoma.steps.context import context as _context
from tesoma.steps.ingestion import ingest
from tesoma.steps.publishing import publish_in_order
from tesoma.steps.upkeep import refresh_catalog

log = logging.getLogger(__name__)


def process_date(feed: str, delivery_date: dt.date, s: Settings | None = None, pull: bool = False) -> list[dict]:
    """land (or pull) → ingest → publish every delivery of a feed for one date (the DAG, without Airflow)."""
    ids = landing.pull(feed, delivery_date, s) if pull else landing.land(feed, delivery_date, s)
    results = {d: ingest(d, s) for d in ids}
    for published in publish_in_order(ids, s):
        results[published["delivery_id"]].update(published)
    return list(results.values())


def process_all(feed: str, s: Settings | None = None) -> list[dict]:
    """Process every date that has a delivery in landing for ``feed`` (the demo's catch-up, no Airflow)."""
    s, layout, _ = _context(s)
    dates = sorted({f.delivery_date for f in connector_for(feed).discover_all(layout.landing)})
    results = []
    for day in dates:
        results += process_date(feed, day, s)
    return results


def process_range(feeds: list[str], first: dt.date, last: dt.date, s: Settings | None = None,
                  progress=None, refresh: bool = True) -> dict:
    """Every delivery of ``feeds`` with a delivery date from ``first`` to ``last`` (both included), in one
    process without a scheduler: what the feeds' history DAGs do (dags/history.py), month by month, each
    month's delivery dates in batches through :func:`tesoma.steps.process_batch` (one warehouse commit per
    batch), then one catalog refresh. Deliveries already published or superseded are skipped, so running it
    again changes nothing. ``progress`` (e.g. ``print``) gets a line per feed and month; ``refresh=False``
    leaves the catalog refresh to the caller.

    Returns the counts over every batch (``deliveries``, ``published``, ``rejected`` …), ``batches`` and
    ``seconds`` (processing; the catalog refresh is ``catalog_seconds``).
    """
    import time

    from scorecard.months import months_between
    from tesoma.steps.batches import batch_size, batches_of, delivery_dates, process_batch

    size = batch_size()
    started = time.perf_counter()
    totals: dict[str, int] = {"batches": 0}
    for feed in feeds:
        for month in months_between(first, last):
            done_before = totals.get("deliveries", 0)
            for batch in batches_of(delivery_dates(feed, month, s, within=(first, last)), size):
                result = process_batch(feed, batch, s)
                totals["batches"] += 1
                for key, value in result["counts"].items():
                    totals[key] = totals.get(key, 0) + value
            if progress is not None and totals.get("deliveries", 0) > done_before:
                elapsed = time.perf_counter() - started
                progress(f"{feed} {month:%Y-%m}: {totals['deliveries'] - done_before} delivery(ies); "
                         f"{totals['deliveries']} in {elapsed:.1f} s ({totals['deliveries'] / elapsed:.2f}/s)")
    processed = time.perf_counter() - started
    if refresh:
        refresh_catalog(s)
    return {**totals, "seconds": round(processed, 3),
            "catalog_seconds": round(time.perf_counter() - started - processed, 3)}


def reprocess(feed: str | None = None, s: Settings | None = None) -> dict:
    """Ingest and publish again every delivery whose raw archive still exists (e.g. after a key
    rotation or a fix), oldest first. Deliveries whose raw copy was purged are listed, not touched."""
    s, layout, ledger = _context(s)
    done, purged = 0, []
    by_date: dict[tuple[str, dt.date], list[str]] = {}
    for d in ledger.all(feed):
        if not (layout.root / d.raw_path).exists():
            purged.append(d.delivery_id)
            continue
        ingest(d.delivery_id, s)
        by_date.setdefault((d.feed, d.delivery_date), []).append(d.delivery_id)
        done += 1
    for ids in by_date.values():
        publish_in_order(ids, s)
    refresh_catalog(s)
    log.info("reprocessed %d deliveries; %d without a raw copy (purged) were left as they are", done, len(purged))
    return {"reprocessed": done, "not_reprocessable": len(purged)}

