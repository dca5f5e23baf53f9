"""Ingest: one delivery read, checked, pseudonymised and harmonised into ``staging/``; problems go to
``quarantine/``.

:func:`ingest` is the list of stages (:mod:`tesoma.steps.stages`) and the one place where their failures
become reasons: a delivery the connector cannot read, or one with too many bad rows, is rejected with the
rule it broke; any other failure is ours, and on the last attempt the delivery is rejected as
``internal_error: <ExceptionClass> in <stage>``, the partner told that nothing is needed from them.
"""

from __future__ import annotations

import logging
import os
import traceback

import pyarrow as pa

from connectors.base import DeliveryRejected
from expectations import data_docs
from tesoma import quarantine
from tesoma.config import Settings
from tesoma.steps import stages
from tesoma.steps.canonical_checks import check_canonical
from tesoma.steps.stages import DEFAULT_MAX_REJECTED_SHARE, DeliveryWork, TooManyBadRows, contract_empty, unstage
from transforms.pseudonymise import KeyProblem

__all__ = ["DEFAULT_MAX_REJECTED_SHARE", "check_canonical", "contract_empty", "ingest"]

log = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = ("The delivery could not be processed because of an error on our side, not in the file. "
                          "The operators have been informed; nothing is needed from you unless they contact you.")


def ingest(delivery_id: str, s: Settings | None = None, *, final_attempt: bool = True) -> dict:
    """Read, validate, pseudonymise and harmonise one delivery into ``staging/``.

    Bad rows go to ``quarantine/``; a delivery that cannot be read at all, or has too many bad rows, is
    rejected whole. Returns the row accounting (``rows_read = rows_valid + rows_quarantined``), or for a
    rejection ``state``, ``reason`` (the rule), ``message`` (for the partner) and the row counts.

    A failure of our own (any other exception) is re-raised unless ``final_attempt`` (so a scheduler can
    retry); on the final attempt it is recorded as a rejection. A missing or weak pseudonym key
    (:class:`KeyProblem`) is the operator's problem, never the delivery's: it always propagates.
    """
    _arrow_memory()
    work = stages.open_delivery(delivery_id, s)
    try:
        return _through_stages(work)
    except BaseException as exc:
        unstage(work.staged)  # whatever went wrong, nothing of this delivery stays staged
        if isinstance(exc, DeliveryRejected):
            return _record_rejection(work, exc)
        if isinstance(exc, KeyProblem) or not isinstance(exc, Exception) or not final_attempt:
            raise
        return _record_internal_error(work, exc)


def _through_stages(work: DeliveryWork) -> dict:
    with work.stage("read"):
        read = stages.read(work)
    with work.stage("account"):
        accounted = stages.account(work, read)
    with work.stage("check_contract"):
        checked = stages.check_contract(work, accounted)
    with work.stage("pseudonymise"):
        split = stages.pseudonymise(work, accounted, checked)
    with work.stage("harmonise"):
        harmonised = stages.harmonise(work, split)
    with work.stage("stage"):
        canonical = stages.stage(work, harmonised)
    with work.stage("record"):
        counts = stages.record(work, accounted, checked, split, harmonised, canonical)
    with work.stage("judge"):
        stages.judge(work, counts)
    return _record_staged(work, counts)


def _record_staged(work: DeliveryWork, counts: stages.Counts) -> dict:
    seconds = work.seconds()
    work.ledger.update(work.delivery_id, state="staged", rows_read=counts.rows_read, rows_published=None,
                       rows_quarantined=counts.rows_quarantined, key_id=work.key_id, reason=None, seconds=seconds)
    log.info("%s staged: read %d, valid %d, quarantined %d in %.2fs (%s)", work.delivery_id, counts.rows_read,
             counts.rows_valid, counts.rows_quarantined, seconds, work.stage_times())
    return {"delivery_id": work.delivery_id, "state": "staged", "rows_read": counts.rows_read,
            "rows_valid": counts.rows_valid, "rows_quarantined": counts.rows_quarantined, "seconds": seconds,
            "stage_seconds": work.laps}


