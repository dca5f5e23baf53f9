"""Warehouse states: what every reader sees, advanced all at once.

A *state* is a ledger row listing the Iceberg snapshot of every table. Readers (the analysts' views,
:func:`warehouse.as_of`, exports) resolve every table through one state, never through a table's newest
snapshot, so a delivery's tables become visible together. A publish runs inside :class:`Publishing`:
it takes the warehouse lock (a row lock in the ledger; SQLite's write lock), commits the delivery's
tables, then inserts the new state and marks the deliveries published and superseded in the same
ledger transaction. Killed anywhere before that commit, nothing of it is visible and the ledger says so.

A batch of deliveries (``tesoma.steps.batches``) is published the same way, with one commit per table
and one new state for the whole batch; that state's ``delivery_id`` names the batch.

A state is named by its id, by the time (the newest state created at or before it) or by a tag
(:func:`tag`), which keeps it from expiry forever.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from warehouse.iceberg import WarehouseError
from warehouse.ledger import deliveries, warehouse_lock, warehouse_states, warehouse_tags

LOCAL_TIME = ZoneInfo("Europe/Helsinki")
"""A time without a zone, in ``as_of``, is the alliance's local time."""


@dataclass(frozen=True)
class State:
    state_id: int | None  # None: before the first publish
    created_at: dt.datetime | None
    delivery_id: str | None
    snapshots: dict[str, int] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


EMPTY = State(None, None, None, {})


def _state(row: sa.RowMapping, tags: tuple[str, ...] = ()) -> State:
    created = row["created_at"]
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return State(row["state_id"], created, row["delivery_id"], json.loads(row["snapshots"]), tags)


def head(engine: sa.Engine) -> State:
    """The state readers see now (``EMPTY`` before the first publish)."""
    with engine.connect() as conn:
        return _head(conn)


def _head(conn: sa.Connection) -> State:
    row = conn.execute(sa.select(warehouse_states).order_by(warehouse_states.c.state_id.desc()).limit(1)
                       ).mappings().first()
    return EMPTY if row is None else _state(row)


