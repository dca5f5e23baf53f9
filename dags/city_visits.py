"""City visits: the city's person-level visit extract, from landing to the warehouse, once a day."""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import Asset, CronTriggerTimetable, dag, get_current_context, task

SERVICE_EVENT = Asset("tesoma://warehouse/harmonised/service_event", group="warehouse")

DOC = """
### city_visits — the City of Tampere's visits at the Tesoma wellbeing centre

**What:** person-level contacts of the health centre, dental care, neuvola and social/wellbeing
counselling, one CSV per day (`landing/city/city_visits/city_visits_YYYYMMDD.csv`, contract
`contracts/city_visits.yaml`). Delivered by the city's reporting services by 06:00; this DAG runs at
07:00 Europe/Helsinki for the previous day.

**Tasks:** `land` archives the file(s) under `raw/` by SHA-256 and records them in the ledger →
`ingest` (one per delivery) reads, validates (Great Expectations suite from the contract),
pseudonymises and harmonises into staging, quarantining bad rows → `publish` replaces the day's
partition atomically → `refresh_catalog` rebuilds the analysts' DuckDB views → `audit` scans the
warehouse, docs and logs for identity codes, names, phone numbers and e-mails.

**When it fails or is late:**
- *No file:* `land` logs "no delivery found"; ask the city's reporting team (see the contract's
  `support`) and clear the run once the file has arrived — re-running is safe.
- *Rejected delivery:* the reason is in `quarantine/city/<delivery_id>/report.md` and in
  `tesoma status`; the partner sends a corrected file named `..._2.csv`, which replaces the first.
- *Missing pseudonym key:* `ingest` stops before reading data; set `TESOMA_PSEUDONYM_KEY` or the
  Airflow Variable `tesoma_pseudonym_secret`.
- *Audit failed:* identifying data reached a shared place. The log names file and column (never the
  value). Stop sharing the warehouse, find the cause, delete the partition and re-run; see docs/privacy.md.
"""


def _delivery_date() -> dt.date:
    """The run at 07:00 on day D processes the delivery for day D-1 (Helsinki calendar)."""
    from tesoma.schedule import delivery_date_for

    return delivery_date_for(get_current_context()["logical_date"])


@dag(
    dag_id="city_visits",
    schedule=CronTriggerTimetable("0 7 * * *", timezone="Europe/Helsinki"),
    start_date=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=4,
    tags=["partner:city", "feed:city_visits", "personal-data"],
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        # Minutes in production; the demo and the tests set seconds so a failure shows at once.
        "retry_delay": dt.timedelta(seconds=int(os.environ.get("TESOMA_RETRY_DELAY_SECONDS", "300"))),
        "retry_exponential_backoff": True,
    },
    doc_md=DOC,
)
def city_visits():
    @task
    def land() -> list[str]:
        from tesoma import steps

        return steps.land("city_visits", _delivery_date())

    @task
    def ingest(delivery_id: str) -> dict:
        from tesoma import steps

        return steps.ingest(delivery_id)

    @task(trigger_rule="none_failed")
    def publish(delivery_ids: list[str]) -> list[dict]:
        from tesoma import steps

        return steps.publish_in_order(delivery_ids)

    @task(outlets=[SERVICE_EVENT], trigger_rule="none_failed")
    def refresh_catalog() -> list[str]:
        from tesoma import steps

        return steps.refresh_catalog()

    @task(trigger_rule="none_failed")
    def audit() -> dict:
        from tesoma import steps

        return steps.audit()

    ids = land()
    staged = ingest.expand(delivery_id=ids)
    published = publish(ids)
    staged >> published >> refresh_catalog() >> audit()


dag = city_visits()
