"""One DAG per partner feed, generated from config/feeds.yaml (when) and the feed's contract (what).

drop feeds: wait_for_delivery (deferrable) → land → ingest (one per delivery) → publish → report
pull feeds:                                  land → ingest (one per delivery) → publish → report

Which dates a feed has is its contract's (``servicePeriodStart``), not the DAG's: ``start_date`` is far in
the past (with ``catchup=False`` nothing old is scheduled), so a run for any date gets its tasks, and the
first one fails saying the date is not covered. A rejected delivery fails its ``ingest`` (no retries);
the others still publish; ``report`` puts every delivery's row accounting in its log and the run's note
and fails the run when anything failed (orchestration/delivery_tasks.py).

`publish` commits each delivery to the warehouse's Iceberg tables (one commit per table) and advances the
warehouse state, so readers see a delivery all at once (tesoma/steps/publishing.py). It emits an event on
each harmonised table it wrote (an Airflow asset), with the published partitions `<partner>/<YYYY-MM-DD>`
in the event's extra; those events start the `catalog` DAG (dags/catalog.py), and a burst of them
coalesces into one catalog run.
Each DAG has a deadline alert (`late_after` in config/feeds.yaml).

Thin by design: every task calls one library function; nothing heavy happens at import.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, dag, get_current_context, task

import contracts
from orchestration.delivery_sensor import DeliverySensor, deadline_alert
from orchestration.delivery_tasks import IngestDelivery
from orchestration.timetable import DeliveryDateTimetable
from tesoma.feed_config import FeedRun, asset_uri, load
from tesoma.schedule import EARLIEST, cron, task_defaults


def feed_dag(run: FeedRun):
    outlets = [Asset(asset_uri(table), group="warehouse") for table in run.tables]

    @dag(
        dag_id=run.feed,
        schedule=DeliveryDateTimetable(cron(run.cadence, run.run_at), timezone="Europe/Helsinki", feed=run.feed,
                                       cadence=run.cadence),  # runs named <feed>__<delivery date>
        start_date=EARLIEST,  # the feed's dates are its contract's: see refuse_uncovered
        catchup=False,
        max_active_runs=4,
        tags=[*(f"partner:{p}" for p in run.partners), f"feed:{run.feed}", run.cadence],
        default_args=task_defaults(run.owner, run.retries),
        deadline=deadline_alert(run.feed, run.cadence, run.late_after),
        doc_md=run.doc_md(),
    )
    def feed():
        def delivery_date() -> dt.date:
            from tesoma.schedule import delivery_date_for

            context = get_current_context()
            return delivery_date_for(context.get("logical_date") or context["dag_run"].run_after, run.cadence)

        @task
        def land() -> list[str]:
            from orchestration.delivery_tasks import operator_problems_fail_at_once, refuse_uncovered
            from tesoma import steps

            day = delivery_date()
            refuse_uncovered(run.feed, day)
            with operator_problems_fail_at_once():
                return steps.pull(run.feed, day) if run.transport == "pull" else steps.land(run.feed, day)

        # all_done_min_one_success: a rejected delivery (its ingest failed) does not hold back the others
        @task(outlets=outlets, trigger_rule="all_done_min_one_success")
        def publish(delivery_ids: list[str], outlet_events=None) -> list[dict]:
            from airflow.sdk.exceptions import AirflowSkipException

            from orchestration.delivery_tasks import publishable
            from tesoma import steps
            from tesoma.feed_config import published_partitions

            results = steps.publish_in_order(publishable(delivery_ids))
            partitions = published_partitions(results)
            if not partitions:  # no asset event, so the catalog DAG is not started for nothing
                raise AirflowSkipException(f"nothing published ({len(results)} delivery(ies) rejected or superseded)")
            # Plain (not partitioned) events: Airflow queues the catalog DAG once per asset for those, so a
            # burst of publishes coalesces into one catalog run (dags/catalog.py); the partitions ride along.
            for asset in outlets:
                outlet_events[asset].extra = {"partitions": partitions}
            return results

        @task(trigger_rule="all_done")
        def report() -> list[dict]:
            from orchestration.delivery_tasks import report_run

            return report_run(run.feed, delivery_date(), get_current_context())

        ids = land()
        if run.waits_for_files:
            DeliverySensor(
                task_id="wait_for_delivery", feed=run.feed, cadence=run.cadence, expect=run.expect,
                poll_interval=run.poll_every, timeout=run.wait_up_to,
                soft_fail=run.if_not_delivered == "skip",
            ) >> ids
        staged = IngestDelivery.partial(task_id="ingest").expand(delivery_id=ids)
        staged >> publish(ids) >> report()

    return feed()


for _run in load().values():
    if _run.feed in contracts.available():  # a feed listed before its contract exists is skipped
        globals()[f"dag_{_run.feed}"] = feed_dag(_run)
