"""Ingest: one delivery read, checked, pseudonymised and harmonised into ``staging/``; problems go to
``quarantine/``."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

import connectors
from connectors.base import ROW_ERRORS, ROW_NUMBER, DeliveryRejected, ReadReport
from expectations import data_docs
from expectations.runner import validate_contract, validate_rules
from tesoma import quarantine
from tesoma.config import Settings
from tesoma.feeds import pipeline
from tesoma.keys import load_key
from tesoma.steps.context import context as _context
from transforms import reasons
from transforms.duplicates import exact_duplicates
from transforms.pseudonymise import EventIds, pseudonymise
from warehouse.publish import write_parquet

log = logging.getLogger(__name__)


DEFAULT_MAX_REJECTED_SHARE = 0.2
"""Above this share of bad rows a delivery is rejected whole (contracts may set ``maxRejectedRowShare``)."""


_STAGES = {"not_a_date_time": "parse", "not_a_date": "parse", "not_an_integer": "parse", "not_a_number": "parse",
           "not_a_boolean": "parse", "unreadable_row": "parse", "duplicate_row": "parse",
           "not_an_identity_code": "pseudonymise", "identity_code_date": "pseudonymise",
           "identity_code_individual_number": "pseudonymise", "identity_code_check_character": "pseudonymise",
           "dangling_reference": "parse", "missing_reference": "parse"}


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


def ingest(delivery_id: str, s: Settings | None = None) -> dict:
    """Read, validate, pseudonymise and harmonise one delivery into ``staging/``.

    Bad rows go to ``quarantine/``; a delivery that cannot be read at all is rejected whole. Returns
    the row accounting: ``rows_read = rows_staged + rows_quarantined``.
    """
    s, layout, ledger = _context(s)
    _arrow_memory()
    started = time.monotonic()
    delivery = ledger.get(delivery_id)
    feed = pipeline(delivery.feed)
    contract = feed.contract
    spec = feed.identity_spec(delivery.partner)
    key = load_key(s) if spec is not None else None  # stops the run before any data is read when missing
    qdir = layout.quarantine_dir(delivery.partner, delivery_id)
    quarantine.clear(qdir)
    staged = {t: layout.staging_file(t, delivery_id) for t in feed.tables}
    _unstage(staged)

    report = ReadReport()
    clock = _StageClock()
    # Record ids are hashed (a Python loop, ~1 s per 2,000,000 rows) on a thread of their own, batch by
    # batch as the file is parsed and then while duplicates and contract rules are checked.
    event_ids = EventIds(spec, key) if spec is not None and spec.source_id is not None else None
    batches = []
    try:
        for batch in connectors.for_feed(delivery.feed).read(layout.root / delivery.raw_path, report):
            batches.append(batch)
            if event_ids is not None:
                event_ids.add(batch.column(spec.source_id))
    except DeliveryRejected as exc:
        if event_ids is not None:
            event_ids.cancel()
        quarantine.write_rejection(qdir, delivery_id=delivery_id, source_name=delivery.source_name,
                                   rule=exc.rule, message=str(exc))
        ledger.update(delivery_id, state="rejected", reason=f"{exc.rule}: {exc}", rows_read=None,
                      rows_published=0, rows_quarantined=None, key_id=key.key_id if key else None,
                      seconds=round(time.monotonic() - started, 3))
        ledger.replace_quality_results(delivery_id, [
            {"stage": "parse", "rule": exc.rule, "column_name": None, "failed_rows": 0, "severity": "error"}])
        data_docs.record(s, delivery_id, {})  # nothing was validated: clear an earlier run's results
        log.warning("%s rejected: %s", delivery_id, exc.rule)
        return {"delivery_id": delivery_id, "state": "rejected", "reason": exc.rule}
    except BaseException:
        if event_ids is not None:
            event_ids.cancel()
        raise

    table = pa.Table.from_batches(batches) if batches else contract_empty(delivery.feed)
    clock.lap("read")
    problems = quarantine.RowProblems()
    for _ in report.unreadable_rows:
        problems.add("unreadable_row", None)

    # 1. exact duplicates: keep the first copy
    dup = exact_duplicates(table, contract.column_names,
                           seldom_repeated=contract.unique_column_names)
    # A copy is reported as a copy only; its other problems are reported on the original.
    table = table.set_column(table.column_names.index(ROW_ERRORS), ROW_ERRORS,
                             pc.if_else(dup, pa.scalar("duplicate_row"), table[ROW_ERRORS]))
    clock.lap("duplicates")

    # 2. contract rules (Great Expectations), on rows that are not duplicates. Filtering copies every
    # column, so it is skipped when there is nothing to take out (the common case).
    has_copies = bool(pc.any(dup).as_py())
    candidates = table.filter(pc.invert(dup)) if has_copies else table
    ids = None
    if event_ids is not None:
        ids = event_ids.result().filter(pc.invert(dup)) if has_copies else event_ids.result()
    # Staged files are written on two threads (Parquet encoding releases the GIL) while GX checks rules.
    # They are published only once the ledger says "staged": a failed check removes them, no reader sees
    # them in between.
    writers = ThreadPoolExecutor(2, thread_name_prefix="stage-write")
    writes: list = []
    try:
        # While GX checks the contract rules (mostly Python), the rows are pseudonymised, harmonised and
        # written on other threads (mostly Arrow) as if every row will pass: the usual case. If a rule or
        # an identity code fails, that work is set aside and done again on the rows that pass.
        with ThreadPoolExecutor(1, thread_name_prefix="ahead") as pool:
            ahead = pool.submit(_ahead, candidates, spec, key, ids, feed, s, delivery.partner, delivery_id,
                                writers, staged)
            validation = validate_contract(candidates.select(contract.column_names), contract)
            clock.lap("validate_contract")
            pseudonymised, done_ahead = ahead.result()
        if validation.row_failures:
            if done_ahead is not None:
                _set_aside(done_ahead[2], staged)
                done_ahead = None
            gx_errors = [None] * candidates.num_rows
            for position, failed in validation.row_failures.items():
                gx_errors[position] = reasons.SEPARATOR.join(failed)
            candidates = _add_errors(candidates, pa.array(gx_errors, pa.string()))
            pseudonymised = _pseudonymised(candidates, spec, key, ids)

        # 3. split good from bad (pseudonymise flagged invalid identity codes)
        bad = pc.is_valid(pseudonymised[ROW_ERRORS])
        has_bad = bool(pc.any(bad).as_py())
        # Quarantine keeps the rows as delivered (identifiable), with every reason found for them.
        bad_candidates = candidates.filter(bad) if has_bad else candidates.slice(0, 0)
        bad_candidates = bad_candidates.set_column(
            bad_candidates.column_names.index(ROW_ERRORS), ROW_ERRORS,
            pseudonymised[ROW_ERRORS].filter(bad) if has_bad else pseudonymised[ROW_ERRORS].slice(0, 0))
        rejected_rows = pa.concat_tables([table.filter(dup) if has_copies else table.slice(0, 0), bad_candidates])
        for row, errors in zip(rejected_rows[ROW_NUMBER].to_pylist(), rejected_rows[ROW_ERRORS].to_pylist(),
                               strict=True):
            for reason in reasons.for_partner(errors):
                problems.add(reason, row)
        good = (pseudonymised.filter(pc.invert(bad)) if has_bad else pseudonymised).drop_columns(
            [ROW_NUMBER, ROW_ERRORS])
        clock.lap("pseudonymise")

        # 4. harmonise and write (unless done ahead), check the canonical output
        if done_ahead is None:
            harmonised, hreport = feed.harmonise(good, s, delivery.partner, delivery_id)
            writes = [writers.submit(write_parquet, harmonised[t], path) for t, path in staged.items()]
        else:
            harmonised, hreport, writes = done_ahead
        clock.lap("harmonise")
        canonical_validations: dict = {}
        canonical = check_canonical(harmonised, delivery_id, canonical_validations)
        clock.lap("validate_canonical")
        for written in writes:
            written.result()
    except BaseException:
        writers.shutdown(wait=True, cancel_futures=True)  # (also the writes handed over by the thread ahead)
        _unstage(staged)
        raise
    finally:
        writers.shutdown(wait=True)
    clock.lap("write")

    rows_read = table.num_rows + len(report.unreadable_rows)
    rows_quarantined = rejected_rows.num_rows + len(report.unreadable_rows)
    if rows_quarantined:
        quarantine.write_rows(qdir, rejected_rows, problems, delivery_id=delivery_id,
                              source_name=delivery.source_name, unreadable=report.unreadable_rows)
    if rows_read != good.num_rows + rows_quarantined:
        raise RuntimeError(f"{delivery_id}: row accounting broken ({rows_read} read, {good.num_rows} valid, "
                           f"{rows_quarantined} quarantined); nothing was published")
    ledger.replace_quality_results(
        delivery_id, _quality_rows(problems.by_reason, report.warnings, hreport.unmapped) + canonical)
    # GX's own Data Docs are built from these (counts only) when the catalog is refreshed.
    data_docs.record(
        s, delivery_id,
        {f"{contract.feed}.contract": validation, **{k: v for k, (v, _) in canonical_validations.items()}},
        rows={f"{contract.feed}.contract": candidates.num_rows,
              **{k: n for k, (_, n) in canonical_validations.items()}})
    limit = float(contract.properties.get("maxRejectedRowShare", DEFAULT_MAX_REJECTED_SHARE))
    if rows_read and rows_quarantined / rows_read > limit:
        # Policy: a few bad rows are quarantined, but a delivery this broken is rejected whole — publishing
        # its remainder would give a misleading picture of the day.
        _unstage(staged)
        message = (f"{rows_quarantined} of {rows_read} rows ({rows_quarantined / rows_read:.0%}) broke the contract; "
                   f"the agreed maximum is {limit:.0%}, so none of the file was used. The rows and their problems "
                   "are listed in report.md; fix them and send the whole file again as a corrected delivery.")
        quarantine.write_rejection_note(qdir, rule="quality_threshold", message=message)
        ledger.update(delivery_id, state="rejected", rows_read=rows_read, rows_published=0, rows_quarantined=rows_read,
                      key_id=key.key_id if key else None, reason=f"quality_threshold: {message}",
                      seconds=round(time.monotonic() - started, 3))
        log.warning("%s rejected: %d of %d rows failed (limit %.0f%%)", delivery_id, rows_quarantined, rows_read,
                    limit * 100)
        return {"delivery_id": delivery_id, "state": "rejected", "reason": "quality_threshold",
                "rows_read": rows_read, "rows_quarantined": rows_read}
    seconds = round(time.monotonic() - started, 3)
    ledger.update(delivery_id, state="staged", rows_read=rows_read, rows_published=None,
                  rows_quarantined=rows_quarantined, key_id=key.key_id if key else None, reason=None, seconds=seconds)
    log.info("%s staged: read %d, valid %d, quarantined %d in %.2fs (%s)", delivery_id, rows_read, good.num_rows,
             rows_quarantined, seconds, clock)
    return {"delivery_id": delivery_id, "state": "staged", "rows_read": rows_read,
            "rows_valid": good.num_rows, "rows_quarantined": rows_quarantined, "seconds": seconds,
            "stage_seconds": clock.laps}


class _StageClock:
    """Seconds per ingest stage, for the log line and the benchmark (figures only, no row data)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = round(self.laps.get(stage, 0.0) + now - self._last, 3)
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in self.laps.items())


