"""What a feed run shows the operator: refusals, rejections and each delivery's row accounting.

The feed DAGs (dags/feeds.py) stay thin; this is the Airflow side of their tasks:

- :func:`refuse_uncovered` — the run's first task fails, without retries, when the run's delivery date is
  before the feed's service period (the contract's ``servicePeriodStart``), saying so.
- :class:`IngestDelivery` — the ``ingest`` task (one per delivery): ``tesoma.steps.ingest``; a rejected
  delivery FAILS the task, without retries, after logging ``REJECTED <delivery>: <rule>: <message>``
  and its row accounting. Its extra links open the delivery's Data Docs and quarantine report
  (served by the API server, :mod:`orchestration.plugin`).
- :func:`publishable` — the deliveries whose ingest finished (staged or rejected): one delivery whose
  ingest crashed does not keep the others of the run from being published.
- :func:`report_run` — the run's last task: logs the row accounting of every delivery of the run, writes
  it (with the rejections first) into the run's note, and fails when any task of the run failed, so a
  run with a rejected delivery is failed (red) even though the other deliveries were published.

Only ids, rule names and counts are logged or written, never a delivered value.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
from collections.abc import Iterator
from typing import Any

from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

log = logging.getLogger(__name__)

URL_PREFIX = "/tesoma"
"""Where :mod:`orchestration.plugin` serves the Data Docs and the quarantine reports in the API server."""

_DELIVERY_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def refuse_uncovered(feed: str, delivery_date: dt.date) -> None:
    """Fail the task (no retry can help) when ``delivery_date`` is before the feed's service period."""
    from tesoma.feed_config import not_covered

    why = not_covered(feed, delivery_date)
    if why is not None:
        raise AirflowFailException(why)


@contextlib.contextmanager
def operator_problems_fail_at_once() -> Iterator[None]:
    """A missing or weak pseudonym key is the operator's to fix, not the delivery's: fail the task at once
    with the one-line advice (a retry cannot find a key), and nothing is landed or recorded meanwhile."""
    from transforms.pseudonymise import KeyProblem

    try:
        yield
    except KeyProblem as exc:
        raise AirflowFailException(f"pseudonym key: {exc}") from None


# --- links ------------------------------------------------------------------------------------------------

def _base_url() -> str:
    """The API server's public address when configured (``[api] base_url``); else links are relative to
    the UI's own server, which is the API server."""
    from airflow.configuration import conf

    return (conf.get("api", "base_url", fallback="") or "").rstrip("/")


def delivery_url(delivery_id: str, page: str) -> str:
    if not _DELIVERY_ID.match(delivery_id):
        raise ValueError(f"not a delivery id: {delivery_id!r}")
    return f"{_base_url()}{URL_PREFIX}/deliveries/{delivery_id}/{page}"


class DataDocsLink(BaseOperatorLink):
    """The delivery's Great Expectations Data Docs page (counts and rules, no values)."""

    name = "Data Docs"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        return delivery_url(operator.delivery_id, "data-docs")


class QuarantineReportLink(BaseOperatorLink):
    """The delivery's quarantine report: why it was rejected, or which rows were set aside and why."""

    name = "Quarantine report"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        return delivery_url(operator.delivery_id, "quarantine")


# --- accounting -------------------------------------------------------------------------------------------

def accounting(delivery_ids: list[str]) -> list[dict]:
    """Each delivery's row accounting from the ledger: state, rows read / published / quarantined, the
    quarantined rows per reason, and the rejection reason (``rule: message``).

    Two queries whatever the number of deliveries (a history run's report has a month of them)."""
    import sqlalchemy as sa

    from tesoma.config import settings
    from warehouse.ledger import Ledger, deliveries, quality_results

    if not delivery_ids:
        return []
    wanted = list(dict.fromkeys(delivery_ids))
    d, q = deliveries.c, quality_results.c
    ledger = Ledger(settings().ledger_url)
    try:
        with ledger.engine.connect() as conn:
            found = {r.delivery_id: r for r in conn.execute(
                sa.select(d.delivery_id, d.partner, d.state, d.rows_read, d.rows_published, d.rows_quarantined,
                          d.reason).where(d.delivery_id.in_(wanted)))}
            quarantined = conn.execute(
                sa.select(q.delivery_id, q.rule, q.column_name, q.failed_rows)
                .where(q.delivery_id.in_(wanted), q.severity == "error", q.failed_rows > 0, q.stage != "canonical")
                .order_by(q.id)).all()
    finally:
        ledger.engine.dispose()
    by_reason: dict[str, dict[str, int]] = {delivery_id: {} for delivery_id in wanted}
    for r in quarantined:
        label = f"{r.column_name}: {r.rule}" if r.column_name else r.rule
        by_reason[r.delivery_id][label] = by_reason[r.delivery_id].get(label, 0) + r.failed_rows
    rows = []
    for delivery_id in delivery_ids:
        if delivery_id not in found:
            raise KeyError(f"no delivery {delivery_id!r} in the ledger")
        r = found[delivery_id]
        rows.append({"delivery_id": delivery_id, "partner": r.partner, "state": r.state, "rows_read": r.rows_read,
                     "rows_published": r.rows_published, "rows_quarantined": r.rows_quarantined,
                     "quarantined_by_reason": dict(by_reason[delivery_id]), "reason": r.reason})
    return rows


