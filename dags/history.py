"""One history DAG per partner feed, ``<feed>_history``: a month of deliveries in batches, for backfills.

plan (the month's delivery dates, in batches) → process_batch (mapped: one task per batch) → report

The daily feed DAGs (dags/feeds.py) process one delivery date per run, paying a run's start-up, the
imports and one warehouse commit per delivery. Reprocessing history that way (five years of every feed is
about 15,000 deliveries) takes days. A history run takes a whole month: `plan` lists the month's delivery
dates (the files in landing/; for a pulled feed, its cadence) and cuts them into batches
(`TESOMA_BATCH_DATES`, default 8 dates); `process_batch` is mapped over the batches (dynamic task
mapping) in the pool `TESOMA_BATCH_POOL` (the stacks create `tesoma_batches`; `default_pool` otherwise).
Each batch lands and ingests every delivery on its own — its ledger row, row accounting, quarantine and
quality results, as in a daily run — and publishes the batch with one commit per table and one warehouse
state (tesoma/steps/batches.py). Deliveries already published are left as they are: running a month
again changes nothing.

Monthly schedule, paused at creation and ``catchup=False``: these DAGs are meant to be run by Airflow's
backfill API (`airflow backfill create --dag-id <feed>_history --from-date … --to-date …`, or the UI's
"Backfill"), on PostgreSQL (Airflow refuses backfills on SQLite). A history run emits no asset events:
refresh the catalog once the backfill is done (`tesoma refresh` or trigger the `catalog` DAG).

Thin by design: every task calls one library function; nothing heavy happens at import.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task
from airflow.timetables.interval import CronDataIntervalTimetable

import contracts
from orchestration.batch_tasks import batch_pool
from tesoma.feed_config import FeedRun, load
from tesoma.schedule import EARLIEST, task_defaults

DOC = """
### {feed} history — a month of `{feed}` in batches (for backfills)

**Tasks:** `plan` lists the month's delivery dates ({source}) in batches → `process_batch` (one mapped task
per batch, pool `{pool}`) lands and ingests each delivery on its own and publishes the batch at once
(one commit per table, one warehouse state) → `report` puts every delivery's row accounting, rejections
first, in its log and the run's note.

**Run it** with Airflow's backfill (PostgreSQL only): `airflow backfill create --dag-id {feed}_history
--from-date 2022-01-01 --to-date 2026-10-31`. Running a month again changes nothing. Afterwards, refresh
the analysts' catalog once (`catalog` DAG).

**When it fails:**
- *A `process_batch` task failed with REJECTED lines:* those deliveries were rejected (the others of the
  batch are published); the reasons are in the task's log, the run's note, `tesoma status` and
  `quarantine/<partner>/<delivery>/report.md`. The partner sends a corrected file; run the month again.
- *A `process_batch` task failed otherwise:* see its log; clearing it reruns the batch safely.
- *Missing pseudonym key:* set `TESOMA_PSEUDONYM_KEY` or the Airflow Variable `tesoma_pseudonym_secret`.
"""


def history_dag(run: FeedRun):
    source = "its cadence: the source is asked" if run.transport == "pull" else "the files in landing/"

    @dag(
        dag_id=f"{run.feed}_history",
        schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="Europe/Helsinki"),  # a run per month
        start_date=EARLIEST,  # which dates a feed has is its contract's: plan skips uncovered dates
        catchup=False,
        is_paused_upon_creation=True,
        max_active_runs=4,
        tags=[*(f"partner:{p}" for p in run.partners), f"feed:{run.feed}", "history"],
        default_args=task_defaults(run.owner, run.retries),
        doc_md=DOC.format(feed=run.feed, source=source, pool=batch_pool()),
    )
    def history():
        @task
        def plan() -> list[list[str]]:
            from orchestration.batch_tasks import month_of, plan_month

            return plan_month(run.feed, month_of(get_current_context()))

        @task(pool=batch_pool())
        def process_batch(partitions: list[str]) -> dict:
            from orchestration.batch_tasks import run_batch
            from orchestration.delivery_tasks import is_final_attempt

            return run_batch(run.feed, partitions, final_attempt=is_final_attempt(get_current_context()["ti"]))

        @task(trigger_rule="all_done")
        def report(batches: list[list[str]]) -> list[dict]:
            from orchestration.batch_tasks import month_of, report_month

            context = get_current_context()
            return report_month(run.feed, month_of(context), batches, context)

        batches = plan()
        process_batch.expand(partitions=batches) >> report(batches)

    return history()


for _run in load().values():
    if _run.feed in contracts.available():  # as dags/feeds.py: a feed listed before its contract exists is skipped
        globals()[f"dag_{_run.feed}_history"] = history_dag(_run)
