"""Retention: deletes identifiable copies (raw/, quarantine/) past their time, once a day."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import CronTriggerTimetable, dag, task

from tesoma.schedule import task_defaults

DOC = """
### retention — purge identifiable copies past their retention period

Deletes archived deliveries in `raw/` older than `TESOMA_RAW_RETENTION_DAYS` (default 90) and
quarantine folders older than `TESOMA_QUARANTINE_RETENTION_DAYS` (default 30), for finished
deliveries only. The ledger keeps each delivery's accounting and records `purged_at`; the
pseudonymised warehouse is not touched. See docs/privacy.md.

**When it fails:** usually a permission problem on the data root; the log names the path. Re-running
is safe (deleting what is already gone is a no-op). Until it succeeds, identifiable data is kept
longer than agreed: tell the data protection officer if it stays failed for more than a few days.
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

    purge()


dag = retention()
