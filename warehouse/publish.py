"""Atomic, idempotent publication of one partition (a table × partner × delivery date).

A partition is one Parquet file, ``part-0.parquet``. It is written next to its final place and moved
over it with ``os.replace``, which is atomic on POSIX file systems: a reader sees the old file or the
new one, never half a file; a crash mid-write leaves only a temporary file that the next publish
overwrites. Publishing the same staged data again gives a byte-identical file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
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


def publish_partition(staged: Path, partition_dir: Path) -> Path:
    """Move a staged Parquet file into ``partition_dir`` atomically, replacing what was there."""
    partition_dir.mkdir(parents=True, exist_ok=True)
    final = partition_dir / PART_FILE
    for stale in partition_dir.glob(f".{PART_FILE}.tmp*"):
        stale.unlink(missing_ok=True)  # left by a publish that crashed
    fd, name = tempfile.mkstemp(prefix=f".{PART_FILE}.tmp", dir=partition_dir)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, staged.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def unpublish_partition(partition_dir: Path) -> None:
    """Remove a partition (e.g. when a corrected delivery turns out to have no valid rows)."""
    final = partition_dir / PART_FILE
    if final.exists():
        final.unlink()
