"""The ledger: every delivery, its state and its row accounting, in a SQL database.

SQLite by default; PostgreSQL in production (any SQLAlchemy 2 URL). The invariant it lets anyone check:
for every processed delivery, ``rows_read = rows_published + rows_quarantined``.

The tables are created by the first :class:`Ledger` of a process (:func:`prepare_schema`), safely when
parallel Airflow tasks all open a fresh ledger at the same moment.

States of a delivery::

    landed ──► staged ──► published ──► superseded (a corrected re-delivery for the same date replaced it)
       └──────────┴──► rejected (the whole delivery quarantined; ``reason`` says why)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

metadata = sa.MetaData()

# Key of the PostgreSQL advisory lock that serialises schema creation; any constant every tesoma process
# shares will do (it only has to differ from other applications' keys on the same server).
SCHEMA_LOCK_KEY = 0x7E50_4A1E

# URLs whose schema this process has already created or checked: later Ledger objects skip the work.
_prepared_urls: set[str] = set()

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("delivery_id", sa.String(80), primary_key=True),
    sa.Column("partner", sa.String(40), nullable=False),
    sa.Column("feed", sa.String(40), nullable=False),
    sa.Column("delivery_date", sa.Date, nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False, comment="1 for the first file of a date, 2… for corrections"),
    sa.Column("source_name", sa.String(255), nullable=False, comment="file name as the partner delivered it"),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("raw_path", sa.String(500), nullable=False, comment="archived copy, relative to the data root"),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("arrived_at", sa.DateTime(timezone=True), comment="when the file appeared in landing (mtime)"),
    sa.Column("landed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("rows_read", sa.Integer),
    sa.Column("rows_published", sa.Integer),
    sa.Column("rows_quarantined", sa.Integer),
    sa.Column("key_id", sa.String(40), comment="id of the pseudonym key used (never the key)"),
    sa.Column("reason", sa.Text, comment="why the whole delivery was rejected or failed"),
    sa.Column("seconds", sa.Float, comment="processing time of the last ingest"),
    sa.Column("purged_at", sa.DateTime(timezone=True), comment="when raw/ and quarantine/ copies were deleted"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("feed", "sha256", name="uq_delivery_content"),
)

quality_results = sa.Table(
    "quality_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(80), sa.ForeignKey("deliveries.delivery_id"), nullable=False, index=True),
    sa.Column("stage", sa.String(20), nullable=False, comment="parse | contract | pseudonymise | harmonise"),
    sa.Column("rule", sa.String(120), nullable=False),
    sa.Column("column_name", sa.String(120)),
    sa.Column("failed_rows", sa.Integer, nullable=False),
    sa.Column("severity", sa.String(10), nullable=False, comment="error (rows quarantined) | warning"),
)


watermarks = sa.Table(
    "watermarks",
    metadata,
    sa.Column("feed", sa.String(40), primary_key=True),
    sa.Column("source", sa.String(80), primary_key=True),
    sa.Column("value", sa.DateTime, nullable=False, comment="last updated-at value pulled (source's local time)"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- the schema -------------------------------------------------------------------------------------------

def prepare_schema(engine: sa.Engine, url: str) -> None:
    """Create the tables and add missing columns, once per process and ``url``.

    Two processes may still do it at the same moment (parallel tasks on a fresh ledger). On PostgreSQL
    :func:`_create_schema` serialises them with a lock; on a database without one, the loser's CREATE
    fails with "already exists", and it checks the tables once more instead of failing the task.
    No lock around the set: threads that race here only repeat the idempotent work.
    """
    if url in _prepared_urls:
        return
    try:
        _create_schema(engine)
    except (sa.exc.ProgrammingError, sa.exc.OperationalError) as exc:
        if "already exists" not in str(exc.orig or exc).lower():
            raise
        _create_schema(engine)  # the other process has committed its tables by now: this only checks them
    _prepared_urls.add(url)


def _create_schema(engine: sa.Engine) -> None:
    """``create_all`` and the column upgrade in one transaction; on PostgreSQL under an advisory lock.

    Without the lock, two transactions both see no table and both CREATE it: one fails with DuplicateTable
    (or a unique violation in pg_type). ``pg_advisory_xact_lock`` makes the second wait until the first
    has committed, then see its tables; the lock is released with the transaction.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        metadata.create_all(conn)
        _add_missing_columns(conn)


def _add_missing_columns(conn: sa.Connection) -> None:
    """Forward-only schema upgrade: nullable columns added in later versions are created in place,
    so a ledger from an earlier version keeps working (its history stays intact)."""
    inspector = sa.inspect(conn)
    for table in metadata.sorted_tables:
        existing = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in existing and column.nullable:
                type_ = column.type.compile(dialect=conn.dialect)
                # Names and types come from our own table definitions, not from input.
                conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {type_}"))


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    partner: str
    feed: str
    delivery_date: dt.date
    sequence: int
    source_name: str
    sha256: str
    raw_path: str
    state: str
    rows_read: int | None = None
    rows_published: int | None = None
    rows_quarantined: int | None = None
    key_id: str | None = None
    reason: str | None = None
    seconds: float | None = None
    landed_at: dt.datetime | None = None
    purged_at: dt.datetime | None = None
    arrived_at: dt.datetime | None = None


