"""Publish: a staged delivery moved into the warehouse's partitions, a date's corrections last."""

from __future__ import annotations

import logging

import pyarrow.parquet as pq

from tesoma.config import Settings
from tesoma.feeds import pipeline
from tesoma.steps.context import context as _context
from warehouse.ledger import newest as ledger_newest
from warehouse.publish import publish_partition, unpublish_partition

log = logging.getLogger(__name__)


def publish(delivery_id: str, s: Settings | None = None) -> dict:
    """Publish a staged delivery into its partitions (one per canonical table), atomically each, if it
    is the partner's newest delivery for its date.

    A corrected re-delivery (higher sequence) replaces the partitions; the earlier one becomes
    ``superseded``. Publishing again is a no-op that gives the same bytes.
    """
    s, layout, ledger = _context(s)
    delivery = ledger.get(delivery_id)
    feed = pipeline(delivery.feed)
    siblings = ledger.for_date(delivery.feed, delivery.delivery_date, delivery.partner)
    newest = ledger_newest(siblings)  # a higher sequence wins, then the later arrival (warehouse.ledger.precedence)
    if delivery.state == "rejected":
        return {"delivery_id": delivery_id, "state": "rejected", "rows_published": 0}
    if newest.delivery_id != delivery_id:
        ledger.update(delivery_id, state="superseded", rows_published=0)
        return {"delivery_id": delivery_id, "state": "superseded", "rows_published": 0}
    staged = {t: layout.staging_file(t, delivery_id) for t in feed.tables}
    missing = [t for t, path in staged.items() if not path.exists()]
    if missing:
        raise FileNotFoundError(f"{delivery_id} has no staged {', '.join(missing)} (state {delivery.state}); "
                                "run ingest first")
    for table_name, path in staged.items():
        partition = layout.partition_dir(table_name, delivery.partner, delivery.delivery_date)
        if pq.read_metadata(path).num_rows:
            publish_partition(path, partition)
        else:
            unpublish_partition(partition)
    rows = delivery.rows_read - delivery.rows_quarantined
    for older in siblings:
        if older.delivery_id != delivery_id and older.state in ("published", "staged"):
            ledger.update(older.delivery_id, state="superseded", rows_published=0)
    ledger.update(delivery_id, state="published", rows_published=rows)
    log.info("%s published: %d rows into %s", delivery_id, rows, ", ".join(feed.tables))
    return {"delivery_id": delivery_id, "state": "published", "rows_published": rows,
            "partner": delivery.partner, "delivery_date": delivery.delivery_date.isoformat()}


def publish_in_order(delivery_ids: list[str], s: Settings | None = None) -> list[dict]:
    """Publish a date's deliveries oldest first, so a correction always ends up on top."""
    s, _, ledger = _context(s)
    ordered = sorted(delivery_ids, key=lambda d: (ledger.get(d).partner, ledger.get(d).sequence, d))
    return [publish(d, s) for d in ordered]