def _ahead(candidates: pa.Table, spec, key, ids, feed, s: Settings, partner: str, delivery_id: str,
           writers: ThreadPoolExecutor, staged: dict[str, Path]) -> tuple[pa.Table, tuple | None]:
    """The candidates pseudonymised; if no row has a problem so far, also harmonised and handed to the
    writers: ``(pseudonymised, (harmonised, report, writes))``. Otherwise ``(pseudonymised, None)``: the
    rows that pass are harmonised once they are known."""
    pseudonymised = _pseudonymised(candidates, spec, key, ids)
    if pc.any(pc.is_valid(pseudonymised[ROW_ERRORS])).as_py():
        return pseudonymised, None
    try:
        harmonised, report = feed.harmonise(pseudonymised.drop_columns([ROW_NUMBER, ROW_ERRORS]), s, partner,
                                            delivery_id)
    except Exception:  # (a row the contract rules reject may be what broke it: harmonised again without it)
        return pseudonymised, None
    writes = [writers.submit(write_parquet, harmonised[t], path) for t, path in staged.items()]
    return pseudonymised, (harmonised, report, writes)


def _set_aside(writes: list, staged: dict[str, Path]) -> None:
    """Undo the writes done ahead: wait for them (a file is never written twice at once), remove the files."""
    for written in writes:
        written.cancel()
    wait(writes)
    _unstage(staged)


