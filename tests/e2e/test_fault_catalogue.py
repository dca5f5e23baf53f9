"""Every hostile delivery of the fault catalogue ends as it must, and the clean deliveries beside them are
published unaffected.

The catalogue (:mod:`synthetic.fault_catalogue`) is written once into one data root: each case on a date
of its own, plus one clean delivery per feed and partner. Each feed's dates are processed once with
``process_date``, as the DAG would; then each case is checked: no exception escaped, the delivery has the
expected state and a reason a partner can act on (a landing entry that is not a delivery: a finding in
the ledger), and the rows add up (``rows_read = rows_published + rows_quarantined``).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import traceback
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

from connectors.base import shown_name
from synthetic import fault_catalogue
from synthetic.fault_catalogue import (
    ACCEPTED_WITH_WARNING,
    NOT_A_DELIVERY,
    QUARANTINED,
    REJECTED,
    Catalogue,
    FaultCase,
)
from tests.conftest import _SESSION_DIR, TEST_KEY
from warehouse.ledger import Delivery, Ledger

MIN_CASES = 60
MIN_PER_FORMAT = {"csv": 20, "xlsx": 10, "fhir": 15}


@cache
def _written() -> tuple[Path, Catalogue]:
    """The catalogue, written once per session (collection needs its case ids)."""
    _SESSION_DIR.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="fault-catalogue-", dir=_SESSION_DIR)) / "data"
    root.mkdir()
    return root, fault_catalogue.write_catalogue(root)


def _case_ids() -> list[str]:
    return [case.id for case in _written()[1].cases]


@dataclass
class Run:
    root: Path
    catalogue: Catalogue
    ledger: Ledger
    crashes: dict[tuple[str, dt.date], str] = field(default_factory=dict)
    """(feed, date) → the exception that escaped process_date, summarised."""


def _summary(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames[-4:]))
    return f"{type(exc).__name__} at {where}"


@pytest.fixture(scope="module")
def run() -> Run:
    from tesoma import steps

    root, catalogue = _written()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TESOMA_DATA_ROOT", str(root))
        mp.delenv("TESOMA_LEDGER_URL", raising=False)
        mp.setenv("TESOMA_PSEUDONYM_KEY", TEST_KEY)
        crashes = {}
        for feed in catalogue.feeds():
            for day in catalogue.dates(feed):
                try:
                    steps.process_date(feed, day)
                except Exception as exc:  # what the test is about: report it per case
                    crashes[(feed, day)] = _summary(exc)
        yield Run(root, catalogue, Ledger(f"sqlite:///{root / 'ledger.sqlite'}"), crashes)


def _case(case_id: str) -> FaultCase:
    return next(c for c in _written()[1].cases if c.id == case_id)


def _delivery(run: Run, case: FaultCase) -> Delivery:
    found = [d for d in run.ledger.for_date(case.feed, case.delivery_date, case.partner)
             if d.source_name in (case.name, shown_name(case.name))]
    assert len(found) == 1, f"{case.id}: expected one delivery named {shown_name(case.name)!r}, got {found}"
    return found[0]


def _rows_add_up(delivery: Delivery) -> None:
    if delivery.rows_read is not None:
        assert delivery.rows_read == (delivery.rows_published or 0) + (delivery.rows_quarantined or 0), (
            f"rows do not add up: read {delivery.rows_read}, published {delivery.rows_published}, "
            f"quarantined {delivery.rows_quarantined}")


def _any_contains(texts: list[str], case: FaultCase) -> bool:
    return any(part in text for text in texts for part in case.reasons())


# --- the catalogue itself ------------------------------------------------------------------------------------


def test_catalogue_covers_every_format():
    catalogue = _written()[1]
    counts = catalogue.counts()
    expectations = {e: sum(c.expected == e for c in catalogue.cases) for e in fault_catalogue.EXPECTATIONS}
    print(f"\nfault catalogue: {len(catalogue.cases)} cases; per format {counts}; per expectation {expectations}")
    assert len(catalogue.cases) >= MIN_CASES
    for fmt, least in MIN_PER_FORMAT.items():
        assert counts.get(fmt, 0) >= least, f"only {counts.get(fmt, 0)} {fmt} cases"
    for case in catalogue.cases:
        assert case.expected in fault_catalogue.EXPECTATIONS and case.format in fault_catalogue.FORMATS
        assert case.reason and case.description, case.id
        if case.expected != NOT_A_DELIVERY:
            assert case.delivery_date is not None, case.id
    delivery_days = [(c.feed, c.partner, c.delivery_date) for c in catalogue.cases if c.expected != NOT_A_DELIVERY]
    delivery_days += [(g.feed, g.partner, g.delivery_date) for g in catalogue.good]
    assert len(delivery_days) == len(set(delivery_days)), "each case needs a date of its own"


# --- each case ------------------------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("case_id", _case_ids())
def test_fault_case(run: Run, case_id: str):
    case = _case(case_id)
    if case.expected == NOT_A_DELIVERY:
        crashed = {key: summary for key, summary in run.crashes.items() if key[0] == case.feed}
        assert not crashed, f"{case.id}: process_date raised: {crashed}"
        findings = [f for f in run.ledger.findings(case.feed) if f.partner == case.partner]
        mine = [f for f in findings if f.name == shown_name(case.name)]
        assert mine, (f"{case.id}: no not-a-delivery finding for {shown_name(case.name)!r}; the ledger has "
                      f"{[f.name for f in findings]}")
        assert _any_contains([mine[0].reason], case), f"{case.id}: finding reason {mine[0].reason!r}"
        assert not [d for d in run.ledger.all(case.feed) if d.source_name in (case.name, shown_name(case.name))], \
            f"{case.id}: landed as a delivery"
        return

    crash = run.crashes.get((case.feed, case.delivery_date))
    assert crash is None, f"{case.id}: process_date({case.feed}, {case.delivery_date}) raised {crash}"
    delivery = _delivery(run, case)
    _rows_add_up(delivery)
    results = run.ledger.quality_results(delivery.delivery_id)
    if case.expected == REJECTED:
        assert delivery.state == "rejected", f"{case.id}: {delivery.state}, {delivery.reason}"
        assert delivery.reason and len(delivery.reason) > 20, f"{case.id}: reason {delivery.reason!r}"
        assert _any_contains([delivery.reason], case), f"{case.id}: reason {delivery.reason!r}, expected {case.reason}"
        return
    assert delivery.state == "published", f"{case.id}: {delivery.state}, {delivery.reason}"
    if case.expected == QUARANTINED:
        problems = [f"{r['column_name']}: {r['rule']}" for r in results if r["severity"] == "error"]
        assert delivery.rows_quarantined, f"{case.id}: no row quarantined"
        assert delivery.rows_published, f"{case.id}: nothing published"
        assert _any_contains(problems, case), f"{case.id}: row problems {problems}, expected {case.reason}"
    else:
        assert case.expected == ACCEPTED_WITH_WARNING
        warnings = [r["rule"] for r in results if r["severity"] == "warning"]
        assert not delivery.rows_quarantined, f"{case.id}: {delivery.rows_quarantined} rows quarantined"
        assert _any_contains(warnings, case), f"{case.id}: warnings {warnings}, expected {case.reason}"


@pytest.mark.e2e
def test_clean_deliveries_beside_the_cases_are_published(run: Run):
    problems = []
    for good in run.catalogue.good:
        crash = run.crashes.get((good.feed, good.delivery_date))
        found = [d for d in run.ledger.for_date(good.feed, good.delivery_date, good.partner)
                 if d.source_name == good.name]
        if crash or len(found) != 1:
            problems.append(f"{good.feed}/{good.partner}/{good.name}: {crash or found}")
            continue
        d = found[0]
        if (d.state, d.rows_quarantined) != ("published", 0) or not d.rows_published or d.rows_read != d.rows_published:
            problems.append(f"{good.feed}/{good.partner}/{good.name}: {d.state}, read {d.rows_read}, published "
                            f"{d.rows_published}, quarantined {d.rows_quarantined}, {d.reason}")
    assert not problems, "\n".join(problems)


def test_no_case_writes_outside_the_data_root():
    root, _ = _written()
    for path in root.rglob("*"):
        if path.is_symlink():
            target = Path(os.path.realpath(path))
            assert target.is_relative_to(root.resolve()) or not target.exists(), path