_DELIVERY_FIELDS = tuple(Delivery.__dataclass_fields__)


class Ledger:
    """Thin access layer; every write is its own transaction so a crash never leaves half a record."""

    def __init__(self, url: str):
        self.engine = sa.create_engine(url)
        prepare_schema(self.engine, url)

    def record_landed(self, *, partner: str, feed: str, delivery_date: dt.date, sequence: int,
                      source_name: str, sha256: str, raw_path: str, size_bytes: int,
                      arrived_at: dt.datetime | None) -> tuple[Delivery, bool]:
        """Record a landed file; returns (delivery, created). The same content landed twice is one delivery."""
        with self.engine.begin() as conn:
            existing = conn.execute(
                sa.select(deliveries).where(deliveries.c.feed == feed, deliveries.c.sha256 == sha256)
            ).mappings().first()
            if existing is not None:
                return _delivery(existing), False
            delivery_id = f"{feed}-{partner}-{delivery_date:%Y%m%d}-{sequence}-{sha256[:8]}"
            now = _now()
            conn.execute(deliveries.insert().values(
                delivery_id=delivery_id, partner=partner, feed=feed, delivery_date=delivery_date,
                sequence=sequence, source_name=source_name, sha256=sha256, raw_path=raw_path,
                size_bytes=size_bytes, arrived_at=arrived_at, landed_at=now, state="landed", updated_at=now,
            ))
            row = conn.execute(sa.select(deliveries).where(deliveries.c.delivery_id == delivery_id)).mappings().one()
            return _delivery(row), True

    def get(self, delivery_id: str) -> Delivery:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(deliveries).where(deliveries.c.delivery_id == delivery_id)).mappings().first()
        if row is None:
            raise KeyError(f"no delivery {delivery_id!r} in the ledger")
        return _delivery(row)

    def for_date(self, feed: str, delivery_date: dt.date, partner: str | None = None) -> list[Delivery]:
        """Deliveries of a feed for one date (optionally of one partner), oldest sequence first."""
        query = (sa.select(deliveries)
                 .where(deliveries.c.feed == feed, deliveries.c.delivery_date == delivery_date)
                 .order_by(deliveries.c.partner, deliveries.c.sequence, deliveries.c.landed_at))
        if partner is not None:
            query = query.where(deliveries.c.partner == partner)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_delivery(r) for r in rows]

    def all(self, feed: str | None = None) -> list[Delivery]:
        query = sa.select(deliveries).order_by(deliveries.c.feed, deliveries.c.delivery_date, deliveries.c.sequence)
        if feed is not None:
            query = query.where(deliveries.c.feed == feed)
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query).mappings().all()]

    def update(self, delivery_id: str, **values: object) -> None:
        unknown = set(values) - set(deliveries.c.keys())
        if unknown:
            raise ValueError(f"unknown ledger fields: {sorted(unknown)}")
        with self.engine.begin() as conn:
            conn.execute(deliveries.update().where(deliveries.c.delivery_id == delivery_id)
                         .values(**values, updated_at=_now()))

    def replace_quality_results(self, delivery_id: str, results: Iterable[dict]) -> None:
        """Store a delivery's quality results, replacing those of an earlier run of the same delivery."""
        with self.engine.begin() as conn:
            conn.execute(quality_results.delete().where(quality_results.c.delivery_id == delivery_id))
            rows = [{**r, "delivery_id": delivery_id} for r in results]
            if rows:
                conn.execute(quality_results.insert(), rows)

    def watermark(self, feed: str, source: str) -> dt.datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(watermarks.c.value).where(
                watermarks.c.feed == feed, watermarks.c.source == source)).scalar_one_or_none()

    def set_watermark(self, feed: str, source: str, value: dt.datetime) -> None:
        with self.engine.begin() as conn:
            updated = conn.execute(watermarks.update().where(
                watermarks.c.feed == feed, watermarks.c.source == source).values(value=value, updated_at=_now()))
            if updated.rowcount == 0:
                conn.execute(watermarks.insert().values(feed=feed, source=source, value=value, updated_at=_now()))

    def quality_results(self, delivery_id: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(quality_results).where(quality_results.c.delivery_id == delivery_id)
                .order_by(quality_results.c.id)
            ).mappings().all()
        return [dict(r) for r in rows]


def _delivery(row: sa.RowMapping) -> Delivery:
    return Delivery(**{k: row[k] for k in _DELIVERY_FIELDS})
