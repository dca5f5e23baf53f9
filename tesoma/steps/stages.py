"""The stages of one delivery's way through ingest, each small and testable alone.

read → account (exact copies, unreadable rows) → check the contract → pseudonymise → harmonise → stage
(write, with the canonical checks beside it) → record (quarantine report, quality results, Data Docs) →
judge (the quality threshold). Each stage takes the delivery's :class:`DeliveryWork` and what the stages
before it produced, and returns a typed result. The two stages that run Great Expectations
(:func:`check_contracts`, :func:`stage` with :func:`check_canonical_tables`) take a list of deliveries of
one feed: a GX run costs ~0.1 s whatever it checks, and a batch's deliveries share each run. Stages do
not turn failures into reasons: :func:`tesoma.steps.ingestion.ingest_together` does that, at one boundary.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

import transforms.pseudonymise as pseudonymisation
from connectors.base import ROW_ERRORS, ROW_NUMBER, DeliveryRejected, ReadReport
from expectations import data_docs
from expectations.runner import Validation, validate_contracts
from tesoma import quarantine
from tesoma.config import Settings
from tesoma.feeds import FeedPipeline, connector_for, pipeline
from tesoma.steps.canonical_checks import check_canonical_together
from transforms import reasons
from transforms.duplicates import exact_duplicates
from transforms.formulas import formula_like_counts
from transforms.harmonise import HarmoniseReport
from transforms.pseudonymise import EventIds, IdentitySpec, PseudonymKey
from warehouse.iceberg import with_partition_columns
from warehouse.layout import Layout
from warehouse.ledger import Delivery, Ledger
from warehouse.publish import write_parquet

log = logging.getLogger(__name__)

DEFAULT_MAX_REJECTED_SHARE = 0.2
"""Above this share of bad rows a delivery is rejected whole (contracts may set ``maxRejectedRowShare``)."""

_QUALITY_STAGES = {
    "not_a_date_time": "parse", "not_a_date": "parse", "not_an_integer": "parse", "not_a_number": "parse",
    "not_a_boolean": "parse", "unreadable_row": "parse", "duplicate_row": "parse",
    "dangling_reference": "parse", "missing_reference": "parse",
    "not_an_identity_code": "pseudonymise", "identity_code_date": "pseudonymise",
    "identity_code_individual_number": "pseudonymise", "identity_code_check_character": "pseudonymise"}
"""The stage that finds each row rule (the contract's own rules are found by ``contract``), for the ledger."""


@dataclass
class DeliveryWork:
    """One delivery on its way through ingest: what it is, where its files go, which stage it is in and
    how long each stage took (figures only, no row data)."""

    delivery_id: str
    settings: Settings
    layout: Layout
    ledger: Ledger
    delivery: Delivery
    feed: FeedPipeline
    spec: IdentitySpec | None
    key: PseudonymKey | None
    started: float = field(default_factory=time.monotonic)
    current: str = "open"
    laps: dict[str, float] = field(default_factory=dict)
    _last_lap: float = field(default_factory=time.perf_counter)

    @property
    def quarantine_dir(self) -> Path:
        return self.layout.quarantine_dir(self.delivery.partner, self.delivery_id)

    @property
    def staged(self) -> dict[str, Path]:
        """The staged file of each canonical table the feed writes."""
        return {t: self.layout.staging_file(t, self.delivery_id) for t in self.feed.tables}

    @property
    def key_id(self) -> str | None:
        return self.key.key_id if self.key else None

    together: bool = False
    """Ingested with others (:func:`tesoma.steps.ingestion.ingest_together`): its seconds are its own stages'
    plus its share of the stages run for all of them, not the time since it was opened."""

    def seconds(self) -> float:
        if self.together:
            return round(sum(self.laps.values()), 3)
        return round(time.monotonic() - self.started, 3)

    def resume(self) -> None:
        """Its turn again (after other deliveries' stages): the next stage's seconds start now."""
        self._last_lap = time.perf_counter()

    def add_lap(self, name: str, seconds: float) -> None:
        """Seconds of a stage run for several deliveries at once (its share)."""
        self.laps[name] = round(self.laps.get(name, 0.0) + seconds, 3)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Run a stage: a failure inside is a failure *in* it (``current`` keeps its name); its seconds are
        those since the last stage ended, so a stage nested in another counts only up to its own end."""
        outer, self.current = self.current, name
        yield
        now = time.perf_counter()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self._last_lap, 3)
        self._last_lap = now
        self.current = outer

    def stage_times(self) -> str:
        return ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in self.laps.items())


@contextmanager
def jointly(works: list[DeliveryWork], name: str) -> Iterator[None]:
    """Run a stage for several deliveries at once: a failure inside is a failure in ``name`` for each of
    them; each gets an equal share of its seconds (of those since its own last stage ended, so a stage
    nested in another counts only once)."""
    started = time.perf_counter()
    outer = [w.current for w in works]
    for w in works:
        w.current = name
    yield
    now = time.perf_counter()
    for w, was in zip(works, outer, strict=True):
        w.add_lap(name, (now - max(started, w._last_lap)) / len(works))
        w._last_lap = now
        w.current = was


@dataclass(frozen=True)
class Read:
    """The delivery as parsed, in the contract's schema with row numbers and parse errors."""

    table: pa.Table
    report: ReadReport
    event_ids: EventIds | None
    """Keyed record ids, still being hashed on a thread of their own (None: the feed has no record id)."""


@dataclass(frozen=True)
class Accounted:
    """Every row read, accounted for: exact copies set apart, the rest candidates for the contract rules."""

    copies: pa.Table
    """Rows that repeat an earlier row exactly, with ``duplicate_row`` as their only problem."""
    candidates: pa.Table
    event_ids: pa.ChunkedArray | None
    """The keyed record id of each candidate."""
    report: ReadReport

    @property
    def rows_read(self) -> int:
        return self.copies.num_rows + self.candidates.num_rows + len(self.report.unreadable_rows)


@dataclass(frozen=True)
class ContractChecked:
    """The candidates with every contract rule they break added to their errors."""

    candidates: pa.Table
    validation: Validation


@dataclass(frozen=True)
class Split:
    """Rows that go on, pseudonymised (without row numbers and errors), and rows that go to quarantine, as
    delivered (identifiable), each with every reason found for it."""

    good: pa.Table
    rejected: pa.Table


@dataclass(frozen=True)
class Harmonised:
    tables: dict[str, pa.Table]
    report: HarmoniseReport


@dataclass(frozen=True)
class Canonical:
    """The canonical checks' results for the ledger, and each suite's outcome and rows for the Data Docs."""

    results: list[dict]
    validations: dict


@dataclass(frozen=True)
class Counts:
    rows_read: int
    rows_valid: int
    rows_quarantined: int


class TooManyBadRows(DeliveryRejected):
    """More of the delivery broke the contract than the contract allows: it is rejected whole."""

    def __init__(self, message: str, counts: Counts):
        super().__init__("quality_threshold", message)
        self.counts = counts


def open_delivery(delivery_id: str, s: Settings | None) -> DeliveryWork:
    """The delivery's work, before any data is read; raises :class:`KeyProblem` when the feed needs the
    pseudonym key and it is missing or weak (an operator's problem, not the delivery's)."""
    from tesoma.keys import load_key
    from tesoma.steps.context import context

    s, layout, ledger = context(s)
    delivery = ledger.get(delivery_id)
    feed = pipeline(delivery.feed)
    spec = feed.identity_spec(delivery.partner)
    return DeliveryWork(delivery_id, s, layout, ledger, delivery, feed, spec,
                        key=load_key(s) if spec is not None else None)


def read(work: DeliveryWork) -> Read:
    """Clear what an earlier attempt left, and parse the delivery. Record ids are hashed (a Python loop,
    ~1 s per 2,000,000 rows) on a thread of their own, batch by batch as the file is parsed and then while
    duplicates are looked for. Raises :class:`DeliveryRejected` when the file cannot be read at all."""
    quarantine.clear(work.quarantine_dir)
    unstage(work.staged)
    spec, report = work.spec, ReadReport()
    event_ids = EventIds(spec, work.key) if spec is not None and spec.source_id is not None else None
    batches = []
    try:
        for batch in connector_for(work.delivery.feed).read(work.layout.root / work.delivery.raw_path, report):
            batches.append(batch)
            if event_ids is not None:
                event_ids.add(batch.column(spec.source_id))
    except BaseException:
        if event_ids is not None:
            event_ids.cancel()
        raise
    table = pa.Table.from_batches(batches) if batches else contract_empty(work.delivery.feed)
    _keep_names(work, table)
    return Read(table, report, event_ids)


def _keep_names(work: DeliveryWork, table: pa.Table) -> None:
    """The delivery's names for the privacy audit, kept while it is read (tesoma.audit.keep_names): else the
    first audit after a backfill reads every delivery again. Only a cache: failing to write it costs the
    audit a read later, never the delivery."""
    from tesoma.audit import keep_names

    try:
        keep_names(work.layout, work.delivery.feed, work.delivery.delivery_id, table)
    except OSError as exc:
        log.warning("%s: names for the audit not kept (%s); the audit will read the delivery instead",
                    work.delivery.delivery_id, type(exc).__name__)


def account(work: DeliveryWork, read: Read) -> Accounted:
    """Set exact copies apart (the first copy is kept). A copy is reported as a copy only; its other
    problems are reported on the original."""
    contract = work.feed.contract
    dup = exact_duplicates(read.table, contract.column_names, seldom_repeated=contract.unique_column_names)
    ids = read.event_ids.result() if read.event_ids is not None else None
    if not pc.any(dup).as_py():  # the common case: filtering would copy every column for nothing
        return Accounted(read.table.slice(0, 0), read.table, ids, read.report)
    keep = pc.invert(dup)
    copies = read.table.filter(dup)
    copies = copies.set_column(copies.column_names.index(ROW_ERRORS), ROW_ERRORS,
                               pa.array(["duplicate_row"] * copies.num_rows, pa.string()))
    return Accounted(copies, read.table.filter(keep), ids.filter(keep) if ids is not None else None, read.report)


def check_contracts(works: list[DeliveryWork], accounted: list[Accounted]) -> list[ContractChecked]:
    """Check the contract's rules (Great Expectations) on each delivery's candidates — one GX run per frame
    for all of them (:func:`expectations.runner.validate_contracts`: the verdicts of checking each alone) —
    and add each rule a row breaks to its errors."""
    if not works:
        return []
    contract = works[0].feed.contract
    if any(w.feed.contract is not contract for w in works):
        raise ValueError("deliveries checked together must be of one feed")
    validations = validate_contracts([a.candidates.select(contract.column_names) for a in accounted], contract)
    return [_with_failures(a.candidates, v) for a, v in zip(accounted, validations, strict=True)]


def _with_failures(candidates: pa.Table, validation: Validation) -> ContractChecked:
    if validation.row_failures:
        gx_errors = [None] * candidates.num_rows
        for position, failed in validation.row_failures.items():
            gx_errors[position] = reasons.SEPARATOR.join(failed)
        merged = reasons.combine(candidates[ROW_ERRORS], pa.array(gx_errors, pa.string()))
        candidates = candidates.set_column(candidates.column_names.index(ROW_ERRORS), ROW_ERRORS, merged)
    return ContractChecked(candidates, validation)


def pseudonymise(work: DeliveryWork, accounted: Accounted, checked: ContractChecked) -> Split:
    """Pseudonymise the candidates (which flags invalid identity codes), then split the rows that go on
    from those that go to quarantine: the copies and every candidate with a problem."""
    candidates = checked.candidates
    rows = candidates
    if work.spec is not None:
        rows = pseudonymisation.pseudonymise(candidates, work.spec, work.key, event_ids=accounted.event_ids)
    bad = pc.is_valid(rows[ROW_ERRORS])
    if not pc.any(bad).as_py():
        return Split(rows.drop_columns([ROW_NUMBER, ROW_ERRORS]), accounted.copies)
    # Quarantine keeps the rows as delivered, with every reason found for them.
    bad_rows = candidates.filter(bad)
    bad_rows = bad_rows.set_column(bad_rows.column_names.index(ROW_ERRORS), ROW_ERRORS, rows[ROW_ERRORS].filter(bad))
    return Split(rows.filter(pc.invert(bad)).drop_columns([ROW_NUMBER, ROW_ERRORS]),
                 pa.concat_tables([accounted.copies, bad_rows]))


def harmonise(work: DeliveryWork, split: Split) -> Harmonised:
    """Map the rows that go on onto the feed's canonical tables."""
    tables, report = work.feed.harmonise(split.good, work.settings, work.delivery.partner, work.delivery_id)
    return Harmonised(tables, report)


def stage(works: list[DeliveryWork], harmonised: list[Harmonised]) -> list[Canonical | Exception]:
    """Write each delivery's staged files, on two threads (Parquet encoding releases the GIL) while the
    canonical checks run for all of them (:func:`check_canonical_tables`). The files are published only once
    the ledger says "staged": a failure leaves them to be removed (:func:`unstage`), no reader sees them in
    between. For each delivery: its :class:`Canonical`, or what failed for it alone (its files unstaged
    by the caller); a failure of the checks as a whole raises."""
    with ThreadPoolExecutor(2, thread_name_prefix="stage-write") as writers:
        writes = [[writers.submit(_write_staged, w, t, h.tables[t], path) for t, path in w.staged.items()]
                  for w, h in zip(works, harmonised, strict=True)]
        try:
            with jointly(works, "check_canonical"):
                canonical = check_canonical_tables(works, harmonised)
        except BaseException:
            for written in (f for mine in writes for f in mine):
                written.cancel()  # (leaving the ``with`` waits for those already running)
            raise
        outcomes: list[Canonical | Exception] = []
        for mine, checked in zip(writes, canonical, strict=True):
            try:
                for written in mine:
                    written.result()
            except Exception as exc:  # this delivery's failure (writing its files), reported as its own
                checked = exc
            outcomes.append(checked)
    return outcomes


def _write_staged(work: DeliveryWork, table: str, data, path: Path) -> None:
    """A staged file is in the warehouse's schema: the canonical columns and the partition columns."""
    write_parquet(with_partition_columns(table, data, work.delivery.partner, work.delivery.delivery_date), path)


def check_canonical_tables(works: list[DeliveryWork], harmonised: list[Harmonised]) -> list[Canonical | Exception]:
    """Check our own output, each canonical table's suite once for all the deliveries; a delivery that
    breaks an error-level rule gets the exception (a pipeline defect, not the partner's)."""
    validations: list[dict] = [{} for _ in works]
    results = check_canonical_together([h.tables for h in harmonised], [w.delivery_id for w in works], validations)
    return [r if isinstance(r, Exception) else Canonical(r, v) for r, v in zip(results, validations, strict=True)]


def record(work: DeliveryWork, accounted: Accounted, checked: ContractChecked, split: Split,
           harmonised: Harmonised, canonical: Canonical) -> Counts:
    """Write the quarantine report of the rows set apart, the quality results to the ledger and the
    validation results for the Data Docs (counts only). Returns the row accounting."""
    unreadable = accounted.report.unreadable_rows
    counts = Counts(accounted.rows_read, split.good.num_rows, split.rejected.num_rows + len(unreadable))
    if counts.rows_read != counts.rows_valid + counts.rows_quarantined:
        raise RuntimeError(f"{work.delivery_id}: row accounting broken ({counts.rows_read} read, {counts.rows_valid} "
                           f"valid, {counts.rows_quarantined} quarantined); nothing was published")
    problems = row_problems(split.rejected, unreadable)
    if counts.rows_quarantined:
        quarantine.write_rows(work.quarantine_dir, split.rejected, problems, delivery_id=work.delivery_id,
                              source_name=work.delivery.source_name, unreadable=unreadable)
    work.ledger.replace_quality_results(
        work.delivery_id,
        quality_rows(problems.by_reason, accounted.report.warnings, harmonised.report.unmapped) + canonical.results
        + delivery_warnings(counts, checked.candidates.select(free_text_columns(work.feed.contract))))
    contract_suite = f"{work.feed.contract.feed}.contract"
    # GX's own Data Docs are built from these when the catalog is refreshed.
    data_docs.record(work.settings, work.delivery_id,
                     {contract_suite: checked.validation, **{k: v for k, (v, _) in canonical.validations.items()}},
                     rows={contract_suite: checked.candidates.num_rows,
                           **{k: n for k, (_, n) in canonical.validations.items()}})
    return counts


def judge(work: DeliveryWork, counts: Counts) -> Counts:
    """Apply the quality threshold: a few bad rows are quarantined, but a delivery this broken is rejected
    whole (raises :class:`TooManyBadRows`) — publishing its remainder would give a misleading picture of
    the day."""
    limit = float(work.feed.contract.properties.get("maxRejectedRowShare", DEFAULT_MAX_REJECTED_SHARE))
    share = counts.rows_quarantined / counts.rows_read if counts.rows_read else 0.0
    if share > limit:
        raise TooManyBadRows(
            f"{counts.rows_quarantined} of {counts.rows_read} rows ({share:.0%}) broke the contract; the agreed "
            f"maximum is {limit:.0%}, so none of the file was used. The rows and their problems are listed in "
            "report.md; fix them and send the whole file again as a corrected delivery.", counts)
    return counts


def row_problems(rejected: pa.Table, unreadable: list[tuple[int, str]]) -> quarantine.RowProblems:
    """Each reason a partner reads, with the numbers of the rows that have it."""
    problems = quarantine.RowProblems()
    for _ in unreadable:
        problems.add("unreadable_row", None)
    for row, errors in zip(rejected[ROW_NUMBER].to_pylist(), rejected[ROW_ERRORS].to_pylist(), strict=True):
        for reason in reasons.for_partner(errors):
            problems.add(reason, row)
    return problems


def quality_rows(by_reason: Counter, warnings: list[str], unmapped: Counter) -> list[dict]:
    """The ledger's quality results: row problems by rule, the reader's warnings, unmapped codes."""
    rows = []
    for reason, count in sorted(by_reason.items()):
        column, rule = quarantine.rule_of(reason)
        rows.append({"stage": _QUALITY_STAGES.get(rule, "contract"), "rule": rule, "column_name": column,
                     "failed_rows": count, "severity": "error"})
    for w in warnings:
        rows.append({"stage": "parse", "rule": w[:120], "column_name": None, "failed_rows": 0, "severity": "warning"})
    for mapping, count in sorted(unmapped.items()):
        rows.append({"stage": "harmonise", "rule": f"unmapped:{mapping}", "column_name": None,
                     "failed_rows": count, "severity": "warning"})
    return rows


def delivery_warnings(counts: Counts, delivered: pa.Table) -> list[dict]:
    """Warnings about the delivery as a whole: no data rows at all (a header only: normal on a quiet day,
    worth a look on a working day), and text a spreadsheet would run as a formula. The warehouse keeps
    such text as delivered; every file written for people to open neutralises it (``transforms.formulas``)."""
    rows = []
    if counts.rows_read == 0:
        rows.append({"stage": "parse", "rule": "no_data_rows", "column_name": None, "failed_rows": 0,
                     "severity": "warning"})
    for column, count in formula_like_counts(delivered).items():
        rows.append({"stage": "contract", "rule": "formula_like_text", "column_name": column, "failed_rows": count,
                     "severity": "warning"})
    return rows


def free_text_columns(contract) -> list[str]:
    """The contract's text columns that reach the warehouse as delivered: no agreed codes or pattern (a
    formula would break those rules anyway), not dropped (direct identifiers) nor pseudonymised."""
    return [c.name for c in contract.columns
            if c.logical_type == "string" and not c.allowed and not c.pattern
            and c.classification not in ("identity_code", "partner_local_id", "staff_identifier",
                                         "direct_identifier")]


def unstage(staged: dict[str, Path]) -> None:
    """Remove a delivery's staged files (a failed or repeated ingest; nothing was published from them)."""
    for path in staged.values():
        path.unlink(missing_ok=True)


def contract_empty(feed: str) -> pa.Table:
    """No rows, in the feed's contract schema with row numbers and errors (what an empty read gives)."""
    schema = pipeline(feed).contract.arrow_schema()
    return schema.empty_table().append_column(ROW_NUMBER, pa.array([], pa.int64())).append_column(
        ROW_ERRORS, pa.array([], pa.string()))
