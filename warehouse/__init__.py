"""The warehouse: canonical schemas, Iceberg tables and their states, the ledger and the DuckDB catalog.

For analysts using pandas::

    import warehouse
    con = warehouse.connect()              # DuckDB connection to data/warehouse/catalog.duckdb
    df = con.sql("select * from service_event limit 10").df()

    old = warehouse.as_of("2026-11-01 12:00")   # every table exactly as readers saw it then
    old = warehouse.as_of(42)                   # … at warehouse state 42 (see the view warehouse_state)
    old = warehouse.as_of("scorecard-2026-10")  # … at a tagged state
"""

from __future__ import annotations

import os
from pathlib import Path


def _layout(data_root: str | Path | None):
    from warehouse.layout import Layout

    return Layout(Path(data_root or os.environ.get("TESOMA_DATA_ROOT", "data")).resolve())


def connect(data_root: str | Path | None = None):
    """A read-only DuckDB connection to the catalog under ``data_root`` (default ``$TESOMA_DATA_ROOT`` or ./data)."""
    from warehouse import catalog

    return catalog.connect(_layout(data_root))


def as_of(when, data_root: str | Path | None = None):
    """A DuckDB connection with the same views as :func:`connect`, showing every table exactly as readers
    saw it at ``when``: a time (``datetime`` or ISO text; without a zone, Helsinki time), a warehouse state
    id, or a tag name."""
    from warehouse import catalog

    return catalog.as_of(_layout(data_root), when)
