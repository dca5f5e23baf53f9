"""Partition spec by measurement: commit cost, planning cost and manifests for three specs.

    .tools/bin/uv run --frozen python scripts/partition_spec_bench.py [DELIVERIES]   (default 600)

Three tables that differ only in their partition spec get the same deliveries through the real
``warehouse.commits.replace_partition`` (3 partners a day, every 10th a correction of a date 5 days back);
prints the commit time of the last 100, the manifests, and the planning time of the whole table and of one
partition. Figures: docs/benchmarks.md.
"""
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.transforms import IdentityTransform, MonthTransform

from warehouse import commits, iceberg
from warehouse.publish import write_parquet
from warehouse.schemas import TABLES

N = int(sys.argv[1]) if len(sys.argv) > 1 else 600
root = Path(tempfile.mkdtemp(prefix="specbench-"))
catalog = iceberg.open_catalog(iceberg.Place.for_root(root))
catalog.create_namespace_if_not_exists("tesoma")
schema = iceberg.iceberg_schema(iceberg.warehouse_schema("access_t3"))
pid, did = schema.find_field("partner").field_id, schema.find_field("delivery_date").field_id
specs = {
    "partner, delivery_date": PartitionSpec(PartitionField(pid, 1000, IdentityTransform(), "partner"),
                                            PartitionField(did, 1001, IdentityTransform(), "delivery_date")),
    "partner, month(delivery_date)": PartitionSpec(PartitionField(pid, 1000, IdentityTransform(), "partner"),
                                                   PartitionField(did, 1001, MonthTransform(), "delivery_month")),
    "unpartitioned": PartitionSpec(),
}
partners = ["city", "mehilainen", "ngo_mll"]
def staged(i, day, partner):
    rows = pa.table({"partner": [partner]*50, "measure_date": [day]*50, "unit_code": ["U"]*50,
                     "professional_group": ["nurse"]*50, "professional_group_source": ["S"]*50,
                     "t3_days": [float(i)]*50, "delivery_id": [f"d{i}"]*50}).cast(TABLES["access_t3"])
    path = root / "staged" / f"{i}.parquet"
    write_parquet(iceberg.with_partition_columns("access_t3", rows, partner, day), path)
    return path


def grow(name: str, spec) -> None:
    """Give one table N deliveries and print its figures."""
    from pyiceberg.expressions import And, EqualTo

    ident = f"tesoma.spec_{len(name)}_{abs(hash(name)) % 10_000}"
    catalog.create_table(ident, schema, partition_spec=spec, properties={
        **iceberg.table_properties("access_t3"), iceberg.NAME_MAPPING: schema.name_mapping.model_dump_json()})
    real_identifier = iceberg.identifier
    iceberg.identifier = lambda table: ident  # replace_partition loads the table by this name
    snap, times = None, []
    try:
        for i in range(N):
            day = dt.date(2024, 1, 1) + dt.timedelta(days=i // 3 if i % 10 != 9 else max(0, i // 3 - 5))
            partner = partners[i % 3]
            change = commits.PartitionChange("access_t3", partner, day, staged(i, day, partner), f"d{i}", "0" * 64)
            started = time.perf_counter()
            snap = commits.replace_partition(catalog, change, snap)
            times.append(time.perf_counter() - started)
    finally:
        iceberg.identifier = real_identifier
    tbl = catalog.load_table(ident)
    started = time.perf_counter()
    files = list(tbl.scan(snapshot_id=snap).plan_files())
    plan_all = time.perf_counter() - started
    started = time.perf_counter()
    one_day = And(EqualTo("partner", "city"), EqualTo("delivery_date", "2024-03-01"))
    one = list(tbl.scan(snapshot_id=snap, row_filter=one_day).plan_files())
    plan_one = time.perf_counter() - started
    last = sorted(times[-100:])
    print(f"{name:<32} commits: median {statistics.median(last) * 1000:.0f} ms, "
          f"p95 {last[int(len(last) * 0.95) - 1] * 1000:.0f} ms (last {len(last)} of {N}); "
          f"manifests {len(tbl.current_snapshot().manifests(tbl.io))}; plan all {plan_all * 1000:.0f} ms "
          f"({len(files)} files); plan one partition {plan_one * 1000:.0f} ms ({len(one)} files)")


for spec_name, partition_spec in specs.items():
    grow(spec_name, partition_spec)
