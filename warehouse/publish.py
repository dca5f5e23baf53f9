"""Our Parquet writer: deterministic files (same table → same bytes) with statistics only where a query
can skip by them. Staged files and the Iceberg tables' data files (``warehouse.commits``) are written
with it."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PART_FILE = "part-0.parquet"


PLAIN_COLUMNS = frozenset({"event_id"})
"""Columns written without a dictionary: a record id differs on every row, so a dictionary would be
built and then abandoned (0.2 s per 2,000,000 rows) and the file would grow."""


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write deterministically: same table → same bytes (no timestamps in the footer; fixed settings)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table, path, compression="zstd", row_group_size=256_000,
        use_dictionary=[c for c in table.column_names if c not in PLAIN_COLUMNS],
        dictionary_pagesize_limit=4 << 20, write_statistics=_with_statistics(table.schema), store_schema=True,
    )


FILE_CONSTANT_COLUMNS = frozenset({"partner", "feed", "delivery_id"})
"""Text columns with one value per file, whose min/max statistics let a query skip whole files."""


def _with_statistics(schema: pa.Schema) -> list[str]:
    """Columns written with min/max statistics: numbers, dates and times (queries filter on ranges), and
    the text columns that are constant per file. Other text (codes, pseudonyms) spans its whole range in
    every row group, so its statistics would skip nothing; leaving them out saves a fifth of the write
    time (2,000,000 service events: 0.82 → 0.65 s)."""
    return [f.name for f in schema
            if f.name in FILE_CONSTANT_COLUMNS or not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
