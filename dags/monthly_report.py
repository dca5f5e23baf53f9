"""monthly_report: publishes the alliance scorecard of the previous month once its deliveries are in.

wait_for_deliveries (reschedules itself until the month is complete) → publish (scorecard.publication)

Thin by design: every task calls one library function; nothing heavy happens at import.
"""

from __future__ import annotations

import datetime as dt
import logging

from airflow.sdk import CronTriggerTimetable, dag, get_current_context, task

from tesoma.schedule import task_defaults

WAIT_UP_TO = dt.timedelta(days=5)
"""How long after the scheduled run (the 5th) the month may still be completed; then the run fails."""
LOOK_EVERY = dt.timedelta(hours=3)
REPORTS = "/tesoma/reports"

DOC = f"""
### monthly_report — the alliance scorecard of the previous month, published and reported

**Runs:** on the 5th of every month at 09:00 (Helsinki) for the previous month (a run on 5 November
publishes October). Trigger it by hand with a logical date in the month after the one to publish.

**Tasks:** `wait_for_deliveries` checks in the ledger that the month is complete: every carried daily feed
has a published delivery of each partner for every day (NGO feeds, where a day without sessions is normal,
excepted), and the monthly feeds (`costs`) have the month's. Until then it logs, feed by feed, the dates
still missing and looks again every {LOOK_EVERY.seconds // 3600} hours (it gives its worker slot back
meanwhile) → `publish` tags the warehouse state `publication-<YYYY-MM>-<n>`, builds the marts (dbt) for
that state, passes every published table through disclosure control, scores the alliance's KPIs and
budget on the published values and writes `published/<id>/` (Parquet, `manifest.json`, `report.html`),
then refreshes the analysts' catalog (`kpi_*` views). The run's note gives the publication id and the
report's link.

**The report:** the latest is always at [{REPORTS}/latest]({REPORTS}/latest) (also under *Browse →
Scorecard report* in this UI); each publication at `{REPORTS}/<publication id>`. From the command line:
`tesoma report --month YYYY-MM`, and `tesoma report --reproduce <id>` rebuilds a publication from its
tag and says, table by table, whether it is identical. docs/steering-group.md explains the report.

**When it fails:**
- *wait_for_deliveries failed:* the month was still incomplete {WAIT_UP_TO.days} days after the run was due;
  the log lists the feed, partner and dates missing. Rerun those feed DAGs for the dates (or ask the partner
  for the delivery), then clear this task. To publish an incomplete month on purpose, run
  `tesoma report --month YYYY-MM` (the report lists what is missing).
- *publish failed:* the log says which step: a dbt model or test of the marts (fix the model, see
  docs/kpis.md), disclosure control refusing a table (a column without a rule: docs/disclosure.md), or
  config/alliance.yaml refused (file, key and fix in the message). Nothing was published: a failed publish
  leaves no folder behind and `latest` unchanged. Clear the task when fixed; a rerun takes the next id.
"""


def _month() -> dt.date:
    """The month a run publishes: the one before its logical date (Helsinki)."""
    from tesoma.schedule import delivery_date_for

    context = get_current_context()
    return delivery_date_for(context.get("logical_date") or context["dag_run"].run_after, "monthly")


@dag(
    dag_id="monthly_report",
    schedule=CronTriggerTimetable("0 9 5 * *", timezone="Europe/Helsinki"),
    start_date=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,  # one publication at a time: ids are numbered per month
    tags=["scorecard", "publication", "monthly"],
    default_args=task_defaults("analytics"),
    doc_md=DOC,
)
def monthly_report():
    @task.sensor(poke_interval=LOOK_EVERY.total_seconds(), timeout=(WAIT_UP_TO + LOOK_EVERY).total_seconds(),
                 mode="reschedule")
    def wait_for_deliveries():
        from airflow.sdk import PokeReturnValue
        from airflow.sdk.exceptions import AirflowFailException

        from scorecard import publication

        month = _month()
        missing = publication.missing_deliveries(month)
        if not missing:
            return PokeReturnValue(is_done=True, xcom_value=month.isoformat())
        listed = f"{month:%Y-%m} is not complete: " + "; ".join(missing)
        context = get_current_context()
        due = context.get("logical_date") or context["dag_run"].run_after  # a backfill of an old month: at once
        if dt.datetime.now(dt.UTC) - due > WAIT_UP_TO:
            raise AirflowFailException(f"{listed}. Publish the missing deliveries, then clear this task")
        logging.getLogger("airflow.task").warning("%s; looking again in %s", listed, LOOK_EVERY)
        return PokeReturnValue(is_done=False)

    @task
    def publish() -> dict:
        from orchestration.run_notes import set_note
        from scorecard import publication

        done = publication.publish_month(_month())
        ti = get_current_context()["ti"]
        set_note(ti.dag_id, ti.run_id, f"**publication {done['publication_id']}** ({done['month'][:7]}), warehouse "
                 f"state {done['state_id']} tagged `{done['tag']}`; report: {REPORTS}/{done['publication_id']} "
                 f"(file {done['report']})")
        return done

    wait_for_deliveries() >> publish()


dag = monthly_report()
