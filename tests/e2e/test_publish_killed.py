"""A publish killed half-way leaves the previous partition intact and readable; the next one recovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import duckdb
import pyarrow as pa
import pytest

from warehouse.publish import PART_FILE, publish_partition, write_parquet

# Runs in a child process: publish, but copy slowly and say when the temporary file exists.
CHILD = textwrap.dedent("""
    import shutil, sys, time
    from pathlib import Path
    import warehouse.publish as publish

    def slow_copy(src, dst, length=0):
        print("copying", flush=True)
        while chunk := src.read(4096):
            dst.write(chunk)
            time.sleep(0.05)

    shutil.copyfileobj = slow_copy
    publish.publish_partition(Path(sys.argv[1]), Path(sys.argv[2]))
""")


@pytest.mark.e2e
def test_killed_publish_leaves_the_previous_state(tmp_path):
    partition = tmp_path / "warehouse" / "harmonised" / "t" / "partner=p" / "delivery_date=2026-10-01"
    old = tmp_path / "old.parquet"
    new = tmp_path / "new.parquet"
    write_parquet(pa.table({"n": list(range(10))}), old)
    write_parquet(pa.table({"n": list(range(100_000))}), new)
    publish_partition(old, partition)
    before = (partition / PART_FILE).read_bytes()

    child = subprocess.Popen([sys.executable, "-c", CHILD, str(new), str(partition)], stdout=subprocess.PIPE,
                             text=True, env={**os.environ})
    assert child.stdout.readline().strip() == "copying"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    assert (partition / PART_FILE).read_bytes() == before  # the old file, whole
    assert list(partition.glob(f".{PART_FILE}.tmp*")), "the kill left a temporary file (as a crash would)"
    glob = str(partition.parent.parent / "*" / "*" / "*.parquet")
    assert duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall() == [(10,)]

    publish_partition(new, partition)  # the next publish cleans up and succeeds
    assert not list(partition.glob(f".{PART_FILE}.tmp*"))
    assert duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall() == [(100_000,)]
