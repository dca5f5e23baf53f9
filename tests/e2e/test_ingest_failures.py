"""A failure of our own in any ingest stage: on the last attempt the delivery is rejected as an internal
error (nothing staged, a report that does not blame the partner, no row data anywhere); before it, the
error goes to the scheduler to retry. A missing pseudonym key is never the delivery's fault."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

import pytest

from tesoma import steps
from tesoma.steps import stages
from transforms.pseudonymise import KeyProblem
from warehouse.layout import Layout
from warehouse.ledger import Ledger

DAY = dt.date(2026, 10, 1)
QUOTED = "010190-123M"
HETU_ANYWHERE = re.compile(r"\d{6}[-+YXWVUABCDEF]\d{3}[0-9A-Y]")
STAGES = {"read": "read", "account": "account", "check_contracts": "check_contract", "pseudonymise": "pseudonymise",
          "harmonise": "harmonise", "check_canonical_tables": "check_canonical", "record": "record",
          "judge": "judge"}


class Boom(Exception):
    pass


@pytest.fixture
def landed(data_root):
    from synthetic import generate

    generate(data_root, start=DAY, days=1, residents=60, seed=3, fault_rate=0.0)
    (path,) = (data_root / "landing" / "city" / "city_visits").glob("*.csv")
    raw = path.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
    lines = raw.decode(encoding).split("\r\n")
    lines.insert(2, lines[1])  # an exact copy: a row for quarantine (rows.parquet, until an error clears it)
    path.write_bytes("\r\n".join(lines).encode(encoding))
    codes = set(HETU_ANYWHERE.findall(path.read_bytes().decode(encoding)))
    (delivery_id,) = steps.land("city_visits", DAY)
    assert codes, "the delivery has identity codes to look for"
    return delivery_id, codes


def _fail_in(monkeypatch, function: str) -> None:
    real = getattr(stages, function)

    def fails(*args, **kwargs):
        real(*args, **kwargs)  # the stage's work is done (e.g. files staged), then it fails
        raise Boom(f"row 7 has {QUOTED}")  # a message quoting row data: it must go nowhere

    monkeypatch.setattr(stages, function, fails)


@pytest.mark.e2e
@pytest.mark.parametrize("function", sorted(STAGES))
def test_an_unexpected_failure_on_the_last_attempt_rejects_the_delivery(data_root, landed, monkeypatch, caplog,
                                                                        function):
    delivery_id, codes = landed
    _fail_in(monkeypatch, function)

    with caplog.at_level(logging.INFO):
        result = steps.ingest(delivery_id)

    reason = f"internal_error: Boom in {STAGES[function]}"
    assert result["state"] == "rejected" and result["reason"] == reason
    assert "error on our side" in result["message"]
    ledger = Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}")
    delivery = ledger.get(delivery_id)
    assert (delivery.state, delivery.reason) == ("rejected", reason)
    assert [(q["stage"], q["rule"]) for q in ledger.quality_results(delivery_id)] == [(STAGES[function],
                                                                                       "internal_error")]
    layout = Layout(data_root)
    assert not [t for t in ("service_event", "event_diagnosis") if layout.staging_file(t, delivery_id).exists()]
    folder = layout.quarantine_dir("city", delivery_id)
    assert sorted(p.name for p in folder.iterdir()) == ["report.json", "report.md"]  # no rows.parquet
    report = (folder / "report.md").read_text()
    assert "error on our side" in report and "nothing is needed from you" in report
    assert json.loads((folder / "report.json").read_text())["rule"] == "internal_error"
    written = report + caplog.text
    assert not [c for c in codes | {QUOTED} if c in written], "row data in the report or the log"
    assert f"{delivery_id} rejected: {reason}" in caplog.text and "in fails" in caplog.text  # the stack


@pytest.mark.e2e
def test_an_unexpected_failure_before_the_last_attempt_is_left_to_the_retry(data_root, landed, monkeypatch):
    delivery_id, _ = landed
    record = stages.record
    _fail_in(monkeypatch, "record")

    with pytest.raises(Boom):
        steps.ingest(delivery_id, final_attempt=False)

    layout = Layout(data_root)
    assert not [t for t in ("service_event", "event_diagnosis") if layout.staging_file(t, delivery_id).exists()]
    assert Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}").get(delivery_id).state == "landed"
    monkeypatch.setattr(stages, "record", record)
    assert steps.ingest(delivery_id, final_attempt=False)["state"] == "staged"  # the retry


@pytest.mark.e2e
def test_a_missing_key_stops_the_ingest_and_is_not_held_against_the_delivery(data_root, landed, monkeypatch):
    delivery_id, _ = landed
    monkeypatch.delenv("TESOMA_PSEUDONYM_KEY")

    with pytest.raises(KeyProblem):
        steps.ingest(delivery_id)

    assert Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}").get(delivery_id).state == "landed"


@pytest.mark.e2e
def test_a_weak_key_found_during_a_stage_is_not_held_against_the_delivery(data_root, landed, monkeypatch):
    delivery_id, _ = landed

    def weak(*args, **kwargs):
        raise KeyProblem("The pseudonym key is 3 bytes")

    monkeypatch.setattr(stages, "pseudonymise", weak)
    with pytest.raises(KeyProblem):
        steps.ingest(delivery_id)
    assert Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}").get(delivery_id).state == "landed"
