"""What every step starts from: the settings, the data root's layout and the ledger."""

from __future__ import annotations

from tesoma.config import Settings, settings
from warehouse.layout import Layout
from warehouse.ledger import Ledger


def context(s: Settings | None) -> tuple[Settings, Layout, Ledger]:
    """``(settings, layout, ledger)`` for ``s``, or for the environment's settings when ``s`` is None."""
    s = s or settings()
    return s, Layout(s.data_root), Ledger(s.ledger_url)
