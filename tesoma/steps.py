"""The pipeline's steps. A DAG task or a `tesoma` command calls exactly one of these.

Each step reads and writes one delivery (or one partition) and can be re-run safely:

- :func:`land` — find a feed's files for a date, archive them under ``raw/`` by SHA-256, record them.
- :func:`ingest` — read, validate, pseudonymise and harmonise one delivery into ``staging/``;
  problems go to ``quarantine/``.
- :func:`publish` — move a staged delivery into the warehouse atomically.
- :func:`refresh_catalog` — rebuild the analysts' DuckDB views.

Return values are small dicts of ids and counts: safe for XCom and logs (no row data).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import connectors
from connectors.base import ROW_ERRORS, ROW_NUMBER, DeliveryRejected, ReadReport
from expectations import data_docs
from expectations.runner import validate_contract, validate_rules
from tesoma import quarantine
from tesoma.config import Settings, settings
from tesoma.feeds import pipeline
from tesoma.keys import load_key
from transforms import reasons
from transforms.duplicates import exact_duplicates
from transforms.pseudonymise import EventIds, pseudonymise
from warehouse import catalog
from warehouse.layout import Layout
from warehouse.ledger import Ledger
from warehouse.publish import publish_partition, unpublish_partition, write_parquet

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


def _context(s: Settings | None) -> tuple[Settings, Layout, Ledger]:
    s = s or settings()
    return s, Layout(s.data_root), Ledger(s.ledger_url)


def _sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder delivery (over its files' names and contents, in name order)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            h.update(str(file.relative_to(path)).encode() + b"\0")
        with file.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def _archive_folder(source: Path, raw: Path) -> int:
    """Copy a folder delivery into raw/ (atomically: copy beside, then rename); returns its size in bytes."""
    if not raw.exists():
        raw.parent.mkdir(parents=True, exist_ok=True)
        tmp = raw.with_name(raw.name + ".tmp")
        if tmp.is_dir():
            shutil.rmtree(tmp)
        shutil.copytree(source, tmp)
        tmp.replace(raw)
    return sum(p.stat().st_size for p in raw.rglob("*") if p.is_file())


def _archive_file(source: Path, layout: Layout, partner: str, feed: str) -> tuple[str, Path, int]:
    """Hash a delivered file and copy it into raw/ at once (both release the GIL: 0.2 s and 0.1 s for
    350 MiB, side by side); returns (SHA-256, archived path, size). The copy takes its hashed name when
    both are done. If the file changed meanwhile (an upload still running), the name is the hash of the
    copy, so an archive's name always matches its bytes; the finished upload lands later as a new delivery."""
    folder = layout.raw_dir(partner, feed)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{source.name}.{os.getpid()}.landing"
    try:
        before = source.stat()
        with ThreadPoolExecutor(1, thread_name_prefix="archive") as pool:
            copied = pool.submit(shutil.copyfile, source, tmp)
            sha = _sha256(source)
            copied.result()
        after = source.stat()
        if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) \
                or tmp.stat().st_size != after.st_size:
            sha = _sha256(tmp)
        raw = layout.raw_file(partner, feed, sha, source.suffix)
        if raw.exists():
            tmp.unlink()
        else:
            tmp.replace(raw)
    finally:
        tmp.unlink(missing_ok=True)
    return sha, raw, raw.stat().st_size


def land(feed: str, delivery_date: dt.date, s: Settings | None = None) -> list[str]:
    """Archive the feed's landed deliveries for ``delivery_date`` into ``raw/`` and record each one.

    Idempotent: a delivery already landed (same content) is not recorded again. Returns delivery ids,
    per partner oldest sequence first.
    """
    s, layout, ledger = _context(s)
    connector = connectors.for_feed(feed)
    ids = []
    for landed in connector.discover_all(layout.landing, delivery_date):
        if landed.path.is_dir():
            sha = _sha256(landed.path)
            raw = layout.raw_file(landed.partner, feed, sha, "")
            size = _archive_folder(landed.path, raw)
        else:
            sha, raw, size = _archive_file(landed.path, layout, landed.partner, feed)
        delivery, created = ledger.record_landed(
            partner=landed.partner, feed=feed, delivery_date=landed.delivery_date, sequence=landed.sequence,
            source_name=landed.path.name, sha256=sha, raw_path=str(raw.relative_to(layout.root)),
            size_bytes=size, arrived_at=landed.arrived_at,
        )
        log.info("%s %s/%s: %s (%s)", "landed" if created else "already landed", landed.partner, landed.path.name,
                 delivery.delivery_id, delivery.state)
        ids.append(delivery.delivery_id)
    if not ids:
        log.warning("%s: no delivery found for %s under %s/<partner>/%s", feed, delivery_date, layout.landing,
                    connector.landing_folder)
    return ids


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


