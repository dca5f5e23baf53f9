"""Deliveries ingested together (a batch's deliveries share each Great Expectations run) end exactly as
each ingested alone: the same staged rows, ledger accounting, quality results, quarantine report and Data
Docs counts — and a failure or rejection of one never touches the others."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from expectations import data_docs
from synthetic import generate
from tesoma import steps
from tesoma.config import settings
from tesoma.steps import ingestion, stages
from tests.conftest import TEST_KEY
from warehouse.layout import Layout
from warehouse.ledger import Ledger

FEED = "city_visits"
DAYS = [dt.date(2026, 10, 5) + dt.timedelta(days=i) for i in range(4)]  # Monday to Thursday: visits every day


@pytest.fixture(scope="module")
def landed_files(tmp_path_factory) -> Path:
    """Four days of city_visits: day 2 with rows that break the contract (quarantined), day 3 with the same
    record id twice (unique within the delivery; the id also appears in day 4: not a repeat), day 4 fine."""
    root = tmp_path_factory.mktemp("together") / "data"
    generate(root, start=DAYS[0], days=len(DAYS), residents=1500, seed=5, fault_rate=0.0)
    for other in (root / "landing").glob("*/*"):
        if other.name != FEED:
            shutil.rmtree(other)
    folder = root / "landing" / "city" / FEED
    rewrite(folder / "city_visits_20261006.csv", lambda rows: [with_field(r, 8, "EIOLE") for r in rows[:2]] + rows[2:])
    fourth_id = read_rows(folder / "city_visits_20261008.csv")[0].split(";")[0]
    rewrite(folder / "city_visits_20261007.csv",
            lambda rows: [rows[0], with_field(rows[1], 0, fourth_id), *rows[2:], with_field(rows[0], 13, "99")])
    return root


def encoding_of(path: Path) -> str:
    return "utf-8-sig" if path.read_bytes().startswith(b"\xef\xbb\xbf") else "cp1252"


def read_rows(path: Path) -> list[str]:
    return path.read_bytes().decode(encoding_of(path)).splitlines()[1:]


def rewrite(path: Path, change) -> None:
    encoding = encoding_of(path)
    text = path.read_bytes().decode(encoding)
    newline = "\r\n" if "\r\n" in text else "\n"
    path.write_bytes(newline.join([text.splitlines()[0], *change(read_rows(path)), ""]).encode(encoding))


def with_field(row: str, index: int, value: str) -> str:
    fields = row.split(";")
    fields[index] = value
    return ";".join(fields)


def fresh(landed_files: Path, where: Path, monkeypatch) -> list[str]:
    root = where / "data"
    shutil.copytree(landed_files, root)
    monkeypatch.setenv("TESOMA_DATA_ROOT", str(root))
    monkeypatch.setenv("TESOMA_PSEUDONYM_KEY", TEST_KEY)
    monkeypatch.delenv("TESOMA_LEDGER_URL", raising=False)
    return [d for day in DAYS for d in steps.land(FEED, day)]


def outcome(ids: list[str]) -> dict:
    """Everything ingest leaves of each delivery, without timings."""
    s = settings()
    layout, ledger = Layout(s.data_root), Ledger(s.ledger_url)
    found = {}
    for d in ids:
        delivery = ledger.get(d)
        staged = {t: pq.read_table(layout.staging_file(t, d)).to_pylist() if layout.staging_file(t, d).exists()
                  else None for t in ("service_event", "event_diagnosis")}
        report = layout.quarantine_dir(delivery.partner, d) / "report.json"
        docs = {}
        for suite in sorted((data_docs.validations_dir(s) / d).glob("*.json")):
            result = json.loads(suite.read_text())
            docs[suite.name] = [(e["expectation_config"]["meta"].get("rule"), e["success"],
                                 e["result"].get("unexpected_count"), e["result"].get("element_count"))
                                for e in result["results"]]
        found[d] = {"state": delivery.state, "rows": (delivery.rows_read, delivery.rows_quarantined),
                    "reason": delivery.reason, "staged": staged,
                    "quality": sorted(map(repr, ledger.quality_results(d))),
                    "quarantine": json.loads(report.read_text())["problems"] if report.exists() else None,
                    "docs": docs}
    return found


def test_together_is_each_alone(landed_files, tmp_path, monkeypatch):
    ids = fresh(landed_files, tmp_path / "alone", monkeypatch)
    for d in ids:
        steps.ingest(d)
    alone = outcome(ids)

    ids = fresh(landed_files, tmp_path / "together", monkeypatch)
    results = ingestion.ingest_together(ids)
    together = outcome(ids)

    assert together == alone
    assert [r["state"] for r in results.values()] == ["staged"] * 4
    second, third = alone[ids[1]], alone[ids[2]]
    assert second["rows"][1] > 0 and third["rows"][1] > 0  # the scenario: both have quarantined rows
    assert third["rows"][1] == 2  # the repeated record id, both rows; not the id day 4 has too
    # the ledger's seconds are each delivery's own: together they add up to about the batch's time
    assert all(Ledger(settings().ledger_url).get(d).seconds > 0 for d in ids)


def test_one_delivery_failing_leaves_the_others_staged(landed_files, tmp_path, monkeypatch):
    ids = fresh(landed_files, tmp_path / "one_fails", monkeypatch)
    real = stages.pseudonymise

    def fails_for_the_second(work, *args):
        if work.delivery_id == ids[1]:
            raise RuntimeError("boom")
        return real(work, *args)

    monkeypatch.setattr(stages, "pseudonymise", fails_for_the_second)
    results = ingestion.ingest_together(ids)

    assert results[ids[1]]["state"] == "rejected"
    assert results[ids[1]]["reason"] == "internal_error: RuntimeError in pseudonymise"
    assert [results[d]["state"] for d in ids if d != ids[1]] == ["staged"] * 3
    layout = Layout(settings().data_root)
    assert not layout.staging_file("service_event", ids[1]).exists()
    assert all(layout.staging_file("service_event", d).exists() for d in ids if d != ids[1])


def test_an_unreadable_delivery_is_rejected_alone(landed_files, tmp_path, monkeypatch):
    ids = fresh(landed_files, tmp_path / "unreadable", monkeypatch)
    s = settings()
    raw = Layout(s.data_root).root / Ledger(s.ledger_url).get(ids[0]).raw_path
    raw.write_bytes(b"this is not the agreed export\n")
    results = ingestion.ingest_together(ids)
    assert results[ids[0]]["state"] == "rejected"
    assert [results[d]["state"] for d in ids[1:]] == ["staged"] * 3


def test_groups_hold_a_bounded_number_of_bytes(landed_files, tmp_path, monkeypatch):
    ids = fresh(landed_files, tmp_path / "groups", monkeypatch)
    works = [stages.open_delivery(d, None) for d in ids]
    sizes = [w.delivery.size_bytes for w in works]
    monkeypatch.setattr(ingestion, "JOINT_BYTES", sizes[0] + sizes[1])
    assert [[w.delivery_id for w in g] for g in ingestion._groups(works)][0] == ids[:2]
    monkeypatch.setattr(ingestion, "JOINT_BYTES", 1)
    assert len(ingestion._groups(works)) == len(ids)  # a delivery bigger than the limit goes alone