def all_states(engine: sa.Engine) -> list[State]:
    """Every state, oldest first, with its tags."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(warehouse_states).order_by(warehouse_states.c.state_id)).mappings().all()
        tags = conn.execute(sa.select(warehouse_tags.c.name, warehouse_tags.c.state_id)).all()
    by_state: dict[int, list[str]] = {}
    for name, state_id in tags:
        by_state.setdefault(state_id, []).append(name)
    return [_state(r, tuple(sorted(by_state.get(r["state_id"], [])))) for r in rows]


def resolve(engine: sa.Engine, when: object) -> State:
    """The state named by ``when``: a state id (int), a tag name, or a time (``datetime`` or ISO text;
    without a zone it is Helsinki time) meaning the newest state created at or before it."""
    with engine.connect() as conn:
        if isinstance(when, int) or (isinstance(when, str) and when.isdigit()):
            return _by_id(conn, int(when))
        moment = _moment(when)
        if moment is None:
            return _by_tag(conn, str(when))
        row = conn.execute(sa.select(warehouse_states).where(warehouse_states.c.created_at <= _db_time(moment))
                           .order_by(warehouse_states.c.state_id.desc()).limit(1)).mappings().first()
        if row is None:
            first = conn.execute(sa.select(sa.func.min(warehouse_states.c.created_at))).scalar()
            if first is not None and first.tzinfo is None:
                first = first.replace(tzinfo=dt.UTC)
            raise WarehouseError(f"the warehouse had no state at {moment.isoformat()}" + (
                f"; the first is from {first.astimezone(LOCAL_TIME).isoformat()}" if first
                else "; nothing is published yet"))
        return _checked(row)


def _moment(when: object) -> dt.datetime | None:
    if isinstance(when, dt.datetime):
        moment = when
    elif isinstance(when, dt.date):
        moment = dt.datetime.combine(when, dt.time.max)
    else:
        try:
            moment = dt.datetime.fromisoformat(str(when))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL_TIME)


def _db_time(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def _by_id(conn: sa.Connection, state_id: int) -> State:
    row = conn.execute(sa.select(warehouse_states).where(warehouse_states.c.state_id == state_id)).mappings().first()
    if row is None:
        newest = conn.execute(sa.select(sa.func.max(warehouse_states.c.state_id))).scalar()
        raise WarehouseError(f"no warehouse state {state_id}; states are 1 to {newest or 0} "
                             "(`tesoma warehouse states` lists them)")
    return _checked(row)


def _by_tag(conn: sa.Connection, name: str) -> State:
    state_id = conn.execute(sa.select(warehouse_tags.c.state_id).where(warehouse_tags.c.name == name)).scalar()
    if state_id is None:
        known = conn.execute(sa.select(warehouse_tags.c.name).order_by(warehouse_tags.c.name)).scalars().all()
        raise WarehouseError(f"{name!r} is neither a time, a state id nor a tag; tags: "
                             f"{', '.join(known) or 'none yet'} (`tesoma warehouse tag` makes one)")
    return _by_id(conn, state_id)


def _checked(row: sa.RowMapping) -> State:
    if row["expired_at"] is not None:
        raise WarehouseError(f"warehouse state {row['state_id']} ({row['created_at']}) was expired on "
                             f"{row['expired_at']}: its snapshots are older than the retention. Tag a state "
                             "(`tesoma warehouse tag`) to keep it for good")
    return _state(row)


def tag(engine: sa.Engine, name: str, state_id: int | None = None, note: str | None = None) -> State:
    """Pin a state (the current one by default) under ``name``, for good. Tags are never moved."""
    with engine.begin() as conn:
        return _tag(conn, name, state_id, note)


def _tag(conn: sa.Connection, name: str, state_id: int | None, note: str | None) -> State:
    state = _by_id(conn, state_id) if state_id is not None else _head(conn)
    if state.state_id is None:
        raise WarehouseError("nothing is published yet: there is no state to tag")
    existing = conn.execute(sa.select(warehouse_tags.c.state_id).where(warehouse_tags.c.name == name)).scalar()
    if existing is not None and existing != state.state_id:
        raise WarehouseError(f"tag {name!r} already pins state {existing}; tags never move — choose a new name")
    if existing is None:
        conn.execute(warehouse_tags.insert().values(name=name, state_id=state.state_id,
                                                    created_at=dt.datetime.now(dt.UTC), note=note))
    return state


def tagged_state_ids(engine: sa.Engine) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(warehouse_tags.c.state_id)).scalars())


def mark_expired(engine: sa.Engine, state_ids: list[int]) -> None:
    if state_ids:
        with engine.begin() as conn:
            conn.execute(warehouse_states.update().where(warehouse_states.c.state_id.in_(state_ids))
                         .values(expired_at=dt.datetime.now(dt.UTC)))


def _lock_row(engine: sa.Engine) -> None:
    """The lock's row, created once in its own transaction: an UPDATE of a missing row locks nothing, and
    publishers racing to INSERT it would fail on the primary key instead of waiting for each other."""
    with engine.connect() as conn:
        if conn.execute(sa.select(warehouse_lock.c.id).where(warehouse_lock.c.id == 1)).first() is not None:
            return
    try:
        with engine.begin() as conn:
            conn.execute(warehouse_lock.insert().values(id=1))
    except sa.exc.IntegrityError:
        pass  # another process created it first


class Publishing:
    """The warehouse lock and the ledger transaction of one publish (or expiry, or migration).

    ``with Publishing(engine, holder) as p:`` takes the lock; ``p.head`` is the state to commit on top of;
    ``p.advance(...)`` and ``p.set_delivery(...)`` are written when the block ends without an error, all in
    one transaction. The lock is released with the transaction (also when the process dies).
    """

    def __init__(self, engine: sa.Engine, holder: str):
        self.engine, self.holder = engine, holder
        self.conn: sa.Connection | None = None
        self.head: State = EMPTY

    def __enter__(self) -> Publishing:
        _lock_row(self.engine)
        self.conn = self.engine.connect()
        self._tx = self.conn.begin()
        # The row lock (PostgreSQL, MariaDB) or the database's write lock (SQLite) is held until the end.
        self.conn.execute(warehouse_lock.update().where(warehouse_lock.c.id == 1)
                          .values(taken_at=dt.datetime.now(dt.UTC), holder=self.holder[:200]))
        self.head = _head(self.conn)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._tx.commit()
            else:
                self._tx.rollback()
        finally:
            self.conn.close()

    def delivery(self, delivery_id: str) -> sa.RowMapping:
        return self.conn.execute(sa.select(deliveries).where(deliveries.c.delivery_id == delivery_id)
                                 ).mappings().one()

    def deliveries_of(self, partitions: Iterable[tuple[str, str, dt.date]]) -> list[sa.RowMapping]:
        """Every delivery of these (feed, partner, delivery date) partitions, whatever its state, in one
        query under the lock (a batch's publish decides on all of them at once)."""
        wanted = set(partitions)
        if not wanted:
            return []
        query = sa.select(deliveries).where(deliveries.c.feed.in_({f for f, _, _ in wanted}),
                                            deliveries.c.partner.in_({p for _, p, _ in wanted}),
                                            deliveries.c.delivery_date.in_({d for _, _, d in wanted}))
        return [row for row in self.conn.execute(query).mappings()
                if (row["feed"], row["partner"], row["delivery_date"]) in wanted]

    def set_delivery(self, delivery_id: str, **values: object) -> None:
        self.conn.execute(deliveries.update().where(deliveries.c.delivery_id == delivery_id)
                          .values(**values, updated_at=dt.datetime.now(dt.UTC)))

    def tag(self, name: str, state_id: int | None = None, note: str | None = None) -> State:
        """:func:`tag` under the lock: an expiry cannot read the tags before this one and expire its state."""
        return _tag(self.conn, name, state_id, note)

    def advance(self, snapshots: dict[str, int | None], delivery_id: str | None) -> State:
        """Record a new state: the head's snapshots with ``snapshots`` laid over (no row if nothing changed)."""
        merged = {**self.head.snapshots, **{t: s for t, s in snapshots.items() if s is not None}}
        if merged == self.head.snapshots:
            return self.head
        now = dt.datetime.now(dt.UTC)
        state_id = self.conn.execute(warehouse_states.insert().values(
            created_at=now, delivery_id=delivery_id, snapshots=json.dumps(merged, sort_keys=True))
        ).inserted_primary_key[0]
        self.head = State(state_id, now, delivery_id, merged)
        return self.head
