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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pyarrow as pa

from connectors.base import DeliveryRejected
from expectations import data_docs
from tesoma import quarantine
from tesoma.config import Settings
from tesoma.steps import stages
from tesoma.steps.canonical_checks import BrokenCanonicalRules, check_canonical
from tesoma.steps.stages import DEFAULT_MAX_REJECTED_SHARE, DeliveryWork, TooManyBadRows, contract_empty, unstage
from transforms.pseudonymise import KeyProblem
from warehouse.ledger import VALIDATED, newest, precedence

__all__ = ["DEFAULT_MAX_REJECTED_SHARE", "check_canonical", "contract_empty", "ingest", "ingest_together"]

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
    return ingest_together([delivery_id], s, final_attempt=final_attempt)[delivery_id]


JOINT_BYTES = 64 << 20
"""Deliveries ingested together hold at most about this many delivered bytes in memory at once (a bigger
delivery goes alone): a batch's memory stays that of its biggest delivery, whatever the batch size."""


def ingest_together(delivery_ids: Sequence[str], s: Settings | None = None, *,
                    final_attempt: bool = True) -> dict[str, dict]:
    """:func:`ingest` for several deliveries of one feed (a batch of a history run), each with exactly the
    outcome :func:`ingest` gives it alone — its own ledger row, row accounting, quarantine, quality results
    and Data Docs; one delivery's rejection or failure never touches another's — but with the rule checks
    (the contract's and the canonical tables' suites) run once for all of them: a Great Expectations run
    costs ~0.1 s whatever it checks, most of a county day's ingest. Returns each delivery's result.

    Deliveries are taken in groups of up to :data:`JOINT_BYTES` delivered bytes, oldest first as given.
    A failure of ours that is re-raised (not ``final_attempt``, a key problem) stops the rest: every
    stage is safe to repeat, and the scheduler retries the batch.
    """
    _arrow_memory()
    ids = list(dict.fromkeys(delivery_ids))
    works = [stages.open_delivery(d, s) for d in ids]
    results: dict[str, dict] = {}
    for group in _groups(works):
        results |= _through_stages(group, final_attempt)
    return {d: results[d] for d in ids}


def _groups(works: list[DeliveryWork]) -> list[list[DeliveryWork]]:
    groups: list[list[DeliveryWork]] = []
    held = 0
    for work in works:
        size = work.delivery.size_bytes or 0
        if groups and held + size <= JOINT_BYTES:
            groups[-1].append(work)
            held += size
        else:
            groups.append([work])
            held = size
    return groups


def _through_stages(works: list[DeliveryWork], final_attempt: bool) -> dict[str, dict]:
    """The stages, delivery by delivery except the two that check rules for all of them at once."""
    done: dict[str, dict] = {}
    rejected: list = []  # recorded last: a rejected correction's message names the original staged meanwhile
    if len(works) > 1:
        for work in works:
            work.together = True
    read, accounted, split, harmonised, checked, counts = {}, {}, {}, {}, {}, {}

    def live() -> list[DeliveryWork]:
        return [w for w in works if w.delivery_id not in done]

    for work in live():
        with _boundary(work, done, rejected, final_attempt):
            work.resume()
            with work.stage("read"):
                read[work.delivery_id] = stages.read(work)
            with work.stage("account"):
                accounted[work.delivery_id] = stages.account(work, read.pop(work.delivery_id))
    together = live()
    with _boundary_of_all(together, done, rejected, final_attempt), stages.jointly(together, "check_contract"):
        checked = dict(zip([w.delivery_id for w in together],
                           stages.check_contracts(together, [accounted[w.delivery_id] for w in together]),
                           strict=True))
    for work in live():
        with _boundary(work, done, rejected, final_attempt):
            work.resume()
            d = work.delivery_id
            with work.stage("pseudonymise"):
                split[d] = stages.pseudonymise(work, accounted[d], checked[d])
            with work.stage("harmonise"):
                harmonised[d] = stages.harmonise(work, split[d])
    together = live()
    canonical = {}
    with _boundary_of_all(together, done, rejected, final_attempt), stages.jointly(together, "stage"):
        canonical = dict(zip([w.delivery_id for w in together],
                             stages.stage(together, [harmonised[w.delivery_id] for w in together]), strict=True))
    for work in live():
        with _boundary(work, done, rejected, final_attempt):
            d = work.delivery_id
            if isinstance(canonical[d], BaseException):  # this delivery's own failure in the joint stage
                work.current = "check_canonical" if isinstance(canonical[d], BrokenCanonicalRules) else "stage"
                raise canonical[d]
            work.resume()
            with work.stage("record"):
                counts[d] = stages.record(work, accounted[d], checked[d], split[d], harmonised[d], canonical[d])
            with work.stage("judge"):
                stages.judge(work, counts[d])
            done[d] = _record_staged(work, counts[d])
    for work, exc in rejected:
        done[work.delivery_id] = _record_rejection(work, exc)
    return done


@contextmanager
def _boundary(work: DeliveryWork, done: dict[str, dict], rejected: list, final_attempt: bool) -> Iterator[None]:
    """Where a delivery's failures become its outcome (in ``done``): whatever went wrong, nothing of it
    stays staged; a rejection goes to ``rejected`` (recorded with its reason once the others are through);
    a failure of ours is re-raised unless on the final attempt, where it rejects the delivery as an
    internal error."""
    try:
        yield
    except BaseException as exc:
        unstage(work.staged)
        if isinstance(exc, DeliveryRejected):
            done[work.delivery_id] = {}
            rejected.append((work, exc))
        elif isinstance(exc, KeyProblem) or not isinstance(exc, Exception) or not final_attempt:
            raise
        else:
            done[work.delivery_id] = _record_internal_error(work, exc)


@contextmanager
def _boundary_of_all(works: list[DeliveryWork], done: dict[str, dict], rejected: list,
                     final_attempt: bool) -> Iterator[None]:
    """A stage run for several deliveries: its failure is each one's (see :func:`_boundary`)."""
    try:
        yield
    except BaseException as exc:
        for work in works:
            with _boundary(work, done, rejected, final_attempt):
                raise exc


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
    others = [o for o in work.ledger.for_date(d.feed, d.delivery_date, d.partner) if precedence(o) < precedence(d)]
    kept = newest(others) if others else None
    if kept is None or kept.state not in VALIDATED:
        return ""
    return (f" The earlier delivery of {d.delivery_date} ({kept.source_name}, {kept.delivery_id}) stays in "
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
