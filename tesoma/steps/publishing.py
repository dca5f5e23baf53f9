"""Publish: a staged delivery committed to the warehouse's Iceberg tables, visible all at once.

Under the warehouse lock (:class:`warehouse.states.Publishing`): one commit per table replaces the
delivery's partition (``warehouse.commits``); then, in one ledger transaction, the new warehouse state is
recorded, the delivery marked ``published`` and the earlier delivery of its date ``superseded``. Killed
anywhere before that, readers stay on the previous state and the ledger says so; a rerun completes.

Only a delivery that is not rejected supersedes another (``warehouse.ledger.newest``): a corrected
re-delivery that is rejected (a broken file) leaves the delivery it meant to correct published, in the
tables and in the ledger; the correction stays ``rejected`` with its reason until the partner sends it again.
"""

from __future__ import annotations

import logging

from tesoma.config import Settings
from tesoma.feeds import pipeline
from tesoma.steps.context import context as _context
from warehouse import commits, iceberg, states
from warehouse.ledger import Delivery, _delivery
from warehouse.ledger import newest as ledger_newest

log = logging.getLogger(__name__)


def publish(delivery_id: str, s: Settings | None = None) -> dict:
    """Publish a staged delivery into its tables, if it is the partner's newest delivery for its date.

    A corrected re-delivery (higher sequence) replaces the partitions; the earlier one becomes
    ``superseded`` in the same transaction that makes the correction visible. A rejected correction
    displaces nothing: the earlier delivery is (or stays) the one published. Publishing again commits
    nothing new and returns the same result.
    """
    s, layout, ledger = _context(s)
    iceberg.refuse_old_layout(layout.root)
    with states.Publishing(ledger.engine, delivery_id) as session:
        delivery = _delivery(session.delivery(delivery_id))
        siblings = ledger.for_date(delivery.feed, delivery.delivery_date, delivery.partner)
        if delivery.state == "rejected":
            return {"delivery_id": delivery_id, "state": "rejected", "rows_published": 0}
        if ledger_newest(siblings).delivery_id != delivery_id:
            session.set_delivery(delivery_id, state="superseded", rows_published=0)
            return {"delivery_id": delivery_id, "state": "superseded", "rows_published": 0}
        snapshots = _commit_tables(session, layout, delivery)
        state = session.advance(snapshots, delivery_id)
        rows = delivery.rows_read - delivery.rows_quarantined
        for older in siblings:
            if older.delivery_id != delivery_id and older.state in ("published", "staged"):
                session.set_delivery(older.delivery_id, state="superseded", rows_published=0)
        session.set_delivery(delivery_id, state="published", rows_published=rows)
    log.info("%s published: %d rows into %s (warehouse state %s)", delivery_id, rows,
             ", ".join(pipeline(delivery.feed).tables), state.state_id)
    return {"delivery_id": delivery_id, "state": "published", "rows_published": rows,
            "partner": delivery.partner, "delivery_date": delivery.delivery_date.isoformat(),
            "warehouse_state": state.state_id}


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
    """Publish a date's deliveries oldest first, so a correction always ends up on top."""
    s, _, ledger = _context(s)
    ordered = sorted(delivery_ids, key=lambda d: (ledger.get(d).partner, ledger.get(d).sequence, d))
    return [publish(d, s) for d in ordered]
