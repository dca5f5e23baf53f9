"""A rejected delivery never displaces a valid one: a broken correction leaves the original published.

Which delivery of a partner's date counts (:func:`warehouse.ledger.newest`) is decided among the deliveries
that are not rejected. First as a table of given ledgers → the delivery that counts; then on a real data
root, one day of city_visits and its re-deliveries (valid or broken), processed as they arrive
(``tesoma.steps.process_date`` after each file, what the daily runs do) and all at once as a batch
(``tesoma.steps.process_batch``, what a backfill does): both must leave the same ledger and the same rows.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from synthetic import generate
from tesoma import steps
from tesoma.config import settings
from tests.conftest import TEST_KEY
from warehouse.ledger import Delivery, Ledger, newest
from warehouse.readers import read_table

FEED = "city_visits"
DAY = dt.date(2026, 10, 1)
ORIGINAL = "city_visits_20261001.csv"


# --- which delivery counts: given → expected ------------------------------------------------------------

def delivery(sequence: int, state: str, minute: int = 0) -> Delivery:
    return Delivery(delivery_id=f"d{sequence}-{minute}", partner="city", feed=FEED, delivery_date=DAY,
                    sequence=sequence, source_name=f"f_{sequence}.csv", sha256="0" * 64, raw_path="raw/x",
                    state=state, arrived_at=dt.datetime(2026, 10, 2, 6, minute, tzinfo=dt.UTC))


@pytest.mark.parametrize(("given", "counts"), [
    # (sequence, state) of a partner's deliveries for one date → the sequence of the one that counts
    ([(1, "published"), (2, "rejected")], 1),               # a broken correction: the original stays
    ([(1, "staged"), (2, "rejected")], 1),                  # … also when both arrive before any publish
    ([(1, "superseded"), (2, "rejected")], 1),              # … and restores an original it displaced earlier
    ([(1, "published"), (2, "staged")], 2),                 # a valid correction wins
    ([(1, "superseded"), (2, "published"), (3, "rejected")], 2),
    ([(1, "rejected"), (2, "staged")], 2),                  # a broken first file, then a good one
    ([(1, "superseded"), (2, "rejected"), (3, "staged")], 3),
    ([(1, "rejected"), (2, "rejected")], 2),                # nothing valid: the newest rejected (for status)
    ([(1, "landed")], 1),
])
def test_the_newest_delivery_that_is_not_rejected_counts(given, counts):
    assert newest(delivery(seq, state) for seq, state in given).sequence == counts
    assert newest(reversed([delivery(seq, state) for seq, state in given])).sequence == counts


def test_a_resend_under_the_same_name_counts_by_arrival_unless_rejected():
    first, resent = delivery(1, "published", minute=0), delivery(1, "staged", minute=5)
    assert newest([first, resent]) == resent
    assert newest([first, delivery(1, "rejected", minute=5)]) == first


def test_newest_of_nothing_says_so():
    with pytest.raises(ValueError, match="at least one delivery"):
        newest([])


# --- on a data root: as they arrive, and as one batch ---------------------------------------------------

BROKEN = b"this is not the agreed export\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, bytes]:
    """The day's original export and two valid corrections of it (its last visit, then two, withdrawn)."""
    root = tmp_path_factory.mktemp("generated") / "data"
    generate(root, start=DAY, days=1, residents=120, seed=5, fault_rate=0.0)
    original = (root / "landing" / "city" / FEED / ORIGINAL).read_bytes()
    lines = original.splitlines(keepends=True)
    return {"ok": original, "fix1": b"".join(lines[:-1]), "fix2": b"".join(lines[:-2])}


