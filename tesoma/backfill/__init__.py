"""``tesoma backfill``: one command that backfills feeds over a range of delivery dates through Airflow.

    tesoma backfill --from 2022-01-01 --to 2026-09-30                 every feed (history DAGs: a month or more)
    tesoma backfill --feed city_visits --feed costs --from … --to …   some feeds
    tesoma backfill --daily --from 2026-10-01 --to 2026-10-03         the daily feed DAGs, a run per delivery date

The operator names *delivery dates*; which DAG does the work (:func:`dag_for`, :func:`use_history`):

- a range of :data:`HISTORY_MIN_DAYS` days or more goes through the feeds' **history DAGs**
  (``<feed>_history``, dags/history.py): one run per month, whose tasks take batches of delivery dates
  and publish each batch with one warehouse commit, so that five years do not pay a run's start-up and a
  commit per delivery. The range rides along as each run's configuration (``{"from": …, "to": …}``), so
  a first or last month the range covers in part is processed only in part. Airflow backfills only months
  that are over: the dates of the current month are left to the daily DAGs (the command says so);
- a shorter range, or any range with ``--daily``, goes through the **daily feed DAGs** (one run per feed
  and delivery date, as in daily operation: a daily feed's run for 1 October is at 07:00 on 2 October, a
  monthly feed's run for October on 2 November: :func:`tesoma.schedule.run_time_for`); ``--history``
  forces the history DAGs for a short range.

Dates before a contract's ``servicePeriodStart`` are left out (and said so) unless the operator set
``TESOMA_HISTORY_FROM`` (:func:`tesoma.feed_config.history_from`) here and where the tasks run.

It goes through Airflow's own backfill REST API
(``POST /api/v2/backfills``, the same as ``airflow backfill create`` and the UI's *Backfill* dialog), so the
runs are ordinary backfill runs in the grid, and the scheduler, its pools and its executor do the work.

What it does, in order:

1. asks Airflow which runs the backfill would create (``POST /api/v2/backfills/dry_run``); with none
   left for any feed it says "nothing to do: every date already ran" and prints the summary. Dates that
   already have a run are skipped (``reprocess_behavior`` ``none``); ``--rerun failed`` runs the failed
   ones again, ``--rerun completed`` every one (after a fix in the code or a mapping). A history month
   that has a run but delivery dates of the range the ledger does not have done (a range that grew, a
   month backfilled in part, files that arrived after its run) is run again with the new range
   (:mod:`~tesoma.backfill.reruns`; the command names each such month and why);
2. creates one backfill per feed, then unpauses the DAGs that are paused (Airflow runs no backfill run of a
   paused DAG; created first, the backfill's runs exist before unpausing could schedule one of its dates);
3. shows progress until every backfill is complete: deliveries done of the total (from the ledger, the
   total from the files in ``landing/``), DAG runs finished, deliveries per second and the time left — one
   updating line on a terminal, plain lines otherwise;
4. ends with the range's summary from the ledger: deliveries published (and how many of them had
   quarantined rows), rejected (each with the ledger's reason), superseded, missing, and the wall time.

Airflow refuses backfills on its embedded SQLite database (``airflow standalone``, ``make airflow``) with
HTTP 503; the command then explains that limit and what to run instead, and exits 1.

Where Airflow is: ``--airflow-url``, else ``TESOMA_AIRFLOW_URL``, else http://127.0.0.1:8080. A token comes
from ``/auth/token``: with ``TESOMA_AIRFLOW_USERNAME`` and ``TESOMA_AIRFLOW_PASSWORD`` set, as that user
(the production stack); without them, the simple auth manager's all-admins token (``make airflow``, tests).

The package, one module per part of the command's way (each re-exported here, so ``from tesoma import
backfill`` gives all of it): :mod:`~tesoma.backfill.terms` (where Airflow is, ``--rerun``, the errors),
:mod:`~tesoma.backfill.dates` (what to backfill: feeds, DAGs, run windows), :mod:`~tesoma.backfill.airflow_api`
(the REST API: token, backfills, runs), :mod:`~tesoma.backfill.ledger_view` (deliveries done, files in
landing/), :mod:`~tesoma.backfill.reruns` (history months to run again), :mod:`~tesoma.backfill.progress`
(the progress line), :mod:`~tesoma.backfill.summary` (the summary and the SQLite explanation) and
:mod:`~tesoma.backfill.command` (:func:`run`).
"""

from __future__ import annotations

from tesoma.backfill.airflow_api import (  # noqa: F401
    Airflow,
    Backfill,
    SQLiteRefused,
    _body,
    complete,
    plan,
    start,
)
from tesoma.backfill.command import (  # noqa: F401
    follow,
    run,
    sqlite_explanation,
)
from tesoma.backfill.dates import (  # noqa: F401
    Window,
    dag_for,
    delivery_dates,
    feeds,
    use_history,
    window,
)
from tesoma.backfill.ledger_view import (  # noqa: F401
    RangeLedger,
    Tally,
    expected_in_landing,
    in_landing,
)
from tesoma.backfill.progress import (  # noqa: F401
    Progress,
    progress_line,
)
from tesoma.backfill.reruns import (  # noqa: F401
    Month,
    months,
    revise,
    span,
)
from tesoma.backfill.summary import (  # noqa: F401
    Summary,
    explain_failures,
    summarise,
)
from tesoma.backfill.terms import (  # noqa: F401
    DEFAULT_URL,
    DONE_STATES,
    EXIT_FAILED,
    EXIT_OK,
    FINISHED,
    HISTORY_MIN_DAYS,
    PAGE,
    PASSWORD_VARIABLE,
    RERUN,
    URL_VARIABLE,
    USER_VARIABLE,
    AirflowError,
    BackfillError,
)