def table(rows: list[dict]) -> str:
    """The accounting as a Markdown table (the task log shows it as text, the run note renders it)."""
    def n(value: int | None) -> str:
        return "–" if value is None else str(value)

    lines = ["| delivery | state | read | published | quarantined | quarantined by reason |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        reasons = ", ".join(f"{k} ×{v}" for k, v in sorted(r["quarantined_by_reason"].items())) or "–"
        lines.append(f"| {r['delivery_id']} | {r['state']} | {n(r['rows_read'])} | {n(r['rows_published'])} | "
                     f"{n(r['rows_quarantined'])} | {reasons} |")
    return "\n".join(lines)


def rejection_line(delivery_id: str, reason: str, message: str | None = None) -> str:
    """``REJECTED <delivery>: <rule>: <partner-readable message>``."""
    return f"REJECTED {delivery_id}: {reason}" + (f": {message}" if message else "")


# --- the tasks --------------------------------------------------------------------------------------------

def is_final_attempt(ti: Any) -> bool:
    """This try is the task's last: ``max_tries`` is the highest try number that may still be retried
    (``retries`` on a first run; raised by ``retries`` when the task is cleared)."""
    return ti.try_number > ti.max_tries


class IngestDelivery(BaseOperator):
    """``ingest``: read, validate, pseudonymise and harmonise one delivery (``tesoma.steps.ingest``).

    A rejected delivery fails the task at once (:class:`AirflowFailException`: retrying cannot change
    the file); the first lines the task logs are ``REJECTED <delivery>: <rule>: <message>`` and the
    delivery's row accounting. Map it over the deliveries of a run:
    ``IngestDelivery.partial(task_id="ingest").expand(delivery_id=…)``.
    """

    template_fields = ("delivery_id",)
    operator_extra_links = (DataDocsLink(), QuarantineReportLink())
    ui_color = "#e8f4ea"

    def __init__(self, *, delivery_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delivery_id = delivery_id

    def execute(self, context: Any) -> dict:
        from tesoma import steps

        with operator_problems_fail_at_once():
            result = steps.ingest(self.delivery_id, final_attempt=is_final_attempt(context["ti"]))
        rows = accounting([self.delivery_id])
        if result.get("state") == "rejected":
            message = result.get("message") or _message_of(rows[0]["reason"], result["reason"])
            line = rejection_line(self.delivery_id, result["reason"], message)
            self.log.error("%s", line)
            self.log.info("row accounting:\n%s", table(rows))
            raise AirflowFailException(line)
        self.log.info("row accounting:\n%s", table(rows))
        return result


def _message_of(ledger_reason: str | None, rule: str) -> str | None:
    """The message part of the ledger's ``<rule>: <message>``."""
    if ledger_reason and ledger_reason.startswith(f"{rule}: "):
        return ledger_reason[len(rule) + 2:]
    return ledger_reason


def publishable(delivery_ids: list[str]) -> list[str]:
    """The deliveries whose ingest finished (any state but ``landed``)."""
    from tesoma.config import settings
    from warehouse.ledger import Ledger

    ledger = Ledger(settings().ledger_url)
    return [d for d in delivery_ids if ledger.get(d).state != "landed"]


def _build_data_docs() -> None:
    from expectations import data_docs
    from tesoma.config import settings

    try:
        data_docs.build(settings())
    except Exception:  # the report must still say what happened; the catalog DAG builds the pages later
        log.exception("Data Docs could not be built now; the catalog DAG builds them on its next run")


def _warehouse_state() -> str:
    """Which warehouse state readers now see (a figure quoted with it is reproducible: ``--as-of``)."""
    from tesoma.config import settings
    from warehouse import states
    from warehouse.ledger import Ledger

    state = states.head(Ledger(settings().ledger_url).engine)
    return f"warehouse state {state.state_id} (`tesoma query --as-of {state.state_id}` reads it again)"


def report_run(feed: str, delivery_date: dt.date, context: Any) -> list[dict]:
    """The run's last task: the accounting of its deliveries in the log and the run's note; fails when
    any task of the run failed, is skipped when nothing was delivered (a skipped wait)."""
    from orchestration.run_notes import set_note
    from tesoma.feed_config import not_covered

    ti = context["ti"]
    delivery_ids = ti.xcom_pull(task_ids="land") or []
    failed = ti.get_ti_count(dag_id=ti.dag_id, run_ids=[ti.run_id], states=["failed", "upstream_failed"])
    rows = accounting(delivery_ids)
    rejected = [r for r in rows if r["state"] == "rejected"]
    unfinished = [r for r in rows if r["state"] == "landed"]
    head = f"**{feed}, delivery date {delivery_date.isoformat()}**: {len(rows)} delivery(ies)"
    if rejected:
        head += f", {len(rejected)} REJECTED"
    lines = [rejection_line(r["delivery_id"], r["reason"] or "?") for r in rejected]
    lines += [f"NOT INGESTED {r['delivery_id']}: its ingest task failed (see its log)" for r in unfinished]
    why = not_covered(feed, delivery_date)
    if why:
        lines.append(f"NOT COVERED: {why}")
    elif failed and not rows:
        lines.append("FAILED before any delivery was landed: see the first failed task's log")
    published = [r for r in rows if r["state"] == "published"]
    if published:
        head += f"; {_warehouse_state()}"
    note = "\n\n".join([head, *lines, table(rows)] if rows else [head, *lines])
    for line in lines:
        (log.error if line.startswith(("REJECTED", "NOT")) else log.warning)("%s", line)
    if rows:
        log.info("row accounting:\n%s", table(rows))
    if rows or failed:
        set_note(ti.dag_id, ti.run_id, note)
    if rejected:
        _build_data_docs()  # nothing published means no catalog run: the rejection's results get their pages here
    if failed:
        raise AirflowFailException(f"{failed} task(s) of this run failed: " + ("; ".join(lines) or "see the grid"))
    if not rows:
        raise AirflowSkipException("nothing was delivered for this date")
    return rows
