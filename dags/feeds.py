"""One DAG per partner feed, generated from config/feeds.yaml (when) and the feed's contract (what).

drop feeds: wait_for_delivery (deferrable) → land → ingest (one per delivery) → publish
pull feeds:                                  land → ingest (one per delivery) → publish

`publish` emits an event on each harmonised table it wrote (an Airflow asset), with one partition key
`<partner>/<YYYY-MM-DD>` per published delivery; those events start the `catalog` DAG (dags/catalog.py).
Each DAG has a deadline alert (`late_after` in config/feeds.yaml).

Thin by design: every task calls one library function; nothing heavy happens at import.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, CronTriggerTimetable, dag, get_current_context, task

import contracts
from orchestration.delivery_sensor import DeliverySensor, deadline_alert
from tesoma.feed_config import FeedRun, asset_uri, load
from tesoma.schedule import cron, task_defaults


def feed_dag(run: FeedRun):
    outlets = [Asset(asset_uri(table), group="warehouse") for table in run.tables]

    @dag(
        dag_id=run.feed,
        schedule=CronTriggerTimetable(cron(run.cadence, run.run_at), timezone="Europe/Helsinki"),
        start_date=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=4,
        tags=[*(f"partner:{p}" for p in run.partners), f"feed:{run.feed}", run.cadence],
        default_args=task_defaults(run.owner, run.retries),
        deadline=deadline_alert(run.feed, run.cadence, run.late_after),
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

        @task(outlets=outlets, trigger_rule="none_failed_min_one_success")
        def publish(delivery_ids: list[str], outlet_events=None) -> list[dict]:
            from airflow.sdk.exceptions import AirflowSkipException

            from tesoma import steps
            from tesoma.feed_config import published_partitions

            results = steps.publish_in_order(delivery_ids)
            partitions = published_partitions(results)
            if not partitions:  # no asset event, so the catalog DAG is not started for nothing
                raise AirflowSkipException(f"nothing published ({len(results)} delivery(ies) rejected or superseded)")
            for asset in outlets:
                outlet_events[asset].add_partitions(partitions)
            return results

        ids = land()
        if run.waits_for_files:
            DeliverySensor(
                task_id="wait_for_delivery", feed=run.feed, cadence=run.cadence, expect=run.expect,
                poll_interval=run.poll_every, timeout=run.wait_up_to,
                soft_fail=run.if_not_delivered == "skip",
            ) >> ids
        staged = ingest.expand(delivery_id=ids)
        staged >> publish(ids)

    return feed()


for _run in load().values():
    if _run.feed in contracts.available():  # a feed listed before its contract exists is skipped
        globals()[f"dag_{_run.feed}"] = feed_dag(_run)