def _record_rejection(work: DeliveryWork, exc: DeliveryRejected) -> dict:
    """A delivery the partner has to send again: the connector could not read it, or too many rows broke
    the contract (then the row report stays, with the verdict on top; every row counts as quarantined)."""
    counted = exc.counts if isinstance(exc, TooManyBadRows) else None
    message = str(exc) + _still_in_use(work)
    if counted is None:
        quarantine.write_rejection(work.quarantine_dir, delivery_id=work.delivery_id,
                                   source_name=work.delivery.source_name, rule=exc.rule, message=message)
        work.ledger.replace_quality_results(work.delivery_id, [
            {"stage": "parse", "rule": exc.rule, "column_name": None, "failed_rows": 0, "severity": "error"}])
        data_docs.record(work.settings, work.delivery_id, {})  # nothing was validated: clear an earlier run's
    else:
        quarantine.write_rejection_note(work.quarantine_dir, rule=exc.rule, message=message)
    rows = counted.rows_read if counted else None
    work.ledger.update(work.delivery_id, state="rejected", reason=f"{exc.rule}: {message}", rows_read=rows,
                       rows_published=0, rows_quarantined=rows, key_id=work.key_id, seconds=work.seconds())
    log.warning("%s rejected: %s", work.delivery_id, exc.rule)
    return _rejected(work, exc.rule, message, rows)


def _still_in_use(work: DeliveryWork) -> str:
    """For a rejected correction: which earlier delivery of the same date stays in use (a rejected delivery
    never displaces a valid one, warehouse.ledger.newest), so the partner knows what the warehouse shows."""
    d = work.delivery
    kept = [o for o in work.ledger.for_date(d.feed, d.delivery_date, d.partner)
            if o.delivery_id != d.delivery_id and o.state in ("published", "staged")]
    if not kept:
        return ""
    return (f" The earlier delivery of {d.delivery_date} ({kept[-1].source_name}, {kept[-1].delivery_id}) stays in "
            "use until a corrected file arrives.")


def _record_internal_error(work: DeliveryWork, exc: Exception) -> dict:
    """A failure of ours on the final attempt: the delivery is rejected without blaming the partner, and
    the operator gets the stack (without the exception's message, which may quote a delivered value)."""
    reason = f"internal_error: {type(exc).__name__} in {work.current}"
    log.error("%s rejected: %s\n%s", work.delivery_id, reason, _stack_without_values(exc))
    quarantine.write_internal_error(work.quarantine_dir, delivery_id=work.delivery_id,
                                    source_name=work.delivery.source_name, message=INTERNAL_ERROR_MESSAGE)
    work.ledger.replace_quality_results(work.delivery_id, [
        {"stage": work.current, "rule": "internal_error", "column_name": None, "failed_rows": 0, "severity": "error"}])
    data_docs.record(work.settings, work.delivery_id, {})
    work.ledger.update(work.delivery_id, state="rejected", reason=reason, rows_read=None, rows_published=0,
                       rows_quarantined=None, key_id=work.key_id, seconds=work.seconds())
    return _rejected(work, reason, INTERNAL_ERROR_MESSAGE, None)


def _rejected(work: DeliveryWork, reason: str, message: str, rows: int | None) -> dict:
    return {"delivery_id": work.delivery_id, "state": "rejected", "reason": reason, "message": message,
            "rows_read": rows, "rows_quarantined": rows}


def _stack_without_values(exc: BaseException) -> str:
    """The traceback's frames and exception classes (with causes), without messages."""
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append("".join(traceback.format_tb(exc.__traceback__)) + f"{type(exc).__module__}.{type(exc).__name__}")
        exc = exc.__cause__ or exc.__context__
        if exc is not None:
            parts.append("raised while handling, or caused by:")
    return "\n".join(parts)


def _arrow_memory() -> None:
    """Let Arrow allocate through jemalloc, unless ``ARROW_DEFAULT_MEMORY_POOL`` names a pool.

    An ingest builds a delivery's columns several times over (typed, checked, harmonised), and fresh
    memory from the kernel is what costs on the benchmark VM. Measured there on 2,000,000 rows (three runs
    each, docs/benchmarks.md): kernel time 1.8–2.2 s with jemalloc against 3.1–3.4 s with Arrow's default
    mimalloc, the ingest ~0.3 s faster. Builds of pyarrow without jemalloc keep their default.
    """
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    try:
        pool = pa.jemalloc_memory_pool()
    except (NotImplementedError, pa.ArrowNotImplementedError):
        return
    if pa.default_memory_pool().backend_name != pool.backend_name:
        pa.set_memory_pool(pool)