def _unstage(staged: dict[str, Path]) -> None:
    """Remove a delivery's staged files (a failed or repeated ingest; nothing was published from them)."""
    for path in staged.values():
        path.unlink(missing_ok=True)


def _pseudonymised(candidates: pa.Table, spec, key, ids) -> pa.Table:
    return pseudonymise(candidates, spec, key, event_ids=ids) if spec is not None else candidates


def check_canonical(harmonised: dict[str, pa.Table], delivery_id: str,
                    validations: dict | None = None) -> list[dict]:
    """Run the canonical-table suites and cross-table checks; raise on a broken invariant of our own
    output (nothing is staged then), return every result for the ledger. ``validations``, if given,
    receives each suite's outcome and row count (``{"<table>.canonical": (Validation, rows)}``) for the
    Data Docs."""
    from expectations import canonical_suites

    results, broken = [], []
    # The cross-table checks are DuckDB joins: they run on the second core while GX checks the tables.
    with ThreadPoolExecutor(1, thread_name_prefix="cross-table") as pool:
        cross = pool.submit(canonical_suites.cross_table, harmonised)
        results += _table_checks(harmonised, validations, broken)
        results += cross.result()
    if broken:
        raise RuntimeError(f"{delivery_id}: the harmonised output breaks canonical rules — a pipeline defect, "
                           f"nothing was staged: {'; '.join(broken)}")
    return results


