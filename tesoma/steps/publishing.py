"""Publish: a staged delivery committed to the warehouse's Iceberg tables, visible all at once.

Under the warehouse lock (:class:`warehouse.states.Publishing`): one commit per table replaces the
delivery's partition (``warehouse.commits``); then, in one ledger transaction, the new warehouse state is
recorded, the delivery marked ``published`` and the earlier delivery of its date ``superseded``. Killed
anywhere before that, readers stay on the previous state and the ledger says so; a rerun completes.

Which delivery of a partner's date is the one in the tables is ``warehouse.ledger.newest``: the newest that
passed validation. A correction displaces the earlier delivery only once it is staged itself: published
while its correction is still ``landed`` (its ingest not run, under way or failed), the earlier delivery is
published, and stays so if the correction is then rejected. Publishing a rejected delivery puts the date's
valid delivery back into the tables when a correction rejected since (ingested again) had displaced it.
"""

from __future__ import annotations

import logging

from tesoma.config import Settings
from tesoma.feeds import pipeline
from tesoma.steps.context import context as _context
from warehouse import commits, iceberg, states
from warehouse.ledger import VALIDATED, Delivery, _delivery, newest, precedence

log = logging.getLogger(__name__)


def publish(delivery_id: str, s: Settings | None = None) -> dict:
    """Publish a staged delivery into its tables, if it is the delivery that counts for its date.

    A corrected re-delivery (higher sequence) replaces the partitions; the earlier one becomes
    ``superseded`` in the same transaction that makes the correction visible. A correction that is not
    staged yet, or is rejected, displaces nothing: the earlier delivery is (or stays) the one published.
    Publishing again commits nothing new and returns the same result.

    A rejected delivery is never published. If the date's delivery that counts is then not in the tables
    (staged, or superseded by this delivery before it was ingested again and rejected), it is published in
    its place, and the result says so: ``restored`` (its id), ``partner``, ``delivery_date``,
    ``warehouse_state``.
    Raises :class:`FileNotFoundError` for a delivery not ingested yet that nothing newer displaces.
    """
    s, layout, ledger = _context(s)
    iceberg.refuse_old_layout(layout.root)
    with states.Publishing(ledger.engine, delivery_id) as session:
        delivery = _delivery(session.delivery(delivery_id))
        siblings = [_delivery(row) for row in session.deliveries_of(
            [(delivery.feed, delivery.partner, delivery.delivery_date)])]
        counts = newest(siblings)
        if delivery.state == "rejected":
            return _rejected(session, layout, delivery, counts, siblings)
        displaced = counts.state in VALIDATED and precedence(counts) > precedence(delivery)
        if displaced:
            session.set_delivery(delivery_id, state="superseded", rows_published=0)
            return {"delivery_id": delivery_id, "state": "superseded", "rows_published": 0}
        if delivery.state not in VALIDATED:
            raise FileNotFoundError(f"{delivery_id} is not ingested yet (state {delivery.state}); run ingest first")
        state, rows = _put_in_place(session, layout, delivery, siblings)
    log.info("%s published: %d rows into %s (warehouse state %s)", delivery_id, rows,
             ", ".join(pipeline(delivery.feed).tables), state.state_id)
    return {"delivery_id": delivery_id, "state": "published", "rows_published": rows,
            "partner": delivery.partner, "delivery_date": delivery.delivery_date.isoformat(),
            "warehouse_state": state.state_id}


def _put_in_place(session: states.Publishing, layout, delivery: Delivery,
                  siblings: list[Delivery]) -> tuple[states.State, int]:
    """Commit ``delivery`` (the one that counts for its date) and record it ``published``; the date's other
    valid deliveries in the tables or waiting for them (all older) become ``superseded``."""
    snapshots = _commit_tables(session, layout, delivery)
    state = session.advance(snapshots, delivery.delivery_id)
    rows = delivery.rows_read - delivery.rows_quarantined
    for older in siblings:
        if older.delivery_id != delivery.delivery_id and older.state in ("published", "staged"):
            session.set_delivery(older.delivery_id, state="superseded", rows_published=0)
    session.set_delivery(delivery.delivery_id, state="published", rows_published=rows)
    return state, rows


def can_put_back(layout, d: Delivery) -> bool:
    """Whether a delivery that counts again for its date (its correction rejected since) has every table's
    staged file to be put back with; if not, it waits for an ingest of its own, and the log says so."""
    staged = all(layout.staging_file(t, d.delivery_id).exists() for t in pipeline(d.feed).tables)
    if not staged:
        log.warning("%s counts again for its date but has nothing staged: ingest it again (tesoma reprocess) to "
                    "put it back", d.delivery_id)
    return staged


def _rejected(session: states.Publishing, layout, delivery: Delivery, counts: Delivery,
              siblings: list[Delivery]) -> dict:
    """A rejected delivery's publish: nothing of it; the date's valid delivery put back if it is not in place."""
    result = {"delivery_id": delivery.delivery_id, "state": "rejected", "rows_published": 0}
    if counts.state not in ("staged", "superseded"):
        return result  # already published, or nothing valid for the date
    if not can_put_back(layout, counts):
        return result
    state, rows = _put_in_place(session, layout, counts, siblings)
    log.info("%s rejected; %s of the same date put back: %d rows (warehouse state %s)", delivery.delivery_id,
             counts.delivery_id, rows, state.state_id)
    return {**result, "restored": counts.delivery_id, "partner": counts.partner,
            "delivery_date": counts.delivery_date.isoformat(), "warehouse_state": state.state_id}


def _commit_tables(session: states.Publishing, layout, delivery: Delivery) -> dict[str, int | None]:
    """One commit per table (none where the partition already holds the staged rows)."""
    tables = pipeline(delivery.feed).tables
    staged = {t: layout.staging_file(t, delivery.delivery_id) for t in tables}
    missing = [t for t, path in staged.items() if not path.exists()]
    if missing:
        raise FileNotFoundError(f"{delivery.delivery_id} has no staged {', '.join(missing)} (state {delivery.state}); "
                                "run ingest first")
    place = iceberg.Place.for_root(layout.root)
    iceberg.require_catalog(place, session.head.snapshots)
    catalog = iceberg.open_catalog(place)
    snapshots = {}
    for table, path in staged.items():
        change = commits.PartitionChange(table, delivery.partner, delivery.delivery_date, path,
                                         delivery.delivery_id, delivery.sha256)
        snapshots[table] = commits.replace_partition(catalog, change, session.head.snapshots.get(table))
    return snapshots


def publish_in_order(delivery_ids: list[str], s: Settings | None = None) -> list[dict]:
    """Publish a date's deliveries oldest first (:func:`warehouse.ledger.precedence`), so the one that counts
    is committed last and once. Which one ends up in the tables does not depend on the order: every publish
    asks :func:`warehouse.ledger.newest`."""
    s, _, ledger = _context(s)
    known = {d: ledger.get(d) for d in dict.fromkeys(delivery_ids)}
    ordered = sorted(known, key=lambda d: (known[d].feed, known[d].partner, known[d].delivery_date,
                                           precedence(known[d])))
    return [publish(d, s) for d in ordered]