def publish(delivery_id: str, s: Settings | None = None) -> dict:
    """Publish a staged delivery into its partitions (one per canonical table), atomically each, if it
    is the partner's newest delivery for its date.

    A corrected re-delivery (higher sequence) replaces the partitions; the earlier one becomes
    ``superseded``. Publishing again is a no-op that gives the same bytes.
    """
    s, layout, ledger = _context(s)
    delivery = ledger.get(delivery_id)
    feed = pipeline(delivery.feed)
    siblings = ledger.for_date(delivery.feed, delivery.delivery_date, delivery.partner)
    # A higher sequence wins; the same name sent again (same sequence, new content) wins by arrival time.
    newest = max(siblings, key=lambda d: (d.sequence, _aware(d.arrived_at), _aware(d.landed_at), d.delivery_id))
    if delivery.state == "rejected":
        return {"delivery_id": delivery_id, "state": "rejected", "rows_published": 0}
    if newest.delivery_id != delivery_id:
        ledger.update(delivery_id, state="superseded", rows_published=0)
        return {"delivery_id": delivery_id, "state": "superseded", "rows_published": 0}
    staged = {t: layout.staging_file(t, delivery_id) for t in feed.tables}
    missing = [t for t, path in staged.items() if not path.exists()]
    if missing:
        raise FileNotFoundError(f"{delivery_id} has no staged {', '.join(missing)} (state {delivery.state}); "
                                "run ingest first")
    for table_name, path in staged.items():
        partition = layout.partition_dir(table_name, delivery.partner, delivery.delivery_date)
        if pq.read_metadata(path).num_rows:
            publish_partition(path, partition)
        else:
            unpublish_partition(partition)
    rows = delivery.rows_read - delivery.rows_quarantined
    for older in siblings:
        if older.delivery_id != delivery_id and older.state in ("published", "staged"):
            ledger.update(older.delivery_id, state="superseded", rows_published=0)
    ledger.update(delivery_id, state="published", rows_published=rows)
    log.info("%s published: %d rows into %s", delivery_id, rows, ", ".join(feed.tables))
    return {"delivery_id": delivery_id, "state": "published", "rows_published": rows,
            "partner": delivery.partner, "delivery_date": delivery.delivery_date.isoformat()}


def _aware(moment: dt.datetime | None) -> dt.datetime:
    if moment is None:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def refresh_catalog(s: Settings | None = None) -> list[str]:
    """Rebuild the analysts' DuckDB views, the quality page and the GX Data Docs; returns the view names."""
    from expectations import data_docs
    from tesoma import quality_report

    s, layout, _ = _context(s)
    views = catalog.refresh(layout)
    quality_report.write(s)  # the data docs follow the catalog
    started = time.monotonic()
    index = data_docs.build(s)
    log.info("catalog %s: views %s; data docs %s (%.1fs)", layout.catalog, ", ".join(views) or "(none yet)",
             index, time.monotonic() - started)
    return views


def process_date(feed: str, delivery_date: dt.date, s: Settings | None = None, pull: bool = False) -> list[dict]:
    """land (or pull) → ingest → publish every delivery of a feed for one date (the DAG, without Airflow)."""
    ids = globals()["pull"](feed, delivery_date, s) if pull else land(feed, delivery_date, s)
    results = {d: ingest(d, s) for d in ids}
    for published in publish_in_order(ids, s):
        results[published["delivery_id"]].update(published)
    return list(results.values())


def publish_in_order(delivery_ids: list[str], s: Settings | None = None) -> list[dict]:
    """Publish a date's deliveries oldest first, so a correction always ends up on top."""
    s, _, ledger = _context(s)
    ordered = sorted(delivery_ids, key=lambda d: (ledger.get(d).partner, ledger.get(d).sequence, d))
    return [publish(d, s) for d in ordered]


class PrivacyFindings(RuntimeError):
    """The audit found identifying data outside the restricted zones; the message lists where."""


def audit(s: Settings | None = None) -> dict:
    """Scan warehouse, staging, docs and logs for identifying data; raises :class:`PrivacyFindings`."""
    from tesoma import audit as privacy_audit

    s = s or settings()
    started = time.monotonic()
    findings, scanned = privacy_audit.run(s)
    seconds = round(time.monotonic() - started, 2)
    if findings:
        shown = "\n".join(str(f) for f in findings[:50])
        raise PrivacyFindings(f"{len(findings)} finding(s) in {scanned} files:\n{shown}")
    log.info("privacy audit: %d files scanned, no findings (%.2fs)", scanned, seconds)
    return {"files_scanned": scanned, "findings": 0, "seconds": seconds}