def _table_checks(harmonised: dict[str, pa.Table], validations: dict | None, broken: list[str]) -> list[dict]:
    """Each canonical table's suite; appends the broken error-level rules to ``broken``."""
    from expectations import canonical_suites

    results = []
    for table_name, data in harmonised.items():
        if data.num_rows == 0:
            continue
        frame = canonical_suites.frame_for(table_name, data)
        outcome = validate_rules(frame, canonical_suites.rules(table_name), f"{table_name}.canonical")
        if validations is not None:
            validations[f"{table_name}.canonical"] = (outcome, frame.num_rows)
        severity = {(m["rule"], m["column"]): m["severity"] for _, _, m in canonical_suites.rules(table_name)}
        for r in outcome.results:
            level = severity.get((r.rule, r.column), "error")
            results.append({"stage": "canonical", "rule": f"{table_name}.{r.rule}", "column_name": r.column,
                            "failed_rows": r.failed_rows, "severity": level if not r.success else "ok"})
            if not r.success and level == "error":
                broken.append(f"{table_name}.{r.column}: {r.rule} ({r.failed_rows} rows)")
    return results


def contract_empty(feed: str) -> pa.Table:
    schema = pipeline(feed).contract.arrow_schema()
    return schema.empty_table().append_column(ROW_NUMBER, pa.array([], pa.int64())).append_column(
        ROW_ERRORS, pa.array([], pa.string()))


def _add_errors(table: pa.Table, new: pa.Array) -> pa.Table:
    merged = reasons.combine(table[ROW_ERRORS], new)
    return table.set_column(table.column_names.index(ROW_ERRORS), ROW_ERRORS, merged)


def _quality_rows(by_reason: Counter, warnings: list[str], unmapped: Counter) -> list[dict]:
    rows = []
    for reason, count in sorted(by_reason.items()):
        column, rule = quarantine.rule_of(reason)
        rows.append({"stage": _STAGES.get(rule, "contract"), "rule": rule, "column_name": column,
                     "failed_rows": count, "severity": "error"})
    for w in warnings:
        rows.append({"stage": "parse", "rule": w[:120], "column_name": None, "failed_rows": 0, "severity": "warning"})
    for mapping, count in sorted(unmapped.items()):
        rows.append({"stage": "harmonise", "rule": f"unmapped:{mapping}", "column_name": None,
                     "failed_rows": count, "severity": "warning"})
    return rows

