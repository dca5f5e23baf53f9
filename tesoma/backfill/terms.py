"""The command's terms: where Airflow is, what ``--rerun`` means, and its two kinds of error."""

from __future__ import annotations

DEFAULT_URL = "http://127.0.0.1:8080"
URL_VARIABLE = "TESOMA_AIRFLOW_URL"
USER_VARIABLE, PASSWORD_VARIABLE = "TESOMA_AIRFLOW_USERNAME", "TESOMA_AIRFLOW_PASSWORD"
RERUN = {"none": "none", "failed": "failed", "completed": "completed"}
"""``--rerun`` → Airflow's ``reprocess_behavior``: what happens to a date that already has a run."""
FINISHED = ("success", "failed")
DONE_STATES = ("published", "rejected", "superseded")
"""Ledger states of a delivery that is through the pipeline."""
HISTORY_MIN_DAYS = 28
"""Ranges of this many days or more go through the history DAGs (unless ``--daily``): from about a month of
dates on, batches beat a run per delivery date; shorter ranges look and behave as daily operation."""
PAGE = 100  # Airflow's default [api] maximum_page_limit: larger limits are silently cut to it
EXIT_OK, EXIT_FAILED = 0, 1


class BackfillError(ValueError):
    """A problem the operator can fix (a bad range, an unknown feed, Airflow not reachable, bad credentials);
    the message says what to do. A ValueError, so ``tesoma`` prints it as one ``tesoma: error:`` line."""


class AirflowError(Exception):
    """An HTTP error answer of Airflow's REST API: its status and the ``detail`` it gave."""

    def __init__(self, status: int, detail: str, path: str):
        super().__init__(f"HTTP {status} from {path}: {detail}")
        self.status, self.detail, self.path = status, detail, path


