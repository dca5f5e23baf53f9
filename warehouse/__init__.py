"""The warehouse: canonical schemas, storage layout, atomic publish, the ledger and the DuckDB catalog.

For analysts using pandas::

    import warehouse
    con = warehouse.connect()              # DuckDB connection to data/warehouse/catalog.duckdb
    df = con.sql("select * from service_event limit 10").df()
"""

from __future__ import annotations

import os
from pathlib import Path


def connect(data_root: str | Path | None = None):
    """A read-only DuckDB connection to the catalog under ``data_root`` (default ``$TESOMA_DATA_ROOT`` or ./data)."""
    from warehouse import catalog
    from warehouse.layout import Layout

    root = Path(data_root or os.environ.get("TESOMA_DATA_ROOT", "data")).resolve()
    return catalog.connect(Layout(root))
