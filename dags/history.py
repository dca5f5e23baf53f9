"""One history DAG per partner feed, ``<feed>_history``: a month of deliveries in batches, for backfills.

plan (the month's delivery dates, in batches) → process_batch (mapped: one task per batch) → announce → report

The daily feed DAGs (dags/feeds.py) process one delivery date per run, paying a run's start-up, the
imports and one warehouse commit per delivery. Reprocessing history that way (five years of every feed is
about 15,000 deliveries) takes days. A history run takes a whole month: `plan` lists the month's delivery
dates (the files in landing/; for a pulled feed, its cadence) and cuts them into batches
(`TESOMA_BATCH_DATES`, default 31 dates: the whole month); `process_batch` is mapped over the batches (dynamic task
mapping) in the pool `TESOMA_BATCH_POOL` (the stacks create `tesoma_batches`; `default_pool` otherwise).
Each batch lands and ingests every delivery on its own — its ledger row, row accounting, quarantine and
quality results, as in a daily run — and publishes the batch with one commit per table and one warehouse
state (tesoma/steps/batches.py). Deliveries already published are left as they are: running a month
again changes nothing. A run's configuration ``{"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}`` limits it to
the dates of a range (``tesoma backfill`` passes its range, so a month it covers in part is processed in
part); without one a run takes its whole month.

Monthly intervals that only a backfill creates (``BackfillOnlyTimetable``), paused at creation: these DAGs
are run by Airflow's backfill API (or triggered for a month); unpausing one starts nothing by itself (a
scheduled run, should one ever exist, plans no batch: the daily DAGs process the current months). Run
them through the backfill API (`tesoma backfill`, `airflow backfill create --dag-id
<feed>_history --from-date … --to-date …`, or the UI's "Backfill"), on PostgreSQL (Airflow refuses
backfills on SQLite). After the batches, `announce` emits an asset event per harmonised table of the
feed, with the partitions the run published in the event's extra (``{"partitions": [...]}``), as the daily
DAGs' ``publish`` does: plain events, so the ``catalog`` DAG coalesces a burst of history runs into one or
two refreshes (dags/catalog.py). Nothing published, no event.

Thin by design: every task calls one library function; nothing heavy happens at import.
"""

from __future__ import annotations

from airflow.sdk import Asset, dag, get_current_context, get_parsing_context, task

import contracts
from orchestration.batch_tasks import batch_pool
from orchestration.timetable import BackfillOnlyTimetable
from tesoma.feed_config import FeedRun, asset_uri, load
from tesoma.schedule import EARLIEST, task_defaults

DOC = """
### {feed} history — a month of `{feed}` in batches (for backfills)

**Tasks:** `plan` lists the month's delivery dates ({source}) in batches → `process_batch` (one mapped task
per batch, pool `{pool}`) lands and ingests each delivery on its own and publishes the batch at once
(one commit per table, one warehouse state) → `announce` tells the `catalog` DAG what was published (asset
events on {tables}; skipped when nothing was) → `report` puts every delivery's row accounting, rejections
first, in its log and the run's note.

**Run it** with `tesoma backfill --from 2022-01-01 --to 2026-10-31 --feed {feed}` (PostgreSQL only; it
passes the range as the runs' configuration `{{"from": …, "to": …}}`, so a month covered in part is processed
in part), or `airflow backfill create --dag-id {feed}_history --from-date 2022-01-01 --to-date 2026-10-31`
(whole months). Dates before the contract's service period need `TESOMA_HISTORY_FROM` (docs/operations.md,
"Backfilling history"). Running a month again changes nothing. The catalog refreshes by itself after.

**When it fails:**
- *A `process_batch` task failed with REJECTED lines:* those deliveries were rejected (the others of the
  batch are published); the reasons are in the task's log, the run's note, `tesoma status` and
  `quarantine/<partner>/<delivery>/report.md`. The partner sends a corrected file; run the month again.
- *A `process_batch` task failed otherwise:* see its log; clearing it reruns the batch safely.
- *Missing pseudonym key:* set `TESOMA_PSEUDONYM_KEY` or the Airflow Variable `tesoma_pseudonym_secret`.
"""


def history_dag(run: FeedRun):
    source = "its cadence: the source is asked" if run.transport == "pull" else "the files in landing/"
    outlets = [Asset(asset_uri(table), group="warehouse") for table in run.tables]

    @dag(
        dag_id=f"{run.feed}_history",
        # a run per month, made by backfills only (unpausing starts nothing: orchestration/timetable.py)
        schedule=BackfillOnlyTimetable("0 0 1 * *", timezone="Europe/Helsinki"),
        start_date=EARLIEST,  # which dates a feed has is its contract's: plan skips uncovered dates
        catchup=False,
        is_paused_upon_creation=True,
        max_active_runs=4,
        tags=[*(f"partner:{p}" for p in run.partners), f"feed:{run.feed}", "history"],
        default_args=task_defaults(run.owner, run.retries),
        doc_md=DOC.format(feed=run.feed, source=source, pool=batch_pool(),
                          tables=", ".join(f"`{t}`" for t in run.tables)),
    )
    def history():
        @task
        def plan() -> list[list[str]]:
            from orchestration.batch_tasks import month_of, plan_month, range_of

            context = get_current_context()
            if context["dag_run"].run_type == "scheduled":
                # The timetable makes no scheduled run; were one made (an older timetable), the daily DAGs
                # process its month: this run does nothing.
                print("a scheduled run of a history DAG does nothing: history runs are backfilled or triggered")
                return []
            return plan_month(run.feed, month_of(context), range_of(context))

        @task(pool=batch_pool())
        def process_batch(partitions: list[str]) -> dict:
            from orchestration.batch_tasks import run_batch
            from orchestration.delivery_tasks import is_final_attempt

            return run_batch(run.feed, partitions, final_attempt=is_final_attempt(get_current_context()["ti"]))

        @task(outlets=outlets, trigger_rule="all_done")
        def announce(batches: list[list[str]], outlet_events=None) -> list[str]:
            import datetime as dt

            from airflow.sdk.exceptions import AirflowSkipException

            from orchestration.batch_tasks import announce as published_by_run

            started = get_current_context()["dag_run"].start_date
            partitions = published_by_run(run.feed, batches, started.astimezone(dt.UTC) if started else None)
            if not partitions:  # no asset event, so the catalog DAG is not started for nothing
                raise AirflowSkipException("nothing published by this run")
            # Plain events (no partition key), the partitions in the extra: the catalog coalesces them
            # (dags/catalog.py); a partitioned event would make a catalog run per partition.
            for asset in outlets:
                outlet_events[asset].extra = {"partitions": partitions}
            return partitions

        @task(trigger_rule="all_done")
        def report(batches: list[list[str]]) -> list[dict]:
            from orchestration.batch_tasks import month_of, report_month

            context = get_current_context()
            return report_month(run.feed, month_of(context), batches, context)

        batches = plan()
        process_batch.expand(partitions=batches) >> announce(batches) >> report(batches)

    return history()


# A task parses this file before it runs: Airflow's parsing context names the task's DAG, and only that one is
# built (the DAG processor, where the context names none, builds them all).
_wanted = get_parsing_context().dag_id
_available = contracts.available()  # as dags/feeds.py: a feed listed before its contract exists is skipped
for _run in load().values():
    if _run.feed in _available and _wanted in (None, f"{_run.feed}_history"):
        globals()[f"dag_{_run.feed}_history"] = history_dag(_run)
