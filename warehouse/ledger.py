"""The ledger: every delivery, its state and its row accounting, in a SQL database.

SQLite by default; PostgreSQL in production (any SQLAlchemy 2 URL). The invariant it lets anyone check:
for every processed delivery, ``rows_read = rows_published + rows_quarantined``.

The tables are created by the first :class:`Ledger` of a process (:func:`prepare_schema`), safely when
parallel Airflow tasks all open a fresh ledger at the same moment.

States of a delivery::

    landed ──► staged ──► published ──► superseded (a corrected re-delivery for the same date replaced it)
       └──────────┴──► rejected (the whole delivery quarantined; ``reason`` says why)

Only a delivery that passed validation (:data:`VALIDATED`) ever displaces another: a correction that is still
``landed`` (not ingested yet, or its ingest never reached a verdict) or ``rejected`` leaves the delivery it
means to correct the one that counts (:func:`newest`), so the date never ends without a published delivery.

A delivery that cannot be landed safely (a link inside an export folder, a name inside it that is not
UTF-8, a file that vanished, an unexpected error) is recorded ``rejected`` straight away, with no archive.

``landing_findings`` holds what is in landing/ but is not a delivery (a name that breaks the agreement),
one row per feed, partner and name, with when it was first and last seen and when it was gone.
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
    # One delivery per partner, date and content: the same bytes sent again for the same date are the same
    # delivery (idempotent landing), but equal bytes from another partner or for another date (two empty
    # files, a header-only day) are deliveries of their own, each accounted for.
    sa.UniqueConstraint("feed", "partner", "delivery_date", "sha256", name="uq_delivery_content_per_date"),
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


landing_findings = sa.Table(
    "landing_findings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("feed", sa.String(40), nullable=False),
    sa.Column("partner", sa.String(40), nullable=False),
    sa.Column("name", sa.String(1100), nullable=False, comment="the name in landing, shown safely (escaped)"),
    sa.Column("rule", sa.String(40), nullable=False, comment="e.g. impossible_date, unmatched_name"),
    sa.Column("reason", sa.Text, nullable=False, comment="what is wrong and what to do, for the partner"),
    sa.Column("delivery_date", sa.Date, comment="the date the name declares, when it is a real one"),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_at", sa.DateTime(timezone=True), comment="when landing last looked and it was gone"),
    sa.UniqueConstraint("feed", "partner", "name", name="uq_landing_finding"),
)


# --- the warehouse's states (warehouse.states) -------------------------------------------------------------

warehouse_states = sa.Table(
    "warehouse_states",
    metadata,
    sa.Column("state_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("delivery_id", sa.String(200), comment="the delivery whose publish made this state"),
    sa.Column("snapshots", sa.Text, nullable=False, comment="JSON: Iceberg snapshot id of every table"),
    sa.Column("expired_at", sa.DateTime(timezone=True), comment="when its snapshots were expired"),
)

warehouse_tags = sa.Table(
    "warehouse_tags",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("state_id", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("note", sa.Text),
)

warehouse_lock = sa.Table(
    "warehouse_lock",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("taken_at", sa.DateTime(timezone=True)),
    sa.Column("holder", sa.String(200), comment="what last took the lock (a delivery id, expiry, migration)"),
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
        _widen_content_key(conn)


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


_OLD_CONTENT_KEY = "uq_delivery_content"


def _widen_content_key(conn: sa.Connection) -> None:
    """Upgrade a ledger whose deliveries were unique by (feed, content) alone — under which equal bytes from
    two partners or dates were folded into one delivery — to uniqueness per partner and date.

    SQLite cannot drop a constraint: the table is copied into a new one and swapped (its rows are kept as
    they are). Other databases drop the old constraint and add the new one.
    """
    names = {c["name"] for c in sa.inspect(conn).get_unique_constraints("deliveries")}
    if _OLD_CONTENT_KEY not in names:
        return
    if conn.dialect.name == "sqlite":
        upgraded = deliveries.to_metadata(sa.MetaData(), name="deliveries_upgraded")
        upgraded.create(conn)
        conn.execute(upgraded.insert().from_select([c.name for c in deliveries.columns], sa.select(deliveries)))
        conn.execute(sa.text("DROP TABLE deliveries"))
        conn.execute(sa.text("ALTER TABLE deliveries_upgraded RENAME TO deliveries"))
        return
    drop = "DROP INDEX" if conn.dialect.name in ("mysql", "mariadb") else "DROP CONSTRAINT"
    conn.execute(sa.text(f"ALTER TABLE deliveries {drop} {_OLD_CONTENT_KEY}"))
    conn.execute(sa.text("ALTER TABLE deliveries ADD CONSTRAINT uq_delivery_content_per_date "
                         "UNIQUE (feed, partner, delivery_date, sha256)"))


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
    size_bytes: int | None = None


_DELIVERY_FIELDS = tuple(Delivery.__dataclass_fields__)


def _aware(moment: dt.datetime | None) -> dt.datetime:
    if moment is None:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


VALIDATED = ("staged", "published", "superseded")
"""States of a delivery that passed validation: only such a delivery can be the one that counts for its date.
A ``superseded`` one too: it comes back when the correction that displaced it is rejected later (ingested
again)."""


def precedence(delivery: Delivery) -> tuple:
    """Order of a partner's deliveries for one date, oldest first (:func:`newest` picks among them). A higher
    sequence wins; the same name sent again (same sequence, new content) wins by arrival time, then by
    landing time."""
    return delivery.sequence, _aware(delivery.arrived_at), _aware(delivery.landed_at), delivery.delivery_id


def _standing(delivery: Delivery) -> int:
    """Validated before not yet ingested (``landed``) before ``rejected``, whatever their precedence."""
    if delivery.state in VALIDATED:
        return 2
    return 0 if delivery.state == "rejected" else 1


def newest(deliveries: Iterable[Delivery]) -> Delivery:
    """The delivery that counts among a partner's deliveries for one date: of those that passed validation
    (:data:`VALIDATED`), the one with the highest :func:`precedence`.

    A correction displaces the earlier delivery only once it is staged: while it is ``landed`` (its ingest not
    run, under way or failed before a verdict) the earlier valid delivery stays the one published, and if it
    is then ``rejected`` that one simply stays (or, superseded by a correction rejected since, counts again).

    When none of the date's deliveries passed validation, the newest ``landed`` one is returned (waiting
    for its ingest), else the newest rejected one: what ``tesoma status`` shows for the date. Publishing
    never publishes those.
    """
    candidates = list(deliveries)
    if not candidates:
        raise ValueError("newest() needs at least one delivery")
    return max(candidates, key=lambda d: (_standing(d), precedence(d)))


@dataclass(frozen=True)
class LandingFinding:
    """Something in landing/ that is not a delivery, as the ledger keeps it (see ``landing_findings``)."""

    feed: str
    partner: str
    name: str
    rule: str
    reason: str
    delivery_date: dt.date | None
    first_seen: dt.datetime
    last_seen: dt.datetime
    resolved_at: dt.datetime | None = None


_FINDING_FIELDS = tuple(LandingFinding.__dataclass_fields__)


class Ledger:
    """Thin access layer; every write is its own transaction so a crash never leaves half a record."""

    def __init__(self, url: str):
        from warehouse.engines import engine_for

        # SQLite: a publish holds the write lock for a second or two (warehouse.states); wait, do not fail.
        # A server database: one engine per process (warehouse.engines), not a pool per Ledger.
        self.engine = engine_for(url, connect_args={"timeout": 120} if url.startswith("sqlite") else {})
        prepare_schema(self.engine, url)

    def record_landed(self, *, partner: str, feed: str, delivery_date: dt.date, sequence: int,
                      source_name: str, sha256: str, raw_path: str, size_bytes: int,
                      arrived_at: dt.datetime | None, state: str = "landed",
                      reason: str | None = None) -> tuple[Delivery, bool]:
        """Record a landed file; returns (delivery, created). The same content landed twice for the same partner
        and date is one delivery.

        ``state="rejected"`` with a ``reason`` records a delivery that could not be landed, in one step."""
        with self.engine.begin() as conn:
            existing = conn.execute(
                sa.select(deliveries).where(deliveries.c.feed == feed, deliveries.c.partner == partner,
                                            deliveries.c.delivery_date == delivery_date,
                                            deliveries.c.sha256 == sha256)
            ).mappings().first()
            if existing is not None:
                return _delivery(existing), False
            delivery_id = f"{feed}-{partner}-{delivery_date:%Y%m%d}-{sequence}-{sha256[:8]}"
            now = _now()
            conn.execute(deliveries.insert().values(
                delivery_id=delivery_id, partner=partner, feed=feed, delivery_date=delivery_date,
                sequence=sequence, source_name=source_name, sha256=sha256, raw_path=raw_path,
                size_bytes=size_bytes, arrived_at=arrived_at, landed_at=now, state=state, reason=reason,
                rows_published=0 if state == "rejected" else None, updated_at=now,
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

    def record_findings(self, feed: str, findings: Iterable) -> None:
        """Record what a look into the feed's landing folders found that is not a delivery (objects with
        ``partner``, ``name``, ``rule``, ``reason``, ``delivery_date``, e.g. :class:`connectors.base.NotADelivery`).

        One row per (feed, partner, name), however often it is seen: ``last_seen`` moves on. Earlier
        findings of the feed that are not among these are gone from landing: they get ``resolved_at``.
        """
        now = _now()
        seen = set()
        for f in findings:
            seen.add((f.partner, f.name))
            values = {"rule": f.rule, "reason": f.reason, "delivery_date": f.delivery_date, "last_seen": now,
                      "resolved_at": None}
            key = (landing_findings.c.feed == feed, landing_findings.c.partner == f.partner,
                   landing_findings.c.name == f.name)
            try:
                with self.engine.begin() as conn:
                    if conn.execute(landing_findings.update().where(*key).values(**values)).rowcount == 0:
                        conn.execute(landing_findings.insert().values(feed=feed, partner=f.partner, name=f.name,
                                                                      first_seen=now, **values))
            except sa.exc.IntegrityError:  # a parallel run of the feed (another date) inserted it first
                with self.engine.begin() as conn:
                    conn.execute(landing_findings.update().where(*key).values(**values))
        with self.engine.begin() as conn:
            still_open = conn.execute(sa.select(landing_findings.c.id, landing_findings.c.partner,
                                                landing_findings.c.name).where(
                landing_findings.c.feed == feed, landing_findings.c.resolved_at.is_(None))).all()
            gone = [row.id for row in still_open if (row.partner, row.name) not in seen]
            if gone:
                conn.execute(landing_findings.update().where(landing_findings.c.id.in_(gone))
                             .values(resolved_at=now))

    def findings(self, feed: str | None = None, include_resolved: bool = False) -> list[LandingFinding]:
        """What is (or, with ``include_resolved``, was) in landing/ but not a delivery, by feed, partner, name."""
        query = sa.select(landing_findings).order_by(landing_findings.c.feed, landing_findings.c.partner,
                                                     landing_findings.c.name)
        if feed is not None:
            query = query.where(landing_findings.c.feed == feed)
        if not include_resolved:
            query = query.where(landing_findings.c.resolved_at.is_(None))
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [LandingFinding(**{k: r[k] for k in _FINDING_FIELDS}) for r in rows]

    def quality_results(self, delivery_id: str) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(quality_results).where(quality_results.c.delivery_id == delivery_id)
                .order_by(quality_results.c.id)
            ).mappings().all()
        return [dict(r) for r in rows]


def _delivery(row: sa.RowMapping) -> Delivery:
    return Delivery(**{k: row[k] for k in _DELIVERY_FIELDS})