def use(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TESOMA_DATA_ROOT", str(root))
    monkeypatch.setenv("TESOMA_PSEUDONYM_KEY", TEST_KEY)
    for name in ("TESOMA_LEDGER_URL", "TESOMA_ICEBERG_CATALOG_URL", "TESOMA_ICEBERG_WAREHOUSE"):
        monkeypatch.delenv(name, raising=False)
    (root / "landing" / "city" / FEED).mkdir(parents=True)
    return root


def drop(root: Path, sequence: int, content: bytes) -> None:
    name = ORIGINAL if sequence == 1 else ORIGINAL.replace(".csv", f"_{sequence}.csv")
    (root / "landing" / "city" / FEED / name).write_bytes(content)


def ledger_by_sequence() -> dict[int, str]:
    return {d.sequence: d.state for d in Ledger(settings().ledger_url).all(FEED)}


def visit_count(root: Path) -> int:
    table = read_table(root, "service_event")
    return 0 if table is None else table.num_rows


SCENARIOS = {
    # the files of the day, in the order they arrive → each delivery's state, and which file is in the tables
    "a broken correction": ((("ok",), ("broken",)), {1: "published", 2: "rejected"}, "ok"),
    "a broken second correction": ((("ok",), ("fix1",), ("broken",)),
                                   {1: "superseded", 2: "published", 3: "rejected"}, "fix1"),
    "a good correction after a broken one": ((("ok",), ("broken",), ("fix2",)),
                                             {1: "superseded", 2: "rejected", 3: "published"}, "fix2"),
}


def rows_of(files: dict[str, bytes], name: str) -> int:
    return len(files[name].splitlines()) - 1  # the header


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_rejected_correction_leaves_the_valid_delivery_published(scenario, files, tmp_path, monkeypatch):
    arrivals, expected, in_tables = SCENARIOS[scenario]
    content = {**files, "broken": BROKEN}

    # as they arrive: each file processed by the daily run of its date before the next one comes
    root = use(tmp_path / "daily" / "data", monkeypatch)
    for sequence, (name,) in enumerate(arrivals, start=1):
        drop(root, sequence, content[name])
        results = {r["delivery_id"]: r for r in steps.process_date(FEED, DAY)}
        states = ledger_by_sequence()
        assert [r["state"] for r in results.values()] == [states[s] for s in sorted(states)]
    assert ledger_by_sequence() == expected
    assert visit_count(root) == rows_of(files, in_tables)
    daily = {d.sequence: (d.state, d.rows_published, d.reason) for d in Ledger(settings().ledger_url).all(FEED)}
    # the correction says why it was rejected: in the ledger, and in its quarantine report for the partner
    (rejected,) = [d for d in Ledger(settings().ledger_url).all(FEED) if d.state == "rejected"]
    assert rejected.reason.startswith("missing_columns: ") and rejected.rows_published == 0
    report = root / "quarantine" / "city" / rejected.delivery_id / "report.md"
    assert "missing_columns" in report.read_text(encoding="utf-8")

    # all at once, as a backfill's batch
    root = use(tmp_path / "batch" / "data", monkeypatch)
    for sequence, (name,) in enumerate(arrivals, start=1):
        drop(root, sequence, content[name])
    result = steps.process_batch(FEED, [DAY.isoformat()])
    assert ledger_by_sequence() == expected
    assert visit_count(root) == rows_of(files, in_tables)
    batch = {d.sequence: (d.state, d.rows_published, d.reason) for d in Ledger(settings().ledger_url).all(FEED)}
    assert batch == daily
    reported = {r["sequence"]: r for r in result["deliveries"]}
    for sequence, state in expected.items():
        assert reported[sequence]["state"] == state
        if state == "rejected":
            assert reported[sequence]["reason"] == daily[sequence][2]


def test_publishing_the_original_again_after_its_correction_was_rejected_keeps_it(files, tmp_path, monkeypatch):
    """The bug this guards: publishing the original once a higher-sequence correction exists, but is rejected,
    marked the original ``superseded`` while its rows stayed in the tables."""
    root = use(tmp_path / "data", monkeypatch)
    drop(root, 1, files["ok"])
    (original,) = steps.land(FEED, DAY)
    steps.ingest(original)
    drop(root, 2, BROKEN)
    correction = next(d for d in steps.land(FEED, DAY) if d != original)
    assert steps.ingest(correction)["state"] == "rejected"
    assert steps.publish(correction)["state"] == "rejected"
    assert steps.publish(original)["state"] == "published"
    assert steps.publish(original)["state"] == "published"  # again: still the one that counts
    assert steps.publish_batch([original, correction])[0]["state"] == "published"
    assert ledger_by_sequence() == {1: "published", 2: "rejected"}
    assert visit_count(root) == rows_of(files, "ok")
    shutil.rmtree(root)
