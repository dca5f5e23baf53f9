"""Retention, once a day: deletes identifiable copies (raw/, quarantine/) past their time and expires the
warehouse's history past its retention."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import CronTriggerTimetable, dag, task

from tesoma.schedule import task_defaults

DOC = """
### retention — purge identifiable copies and expire old warehouse history

Two independent tasks:

- **purge** deletes archived deliveries in `raw/` older than `TESOMA_RAW_RETENTION_DAYS` (default 90)
  and quarantine folders older than `TESOMA_QUARANTINE_RETENTION_DAYS` (default 30), for finished
  deliveries only. The ledger keeps each delivery's accounting and records `purged_at`. See
  docs/privacy.md.
- **expire_history** expires the warehouse's Iceberg snapshots older than
  `TESOMA_SNAPSHOT_RETENTION_DAYS` (default 400), except those of the current state, of tagged states
  (`tesoma warehouse tag`) and of states younger than that, and deletes the data and metadata files no
  kept snapshot references. States that can no longer be read are marked expired. It holds the warehouse
  lock, so publishes wait for it. The same as `tesoma warehouse expire`.

**When it fails:** *purge* — usually a permission problem on the data root; the log names the path.
Until it succeeds, identifiable data is kept longer than agreed: tell the data protection officer if it
stays failed for more than a few days. *expire_history* — a bad `TESOMA_SNAPSHOT_RETENTION_DAYS` (the
message says what to set), or a catalog or table that cannot be read (the message names the table and
what to restore); until it succeeds old history and its files are only kept longer. Re-running either is
safe: what is already gone is skipped.
"""


@dag(
    dag_id="retention",
    schedule=CronTriggerTimetable("30 3 * * *", timezone="Europe/Helsinki"),
    start_date=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["privacy", "maintenance"],
    default_args=task_defaults(),
    doc_md=DOC,
)
def retention():
    @task
    def purge() -> dict:
        from tesoma import steps

        return steps.purge()

    @task
    def expire_history() -> dict:
        from tesoma.steps import upkeep

        return upkeep.expire_history()

    purge()
    expire_history()


dag = retention()
