"""The pipeline's steps. A DAG task or a `tesoma` command calls exactly one of these.

Each step reads and writes one delivery (or one partition) and can be re-run safely:

- :func:`land` — find a feed's files for a date, archive them under ``raw/`` by SHA-256, record them
  (:func:`pull` does the same for a feed fetched from the partner's database);
- :func:`ingest` — read, validate, pseudonymise and harmonise one delivery into ``staging/``;
  problems go to ``quarantine/`` (its named stages are in :mod:`tesoma.steps.ingestion`);
- :func:`publish` — commit a staged delivery to the warehouse's Iceberg tables, visible all at once;
  :func:`publish_batch` — several at once, one commit per table and one new warehouse state for them all;
- :func:`refresh_catalog` — rebuild the analysts' DuckDB views; :func:`audit`, :func:`purge` — privacy
  audit and retention; :func:`expire_history` — expire warehouse snapshots past their retention;
- :func:`process_date`, :func:`process_all`, :func:`process_range`, :func:`reprocess` — whole runs without a
  scheduler;
- :func:`process_batch` — land, ingest and publish a batch of a feed's partitions (a backfill's task).

Return values are small dicts of ids and counts: safe for XCom and logs (no row data).
"""

from tesoma.steps.batches import process_batch, publish_batch
from tesoma.steps.ingestion import DEFAULT_MAX_REJECTED_SHARE, check_canonical, contract_empty, ingest
from tesoma.steps.landing import REPORTING_SOURCE, land, pull
from tesoma.steps.publishing import publish, publish_in_order
from tesoma.steps.runs import process_all, process_date, process_range, reprocess
from tesoma.steps.upkeep import PrivacyFindings, audit, expire_history, purge, refresh_catalog

__all__ = ["DEFAULT_MAX_REJECTED_SHARE", "REPORTING_SOURCE", "PrivacyFindings", "audit", "check_canonical",
           "contract_empty", "expire_history", "ingest", "land", "process_all", "process_batch", "process_date",
           "process_range", "publish", "publish_batch", "publish_in_order", "pull", "purge", "refresh_catalog",
           "reprocess"]
