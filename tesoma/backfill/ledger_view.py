"""The ledger's view of the range: deliveries done so far, and the files landing/ holds for it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tesoma.backfill.dates import Window
from tesoma.backfill.terms import DONE_STATES

# -- the ledger's view of the range ------------------------------------------------------------------------

@dataclass
class Tally:
    """Deliveries of the range through the pipeline (``done``), expected (``total``), and done since the
    command started (``since_start``)."""

    done: int
    total: int
    since_start: int


class RangeLedger:
    """The ledger's deliveries of some feeds between two delivery dates (read only)."""

    def __init__(self, url: str, windows: list[Window]):
        from warehouse.ledger import Ledger

        self.engine = Ledger(url).engine
        self.windows = windows
        self.expected = sum(expected_in_landing(w) for w in windows)

    def _where(self):
        import sqlalchemy as sa

        from warehouse.ledger import deliveries as t

        return sa.or_(*(sa.and_(t.c.feed == w.feed, t.c.delivery_date.in_(w.dates)) for w in self.windows))

    def tally(self, since: dt.datetime) -> Tally:
        import sqlalchemy as sa

        from warehouse.ledger import deliveries as t

        if not self.windows:
            return Tally(0, 0, 0)
        done = t.c.state.in_(DONE_STATES)
        query = sa.select(sa.func.count(),
                          sa.func.sum(sa.case((done, 1), else_=0)),
                          sa.func.sum(sa.case((sa.and_(done, t.c.updated_at >= since), 1), else_=0))
                          ).where(self._where())
        with self.engine.connect() as conn:
            known, finished, recent = conn.execute(query).one()
        return Tally(int(finished or 0), max(self.expected, int(known or 0)), int(recent or 0))

    def deliveries(self) -> list:
        import sqlalchemy as sa

        from warehouse.ledger import Delivery
        from warehouse.ledger import deliveries as t

        if not self.windows:
            return []
        fields = [c for c in t.c if c.name in Delivery.__dataclass_fields__]
        query = sa.select(*fields).where(self._where()).order_by(t.c.feed, t.c.delivery_date, t.c.partner,
                                                                 t.c.sequence)
        with self.engine.connect() as conn:
            return [Delivery(**row) for row in conn.execute(query).mappings()]

    def undone(self, w: Window) -> list[dt.date]:
        """The window's delivery dates that a history run would still process, oldest first — what
        ``process_batch`` (tesoma/steps/batches.py) finds to do there:

        - a feed whose partners drop files: dates with a delivery in ``landing/`` that the ledger does not
          have through the pipeline (:data:`DONE_STATES`, same partner and sequence, arrived no later): not
          landed yet, landed or staged by a run that stopped, or a file sent again under the same name. A
          date without a file has nothing to do, and neither has a rejected delivery (``--rerun failed`` or
          ``completed`` tries it again after a fix);
        - a pulled feed: dates without a delivery through the pipeline (the source is asked for each).
        """
        import sqlalchemy as sa

        from tesoma.feed_config import load
        from warehouse.ledger import deliveries as t

        query = sa.select(t.c.partner, t.c.delivery_date, t.c.sequence, t.c.arrived_at).where(
            t.c.feed == w.feed, t.c.delivery_date.in_(w.dates), t.c.state.in_(DONE_STATES))
        done: dict[tuple, dt.datetime | None] = {}
        with self.engine.connect() as conn:
            for partner, day, sequence, arrived in conn.execute(query):
                key, arrived = (partner, day, sequence), _utc(arrived)
                if key not in done or (done[key] is not None and (arrived is None or arrived > done[key])):
                    done[key] = arrived  # the newest arrival; None (not recorded): any file of the key is done
        if load()[w.feed].transport == "pull":
            return sorted(set(w.dates) - {day for _, day, _ in done})
        return sorted({f.delivery_date for f in in_landing(w) if not _processed(f, done)})

    def close(self) -> None:
        self.engine.dispose()


ARRIVAL_SLACK = dt.timedelta(seconds=1)
"""How much newer than the ledger's arrival a file may look and still be the delivery it recorded (a
database may keep less of the file's modification time than the file system)."""


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment


def _processed(f, done: dict[tuple, dt.datetime | None]) -> bool:
    """Whether the ledger has landed file ``f`` through the pipeline (not a newer file of the same name)."""
    key = (f.partner, f.delivery_date, f.sequence)
    if key not in done:
        return False
    return done[key] is None or f.arrived_at <= done[key] + ARRIVAL_SLACK


def in_landing(w: Window) -> list:
    """The deliveries of the window's dates in ``landing/`` now (files, or export folders)."""
    from tesoma.config import settings
    from tesoma.feeds import connector_for
    from warehouse.layout import Layout

    landing = Layout(settings().data_root).landing
    if not landing.is_dir():
        return []
    dates = set(w.dates)
    return [f for f in connector_for(w.feed).survey(landing).deliveries if f.delivery_date in dates]


def expected_in_landing(w: Window) -> int:
    """How many deliveries of the window's dates are in ``landing/`` (files, or export folders) now."""
    return len(in_landing(w))


