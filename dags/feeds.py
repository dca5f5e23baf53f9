"""One DAG per partner feed, generated from config/feeds.yaml (when) and the feed's contract (what).

Thin by design: every task calls one `tesoma.steps` function; nothing heavy happens at import.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import Asset, CronTriggerTimetable, dag, get_current_context, task

import contracts
from tesoma.feed_config import FeedRun, load
from tesoma.schedule import cron


def feed_dag(run: FeedRun):
    table = contracts.load(run.feed).canonical_table
    outlets = [Asset(f"tesoma://warehouse/harmonised/{table}", group="warehouse")]

    @dag(
        dag_id=run.feed,
        schedule=CronTriggerTimetable(cron(run.cadence, run.run_at), timezone="Europe/Helsinki"),
        start_date=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=4,
        tags=[*(f"partner:{p}" for p in run.partners), f"feed:{run.feed}", run.cadence],
        default_args={
            "owner": run.owner,
            "retries": run.retries,
            # Minutes in production; the demo and the tests set seconds so a failure shows at once.
            "retry_delay": dt.timedelta(seconds=int(os.environ.get("TESOMA_RETRY_DELAY_SECONDS", "300"))),
            "retry_exponential_backoff": True,
        },
        doc_md=run.doc_md(),
    )
    def feed():
        @task
        def land() -> list[str]:
            from tesoma import steps
            from tesoma.schedule import delivery_date_for

            day = delivery_date_for(get_current_context()["logical_date"], run.cadence)
            return steps.pull(run.feed, day) if run.transport == "pull" else steps.land(run.feed, day)

        @task
        def ingest(delivery_id: str) -> dict:
            from tesoma import steps

            return steps.ingest(delivery_id)

        @task(trigger_rule="none_failed")
        def publish(delivery_ids: list[str]) -> list[dict]:
            from tesoma import steps

            return steps.publish_in_order(delivery_ids)

        @task(outlets=outlets, trigger_rule="none_failed")
        def refresh_catalog() -> list[str]:
            from tesoma import steps

            return steps.refresh_catalog()

        @task(trigger_rule="none_failed")
        def audit() -> dict:
            from tesoma import steps

            return steps.audit()

        ids = land()
        staged = ingest.expand(delivery_id=ids)
        staged >> publish(ids) >> refresh_catalog() >> audit()

    return feed()


for _run in load().values():
    if _run.feed in contracts.available():  # a feed listed before its contract exists is skipped
        globals()[f"dag_{_run.feed}"] = feed_dag(_run)