def purge(now: dt.datetime | None = None, s: Settings | None = None) -> dict:
    """Retention: delete identifiable copies that are past their time.

    ``raw/`` archives older than ``raw_retention_days`` and quarantine folders older than
    ``quarantine_retention_days`` (both counted from landing) are deleted, for deliveries that are
    finished (published, superseded or rejected). The ledger keeps the delivery's accounting and
    records ``purged_at``; the pseudonymised warehouse is untouched.
    """
    s, layout, ledger = _context(s)
    now = now or dt.datetime.now(dt.UTC)
    raw_cutoff = now - dt.timedelta(days=s.raw_retention_days)
    quarantine_cutoff = now - dt.timedelta(days=s.quarantine_retention_days)
    purged = {"raw_files": 0, "quarantine_folders": 0}
    for d in ledger.all():
        if d.state not in ("published", "superseded", "rejected") or d.landed_at is None:
            continue
        landed = d.landed_at if d.landed_at.tzinfo else d.landed_at.replace(tzinfo=dt.UTC)
        qdir = layout.quarantine_dir(d.partner, d.delivery_id)
        if landed < quarantine_cutoff and qdir.exists():
            shutil.rmtree(qdir)
            purged["quarantine_folders"] += 1
        raw = layout.root / d.raw_path
        if landed < raw_cutoff:
            if raw.is_dir():  # a folder delivery (FHIR bulk export)
                shutil.rmtree(raw)
                purged["raw_files"] += 1
            elif raw.exists():
                raw.unlink()
                purged["raw_files"] += 1
            if d.purged_at is None:
                ledger.update(d.delivery_id, purged_at=now)
    log.info("retention purge: %d raw file(s), %d quarantine folder(s) deleted", purged["raw_files"],
             purged["quarantine_folders"])
    return purged


def reprocess(feed: str | None = None, s: Settings | None = None) -> dict:
    """Ingest and publish again every delivery whose raw archive still exists (e.g. after a key
    rotation or a fix), oldest first. Deliveries whose raw copy was purged are listed, not touched."""
    s, layout, ledger = _context(s)
    done, purged = 0, []
    by_date: dict[tuple[str, dt.date], list[str]] = {}
    for d in ledger.all(feed):
        if not (layout.root / d.raw_path).exists():
            purged.append(d.delivery_id)
            continue
        ingest(d.delivery_id, s)
        by_date.setdefault((d.feed, d.delivery_date), []).append(d.delivery_id)
        done += 1
    for ids in by_date.values():
        publish_in_order(ids, s)
    refresh_catalog(s)
    log.info("reprocessed %d deliveries; %d without a raw copy (purged) were left as they are", done, len(purged))
    return {"reprocessed": done, "not_reprocessable": len(purged)}


REPORTING_SOURCE = "city_reporting"


def pull(feed: str, delivery_date: dt.date, s: Settings | None = None, source_url: str | None = None) -> list[str]:
    """Pull a feed's rows for ``delivery_date`` from the partner's database, as a delivery.

    Reads rows updated after the ledger's watermark up to the end of the date (Helsinki time), writes
    them as one Parquet file, archives and records it like a dropped file, then moves the watermark.
    A crash in between is harmless: the same window gives the same file, hence the same delivery.
    Re-running a date whose window is already behind the watermark returns the deliveries it made.
    """
    from connectors import city_reporting_db

    if feed != "city_visits":
        raise KeyError(f"{feed} is not pulled from a database; only city_visits is")
    s, layout, ledger = _context(s)
    url = source_url or s.city_reporting_url
    until = dt.datetime.combine(delivery_date + dt.timedelta(days=1), dt.time(0))
    since = ledger.watermark(feed, REPORTING_SOURCE)
    if since is not None and since >= until:
        existing = [d.delivery_id for d in ledger.for_date(feed, delivery_date) if d.source_name.startswith("pull:")]
        log.info("%s %s: already pulled up to %s; nothing new", feed, delivery_date, since)
        return existing
    window = {"source": REPORTING_SOURCE, "since": since.isoformat() if since else "", "until": until.isoformat()}
    extract = layout.staging / "pulls" / f"{feed}-{delivery_date:%Y%m%d}.parquet"
    rows = city_reporting_db.write_extract(city_reporting_db.extract(url, since, until), extract, window)
    partner = pipeline(feed).contract.partner
    sha, raw, size = _archive_file(extract, layout, partner, feed)
    extract.unlink()
    sequence = 1 + len(ledger.for_date(feed, delivery_date, partner))
    delivery, created = ledger.record_landed(
        partner=partner, feed=feed, delivery_date=delivery_date, sequence=sequence,
        source_name=f"pull:{REPORTING_SOURCE}:{window['since'] or '-'}..{window['until']}", sha256=sha,
        raw_path=str(raw.relative_to(layout.root)), size_bytes=size, arrived_at=dt.datetime.now(dt.UTC),
    )
    ledger.set_watermark(feed, REPORTING_SOURCE, until)
    log.info("%s %s: pulled %d rows (%s) as %s", feed, delivery_date, rows, "new" if created else "known",
             delivery.delivery_id)
    return [delivery.delivery_id]


def process_all(feed: str, s: Settings | None = None) -> list[dict]:
    """Process every date that has a delivery in landing for ``feed`` (the demo's catch-up, no Airflow)."""
    s, layout, _ = _context(s)
    dates = sorted({f.delivery_date for f in connectors.for_feed(feed).discover_all(layout.landing)})
    results = []
    for day in dates:
        results += process_date(feed, day, s)
    return results
