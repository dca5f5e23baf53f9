"""catalog: rebuilds the analysts' DuckDB catalog and data docs, then audits, whenever a feed publishes.

Scheduled on the harmonised tables (Airflow assets, one per canonical table): any feed DAG's `publish`
emits partitioned asset events (partition key `<partner>/<YYYY-MM-DD>`), and each partition starts a run
whose `partition_key` names it. Thin by design: every task calls one `tesoma.steps` function.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, AssetAny, PartitionedAssetTimetable, dag, task

import contracts
from tesoma.feed_config import asset_uri, load
from tesoma.schedule import task_defaults

TABLES = sorted({t for run in load().values() if run.feed in contracts.available() for t in run.tables})
ASSETS = [Asset(asset_uri(table), group="warehouse") for table in TABLES]

DOC = f"""
### catalog — the analysts' catalog, the data docs and the privacy audit, after every publication

**Starts when:** a feed DAG's `publish` task has published a partition of a harmonised table
({", ".join(f"`{t}`" for t in TABLES)}). Each table is an Airflow asset; every event carries the
partition key `<partner>/<YYYY-MM-DD>` of a published delivery, and each key starts one run (the run's
*partition key* shows which publication it follows; events arriving before the run starts are merged).

**Tasks:** `refresh_catalog` rebuilds the DuckDB views in `warehouse/catalog.duckdb` over the data
files of the current *warehouse state* (the Iceberg snapshot of every table, advanced by each publish;
the view `warehouse_state` says which) and rewrites the data docs (`docs/quality.md`) → `audit` scans the
warehouse (data, Iceberg metadata and manifests), docs and logs for identifying data. One run at a
time; each rebuilds everything, so any run brings the catalog up to date and a missed run is repaired by the next.

**When it fails:**
- *refresh_catalog failed:* usually a data file or the Iceberg catalog missing or unreadable (the log
  names the table and what to do; docs/operations.md, "The warehouse"), or the DuckDB file locked by an
  analyst's writable session. The warehouse itself is intact; fix the cause and clear the
  task (or trigger the DAG by hand: it needs no partition key).
- *Audit failed:* identifying data reached a shared place; the log names file and column (never the
  value). Stop sharing the warehouse and follow docs/privacy.md.
- *No run after a feed run:* the feed's `publish` was skipped (nothing published: every delivery rejected
  or superseded), or the DAG is paused. Nothing is lost: the next run rebuilds everything.
"""


@dag(
    dag_id="catalog",
    schedule=PartitionedAssetTimetable(assets=AssetAny(*ASSETS)),
    start_date=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,  # one writer of catalog.duckdb at a time
    tags=["warehouse", "catalog", "privacy"],
    default_args=task_defaults(),
    doc_md=DOC,
)
def catalog():
    @task
    def refresh_catalog() -> list[str]:
        from tesoma import steps

        return steps.refresh_catalog()

    @task
    def audit() -> dict:
        from tesoma import steps

        return steps.audit()

    refresh_catalog() >> audit()


dag = catalog()
