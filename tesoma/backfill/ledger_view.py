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

    def close(self) -> None:
        self.engine.dispose()


def expected_in_landing(w: Window) -> int:
    """How many deliveries of the window's dates are in ``landing/`` (files, or export folders) now."""
    from tesoma.config import settings
    from tesoma.feeds import connector_for
    from warehouse.layout import Layout

    landing = Layout(settings().data_root).landing
    if not landing.is_dir():
        return 0
    dates = set(w.dates)
    return sum(1 for f in connector_for(w.feed).survey(landing).deliveries if f.delivery_date in dates)


