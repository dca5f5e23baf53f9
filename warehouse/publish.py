"""Atomic, idempotent publication of one partition (a table × partner × delivery date).

A partition is one Parquet file, ``part-0.parquet``. It is written next to its final place and moved
over it with ``os.replace``, which is atomic on POSIX file systems: a reader sees the old file or the
new one, never half a file; a crash mid-write leaves only a temporary file that the next publish
overwrites. Publishing the same staged data again gives a byte-identical file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PART_FILE = "part-0.parquet"


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write deterministically: same table → same bytes (no timestamps in the footer; fixed settings)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table, path, compression="zstd", row_group_size=256_000, use_dictionary=True,
        dictionary_pagesize_limit=4 << 20, write_statistics=True, store_schema=True,
    )


def publish_partition(staged: Path, partition_dir: Path) -> Path:
    """Move a staged Parquet file into ``partition_dir`` atomically, replacing what was there."""
    partition_dir.mkdir(parents=True, exist_ok=True)
    final = partition_dir / PART_FILE
    tmp = partition_dir / f".{PART_FILE}.tmp-{os.getpid()}"
    shutil.copyfile(staged, tmp)
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    return final


def unpublish_partition(partition_dir: Path) -> None:
    """Remove a partition (e.g. when a corrected delivery turns out to have no valid rows)."""
    final = partition_dir / PART_FILE
    if final.exists():
        final.unlink()
