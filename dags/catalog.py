"""catalog: brings the analysts' DuckDB catalog, the data docs and the privacy audit up to date after publications.

Scheduled on the harmonised tables (Airflow assets, one per canonical table), as a plain asset schedule:
a burst of publications makes one run, which covers every publication of the burst (listed in its note).
Thin by design: every task calls one `tesoma.steps` function.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, AssetAny, dag, get_current_context, task

import contracts
from orchestration.catalog_wait import most_wait, poke_seconds
from tesoma.feed_config import asset_uri, load
from tesoma.schedule import task_defaults

TABLES = sorted({t for run in load().values() if run.feed in contracts.available() for t in run.tables})
ASSETS = [Asset(asset_uri(table), group="warehouse") for table in TABLES]

# Why a plain asset schedule (Airflow 3.3 asset scheduling, checked in airflow/assets/manager.py and
# scheduler_job_runner.py of the pinned 3.3.2):
# - A PartitionedAssetTimetable turns every partition key into its own run, created at the next scheduler
#   tick whether or not a run is active (max_active_runs only holds them queued): one day of all feeds made
#   10 runs, each rebuilding everything. Mapping every key to one key would not help: a key's pending run is
#   created at once, so only events of the same tick would merge.
# - A plain schedule queues the DAG once per asset (AssetDagRunQueue), not once per event. While a run is
#   active (max_active_runs=1) no new run is created; when it ends, ONE run consumes every event that arrived
#   meanwhile (the events since the previous run). So a burst costs at most two runs: the one its first event
#   started and one for everything that came while that ran.
# - Airflow queues a plain schedule only for events WITHOUT a partition key: the feeds' `publish` emits its
#   events with the published partitions in the event's extra (`{"partitions": [...]}`), not as keys.
# A refresh that follows the warehouse's current state (not a partition) is correct for any number of events.
DOC = f"""
### catalog — the analysts' catalog, the data docs and the privacy audit, after publications

**Starts when:** a feed DAG's `publish` task has published into a harmonised table
({", ".join(f"`{t}`" for t in TABLES)}). Each table is an Airflow asset. Publications coalesce: while a
run is active no other starts; when it ends, **one** run follows for everything published meanwhile
(however many feeds and dates). A day of all feeds makes one or two runs, not one per publication. The
run's **note** lists the publications it covers (`<feed> <partner>/<YYYY-MM-DD>`, from the triggering
asset events) and the warehouse states it moved the catalog between (`state 12 → 21`).

**Tasks:** `wait_for_backfills` holds the refresh while a backfill runs (any `<feed>_history` run queued or
running): a backfill is one burst, refreshed once when it ends — or after
`TESOMA_CATALOG_MAX_WAIT_SECONDS` (default 1200) of waiting, so a long backfill still shows progress. It
looks every 15 s without holding a worker slot (state *up_for_reschedule*; its log says which runs it
waits for). With no backfill running it lets the refresh go at once.
→ `refresh_catalog` brings the DuckDB views in `warehouse/catalog.duckdb` to the current
*warehouse state* (the Iceberg snapshot of every table, advanced by each publish; the view
`warehouse_state` says which): only the views of tables whose snapshot changed are rebuilt, the rest are
copied from the previous catalog. It rewrites the quality page (`docs/quality.md`) and renders the Data Docs
pages of new results only → `audit` scans the files that are new or changed since an audit found them
clean (warehouse data, Iceberg metadata and manifests, docs, logs) for identifying data; files with
findings are reported on every run until fixed. One run at a time; any run brings everything up to
date, so a missed run is repaired by the next.

**When it fails:**
- *refresh_catalog failed:* usually a data file or the Iceberg catalog missing or unreadable (the log
  names the table and what to do; docs/operations.md, "The warehouse"), or the DuckDB file locked by an
  analyst's writable session. The warehouse itself is intact; fix the cause and clear the
  task (or trigger the DAG by hand: it needs no configuration, and rebuilds what changed).
- *Audit failed:* identifying data reached a shared place; the log names file and column (never the
  value). Stop sharing the warehouse and follow docs/privacy.md. `tesoma audit --full` rescans everything.
- *No run after a feed run:* the feed's `publish` was skipped (nothing published: every delivery rejected
  or superseded), or the DAG is paused. Nothing is lost: the next run catches up with every change.
"""


@dag(
    dag_id="catalog",
    schedule=AssetAny(*ASSETS),  # plain, not partitioned: a burst coalesces into one run (see above)
    start_date=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,  # one writer of catalog.duckdb at a time; events queued meanwhile make ONE next run
    tags=["warehouse", "catalog", "privacy"],
    default_args=task_defaults(),
    doc_md=DOC,
)
def catalog():
    @task.sensor(poke_interval=poke_seconds(), mode="reschedule", timeout=most_wait() + 30 * 60)
    def wait_for_backfills() -> bool:
        from orchestration.catalog_wait import backfills_settled

        return backfills_settled(get_current_context())

    @task
    def refresh_catalog() -> dict:
        from orchestration.run_notes import set_note
        from tesoma.steps.upkeep import publications_of, refresh_catalog_after

        context = get_current_context()
        events = [e for found in (context.get("triggering_asset_events") or {}).values() for e in found]
        refreshed = refresh_catalog_after(publications_of(events))
        set_note(context["ti"].dag_id, context["ti"].run_id, refreshed["note"])
        return refreshed

    @task
    def audit() -> dict:
        from tesoma import steps

        return steps.audit()

    wait_for_backfills() >> refresh_catalog() >> audit()


dag = catalog()
