"""Batches: many deliveries of a feed processed together, paying start-up and a warehouse commit once.

A backfill (five years is about 15,000 deliveries) cannot pay, per delivery, a task's start-up and a
commit of every table plus a new warehouse state. :func:`process_batch` takes a batch of one feed's
(partner, delivery date) partitions: it lands them and ingests each delivery exactly as the daily run does
(:func:`tesoma.steps.land`, :func:`tesoma.steps.ingest`: each delivery keeps its own ledger row, row
accounting, quarantine and quality results; a rejected one never stops the others), then publishes the
batch with :func:`publish_batch`: ONE commit per table and ONE new warehouse state for all of it.

:func:`publish_batch` keeps every guarantee of :func:`tesoma.steps.publish`, delivery by delivery:

- each delivery ends ``published``, ``superseded`` or ``rejected`` exactly as publishing them one by one
  in order (:func:`tesoma.steps.publish_in_order`) would leave it; for each partner and date the newest
  delivery (``warehouse.ledger.newest``) is the one in the tables, wherever its older ones are;
- readers see the whole batch at once or nothing of it: killed anywhere before the ledger transaction,
  readers stay on the previous state and the ledger says so; running it again completes it;
- publishing a batch again commits nothing and makes no new state.

The month of a feed's history run (dags/history.py) is split into batches by :func:`delivery_dates` and
:func:`batches_of`. Return values are ids and counts only (XCom and logs; no row data).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import resource
import time
from collections.abc import Iterable, Sequence

from tesoma.config import Settings
from tesoma.steps.context import context as _context

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 31
"""Delivery dates per batch in a history run: a whole month, so each history run is one batch task — one
start-up, one commit per table and the fewest Great Expectations runs (a county month of every feed through
Airflow: 23.3 s in batches of 31, 26.1–28.0 s of 16). A failed batch reruns its month; lower it
(``TESOMA_BATCH_DATES``) to spread a single month over more workers. Memory does not grow with it: a batch
holds at most 64 MiB of delivered files at once."""


def batch_size() -> int:
    """Delivery dates per batch: ``TESOMA_BATCH_DATES``, else :data:`DEFAULT_BATCH_SIZE` (the history DAGs'
    tasks and ``tesoma run --from … --to …`` alike)."""
    value = os.environ.get("TESOMA_BATCH_DATES")
    if not value:
        return DEFAULT_BATCH_SIZE
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"TESOMA_BATCH_DATES={value!r}: give a whole number of dates per batch, at least 1")
    return int(value)


DONE = ("published", "superseded")
"""Deliveries in these states are not ingested or published again by :func:`process_batch` (unless
``again``): a rerun of a finished backfill changes nothing and costs little."""


# --- publish ------------------------------------------------------------------------------------------------

def publish_batch(delivery_ids: Sequence[str], s: Settings | None = None) -> list[dict]:
    """Publish staged deliveries with one commit per table and one new warehouse state for them all.

    Returns one result per delivery, in the order given, as :func:`tesoma.steps.publish` returns it:
    ``state`` (published, superseded or rejected), ``rows_published``; a published one also ``partner``,
    ``delivery_date`` and ``warehouse_state``. Deliveries of several feeds may be mixed, as long as no two
    of them would replace the same partition of a table.
    """
    from tesoma.feeds import pipeline
    from warehouse import iceberg, states
    from warehouse.ledger import _delivery

    ids = list(dict.fromkeys(delivery_ids))
    if not ids:
        return []
    s, layout, ledger = _context(s)
    iceberg.refuse_old_layout(layout.root)
    holder = ids[0] if len(ids) == 1 else f"batch of {len(ids)}: {ids[0]} … {ids[-1]}"
    with states.Publishing(ledger.engine, holder) as session:
        batch = {d: _delivery(session.delivery(d)) for d in ids}
        siblings: dict[tuple, list] = {}
        for row in session.deliveries_of({(d.feed, d.partner, d.delivery_date) for d in batch.values()}):
            siblings.setdefault((row["feed"], row["partner"], row["delivery_date"]), []).append(_delivery(row))
        results, winners = _decide(session, layout, batch, siblings)
        snapshots = _commit(session, layout, _changes(layout, winners, pipeline))
        committed = [d.delivery_id for d in winners]
        state = session.advance(snapshots, _batch_name(committed))
        _record_published(session, winners, siblings, batch, results, state)
    if winners:
        log.info("published a batch of %d delivery(ies) into %s (warehouse state %s); %d superseded, %d rejected",
                 len(winners), ", ".join(sorted(snapshots)) or "no changed table", state.state_id,
                 sum(r["state"] == "superseded" for r in results.values()),
                 sum(r["state"] == "rejected" for r in results.values()))
    return [results[d] for d in ids]


def _decide(session, layout, batch: dict, siblings: dict) -> tuple[dict[str, dict], list]:
    """Each delivery's fate, as publishing them one by one would decide it: a rejected one's result (and the
    date's valid delivery to put back, if a correction rejected since had displaced it), a superseded
    one's (recorded now), and the winners to commit, each once."""
    from tesoma.steps.publishing import can_put_back
    from warehouse.ledger import VALIDATED, newest, precedence

    results: dict[str, dict] = {}
    winners, taken = [], set()
    for d in batch.values():
        counts = newest(siblings[(d.feed, d.partner, d.delivery_date)])
        if d.state == "rejected":
            results[d.delivery_id] = {"delivery_id": d.delivery_id, "state": "rejected", "rows_published": 0}
            if counts.state in ("staged", "superseded") and counts.delivery_id not in taken \
                    and can_put_back(layout, counts):
                winners.append(counts)
                taken.add(counts.delivery_id)
                results[d.delivery_id]["restored"] = counts.delivery_id
        elif counts.state in VALIDATED and precedence(counts) > precedence(d):
            session.set_delivery(d.delivery_id, state="superseded", rows_published=0)
            results[d.delivery_id] = {"delivery_id": d.delivery_id, "state": "superseded", "rows_published": 0}
        elif d.delivery_id not in taken:
            winners.append(d)
            taken.add(d.delivery_id)
    return results, winners


def _record_published(session, winners: list, siblings: dict, batch: dict, results: dict[str, dict], state) -> None:
    """In the ledger transaction: each winner published, the older deliveries of its date superseded; the
    results say so (a restored delivery's in its rejected correction's result)."""
    for d in winners:
        for older in siblings[(d.feed, d.partner, d.delivery_date)]:
            if older.delivery_id != d.delivery_id and older.state in ("published", "staged"):
                session.set_delivery(older.delivery_id, state="superseded", rows_published=0)
                if older.delivery_id in results:
                    results[older.delivery_id].update(state="superseded", rows_published=0)
        rows = d.rows_read - d.rows_quarantined
        session.set_delivery(d.delivery_id, state="published", rows_published=rows)
        if d.delivery_id in batch:
            results[d.delivery_id] = {"delivery_id": d.delivery_id, "state": "published", "rows_published": rows,
                                      "partner": d.partner, "delivery_date": d.delivery_date.isoformat(),
                                      "warehouse_state": state.state_id}
        for r in results.values():
            if r.get("restored") == d.delivery_id:
                r.update(partner=d.partner, delivery_date=d.delivery_date.isoformat(), warehouse_state=state.state_id)


def _commit(session, layout, changes: dict[str, list]) -> dict[str, int | None]:
    """One commit per table of the batch's partition changes; the tables' new snapshot ids."""
    from warehouse import commits, iceberg

    if not changes:
        return {}
    place = iceberg.Place.for_root(layout.root)
    iceberg.require_catalog(place, session.head.snapshots)
    catalog = iceberg.open_catalog(place)
    return {table: commits.replace_partitions(catalog, table, table_changes, session.head.snapshots.get(table))
            for table, table_changes in changes.items()}


def _changes(layout, winners: list, pipeline) -> dict[str, list]:
    """Each table's partition changes (the winners' staged files); refuses, before any commit, a batch in
    which a delivery to publish has nothing staged."""
    from warehouse import commits

    changes: dict[str, list] = {}
    missing = []
    for d in winners:
        for table in pipeline(d.feed).tables:
            path = layout.staging_file(table, d.delivery_id)
            if not path.exists():
                missing.append(f"{d.delivery_id} ({table}, state {d.state})")
                continue
            changes.setdefault(table, []).append(
                commits.PartitionChange(table, d.partner, d.delivery_date, path, d.delivery_id, d.sha256))
    if missing:
        raise FileNotFoundError(f"nothing of the batch was published: no staged file for {', '.join(missing)}; "
                                "run ingest first")
    return changes


def _batch_name(delivery_ids: list[str]) -> str | None:
    """What a batch's warehouse state records as its maker: the delivery, or the batch's first and last
    (the ledger keeps 200 characters)."""
    if len(delivery_ids) < 2:
        return delivery_ids[0] if delivery_ids else None
    return f"batch of {len(delivery_ids)}: {delivery_ids[0]} … {delivery_ids[-1]}"[:200]


# --- process ------------------------------------------------------------------------------------------------

def partition(value: str | tuple | dt.date) -> tuple[str | None, dt.date]:
    """``"<partner>/<YYYY-MM-DD>"`` (``tesoma.feed_config.partition_key``), ``"YYYY-MM-DD"`` (every partner
    of the date), a date or a ``(partner, date)`` pair → ``(partner or None, date)``."""
    if isinstance(value, dt.date):
        return None, value
    if isinstance(value, tuple | list):
        partner, day = value
        return partner, day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
    partner, _, day = str(value).rpartition("/")
    try:
        return partner or None, dt.date.fromisoformat(day)
    except ValueError:
        raise ValueError(f"not a partition: {value!r}; give <partner>/<YYYY-MM-DD> or YYYY-MM-DD") from None


def process_batch(feed: str, partitions: Iterable, s: Settings | None = None, *, again: bool = False,
                  final_attempt: bool = True) -> dict:
    """Land, ingest and publish a batch of one feed's partitions, publishing with :func:`publish_batch`.

    ``partitions``: ``"<partner>/<YYYY-MM-DD>"`` or ``"YYYY-MM-DD"`` (every partner of the date), see
    :func:`partition`. Every delivery is landed and ingested on its own (its ledger row, accounting,
    quarantine and quality results, as in the daily run); a rejected one is reported and the others go on.
    Deliveries already ``published`` or ``superseded`` are left as they are unless ``again``. A failure
    of ours while ingesting is re-raised unless ``final_attempt`` (so a scheduler retries the batch; every
    step is safe to repeat), as :func:`tesoma.steps.ingest` does.

    Returns ``{"feed", "partitions", "deliveries": [one small dict per delivery], "counts": {...},
    "warehouse_state", "seconds"}``; ``deliveries`` says for each its partner, date, state, row accounting
    and, for a rejected one, the reason (rule and message, no delivered value).
    """
    from tesoma.feed_config import entry
    from tesoma.steps import landing
    from tesoma.steps.ingestion import ingest_together
    from warehouse import states

    started = time.perf_counter()
    s, _, ledger = _context(s)
    wanted: dict[dt.date, set[str | None]] = {}
    for p in partitions:
        partner, day = partition(p)
        wanted.setdefault(day, set()).add(partner)
    pull = entry(feed).transport == "pull"
    ids: list[str] = []
    for day in sorted(wanted):  # oldest first: a pull's watermark moves forward
        landed = landing.pull(feed, day, s) if pull else landing.land(feed, day, s)
        partners = wanted[day]
        ids += [d for d in landed if None in partners or ledger.get(d).partner in partners]
    known = {d: ledger.get(d) for d in ids}
    todo = [d for d in ids if again or known[d].state not in DONE]
    ingested = ingest_together(todo, s, final_attempt=final_attempt)
    published = {r["delivery_id"]: r for r in publish_batch(todo, s)}
    deliveries = [_result(ledger.get(d), ingested.get(d, {}), published.get(d)) for d in ids]
    deliveries += [_result(d, {}, None) for d in _not_landed(ledger, feed, wanted, set(ids))]
    counts = _counts(deliveries, skipped=len(ids) - len(todo))
    head = states.head(ledger.engine)
    seconds = round(time.perf_counter() - started, 3)
    # The process's peak so far (a task process runs one batch): the limit is 1 GiB per task whatever
    # the batch size, and a batch holds one delivery at a time.
    peak_mib = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    log.info("%s batch of %d partition(s): %s in %.2fs, peak memory %.0f MiB", feed,
             sum(len(v) for v in wanted.values()),
             ", ".join(f"{k} {v}" for k, v in counts.items() if v and not k.startswith("rows")), seconds, peak_mib)
    return {"feed": feed, "partitions": [_key(p, d) for d, ps in sorted(wanted.items()) for p in sorted(ps, key=str)],
            "deliveries": deliveries, "counts": counts, "warehouse_state": head.state_id, "seconds": seconds,
            "peak_rss_mib": peak_mib}


def _key(partner: str | None, day: dt.date) -> str:
    return f"{partner}/{day.isoformat()}" if partner else day.isoformat()


def _not_landed(ledger, feed: str, wanted: dict[dt.date, set[str | None]], seen: set[str]) -> list:
    """Deliveries of the partitions rejected while landing (nothing archived, so ``land`` returns no id for
    them): listed so that the batch's report names them with their reason too."""
    found = []
    for day, partners in wanted.items():
        for d in ledger.for_date(feed, day):
            if d.delivery_id not in seen and d.state == "rejected" and (None in partners or d.partner in partners):
                found.append(d)
    return found


def _result(d, ingested: dict, published: dict | None) -> dict:
    """One delivery's line in a batch's result: ids, state, counts and a rejection's reason."""
    out = {"delivery_id": d.delivery_id, "partner": d.partner, "delivery_date": d.delivery_date.isoformat(),
           "sequence": d.sequence, "state": d.state, "rows_read": d.rows_read, "rows_published": d.rows_published,
           "rows_quarantined": d.rows_quarantined, "seconds": d.seconds}
    if d.state == "rejected":
        out["reason"] = d.reason
        if ingested.get("message"):
            out["message"] = ingested["message"]
    if published and published.get("warehouse_state") is not None:
        out["warehouse_state"] = published["warehouse_state"]
    return out


def _counts(deliveries: list[dict], skipped: int) -> dict:
    counts = {"deliveries": len(deliveries), "published": 0, "superseded": 0, "rejected": 0, "staged": 0,
              "landed": 0, "already_done": skipped, "rows_read": 0, "rows_published": 0, "rows_quarantined": 0}
    for r in deliveries:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
        for k in ("rows_read", "rows_published", "rows_quarantined"):
            counts[k] += r[k] or 0
    return counts


# --- a month of a feed, in batches --------------------------------------------------------------------------

def delivery_dates(feed: str, month: dt.date, s: Settings | None = None, today: dt.date | None = None, *,
                   within: tuple[dt.date, dt.date] | None = None) -> list[str]:
    """The delivery dates of ``feed`` in the month of ``month`` that a history run processes, oldest first:

    - a feed whose partners drop files: the dates of the deliveries in ``landing/`` (a day without a file
      has nothing to process);
    - a pulled feed: the dates its cadence has in the month, up to yesterday (the source is asked);

    either way only dates the feed covers (``tesoma.feed_config.not_covered``: the contract's
    ``servicePeriodStart``, or ``TESOMA_HISTORY_FROM`` when loading history) and, with ``within`` (the first
    and last date of a backfill's range, both included), only those in it: the first and last month of a
    range that starts or ends mid-month are processed in part.
    """
    from tesoma.feed_config import entry, not_covered
    from tesoma.feeds import connector_for

    first = month.replace(day=1)
    following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    run = entry(feed)
    if run.transport == "pull":
        last = min(following, today or dt.date.today())
        dates = {first + dt.timedelta(days=i) for i in range((last - first).days)}
        if run.cadence != "daily":
            dates = {d for d in dates if d.day == 1 and (run.cadence == "monthly" or d.month == 1)}
    else:
        _, layout, _ = _context(s)
        dates = {f.delivery_date for f in connector_for(feed).discover_all(layout.landing)
                 if first <= f.delivery_date < following}
    if within is not None:
        dates = {d for d in dates if within[0] <= d <= within[1]}
    return [d.isoformat() for d in sorted(dates) if not_covered(feed, d) is None]


def batches_of(items: Sequence, size: int = DEFAULT_BATCH_SIZE) -> list[list]:
    """``items`` cut into consecutive batches of at most ``size``."""
    if size < 1:
        raise ValueError(f"a batch size must be at least 1, not {size}")
    return [list(items[i:i + size]) for i in range(0, len(items), size)]
