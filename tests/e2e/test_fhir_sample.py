"""mehilainen_fhir end to end through ``tesoma.steps`` (land → ingest → publish on a temporary data root):
the third-party Synthea bulk export, and a generated day. Expected figures are derived here, straight
from the NDJSON files, not from the pipeline."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from synthetic import generate
from tesoma import steps
from tesoma.config import PROJECT_DIR, settings
from tesoma.keys import load_key
from transforms.pseudonymise import keyed_ids
from warehouse.ledger import Ledger
from warehouse.readers import read_table

FEED, PARTNER = "mehilainen_fhir", "mehilainen"
DAY = dt.date(2026, 10, 1)
def _sample_folder() -> Path:
    """The third-party sample lives beside the checkout (``../shared/samples``), not in it; a clean clone
    elsewhere finds it through TESOMA_FHIR_SAMPLE or the workplace's shared folder."""
    name = Path("shared") / "samples" / "fhir-bulk-synthea-10"
    candidates = [os.environ.get("TESOMA_FHIR_SAMPLE"), PROJECT_DIR.parent / name, Path("/work") / name]
    for candidate in candidates:
        if candidate and (Path(candidate) / "Encounter.000.ndjson").exists():
            return Path(candidate)
    return PROJECT_DIR.parent / name


SAMPLE = _sample_folder()
HETU_SYSTEM = "urn:oid:1.2.246.21"
SERVICE_AREAS = {"primary_care", "dental_care", "maternity_clinic", "child_clinic", "social_counselling",
                 "wellbeing_counselling", "youth_services", "library", "ngo_activity", "digital_service"}


def resources(folder: Path, kind: str) -> list[dict]:
    out = []
    for path in sorted(folder.glob(f"{kind}.*ndjson")):
        with path.open(encoding="utf-8") as f:
            out += [json.loads(line) for line in f if line.strip()]
    return out


def ref_id(reference: str) -> str:
    return reference.removeprefix("urn:uuid:").rsplit("/", 1)[-1]


def write_manifest(folder: Path) -> None:
    """The Bulk Data manifest the sample lacks: every NDJSON file with its resource count."""
    output = []
    for path in sorted(folder.glob("*.ndjson")):
        count = sum(1 for line in path.read_bytes().splitlines() if line.strip())
        output.append({"type": path.name.split(".")[0], "url": path.name, "count": count})
    manifest = {"transactionTime": "2026-10-02T05:30:00+03:00", "request": "sample", "requiresAccessToken": False,
                "output": output, "error": []}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def published(data_root: Path, table: str) -> pa.Table:
    """The published rows of the day's partition of ``table``."""
    rows = read_table(data_root, table, partner=PARTNER, delivery_date=DAY)
    assert rows is not None, f"nothing is published in {table} for {PARTNER} on {DAY}"
    return rows


def event_ids(encounter_ids: list[str]) -> dict[str, str]:
    """encounter id → the event_id the pipeline must give it (keyed with the test key)."""
    keyed = keyed_ids(pa.array(encounter_ids, pa.string()), f"event:{PARTNER}", load_key(settings()))
    return dict(zip(encounter_ids, keyed.to_pylist(), strict=True))


@pytest.fixture
def sample() -> Path:
    if not (SAMPLE / "Encounter.000.ndjson").exists():
        message = f"the Synthea FHIR sample is not at {SAMPLE} (set TESOMA_FHIR_SAMPLE)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SAMPLE


@pytest.mark.e2e
def test_synthea_sample_end_to_end(data_root, sample):
    folder = data_root / "landing" / PARTNER / FEED / f"{DAY:%Y%m%d}"
    shutil.copytree(sample, folder, ignore=shutil.ignore_patterns("*.md"))
    write_manifest(folder)

    patients = {p["id"]: p for p in resources(folder, "Patient")}
    encounters = resources(folder, "Encounter")
    conditions = resources(folder, "Condition")
    by_encounter: dict[str, list[str]] = {}
    for c in conditions:
        by_encounter.setdefault(ref_id(c["encounter"]["reference"]), []).append(c["code"]["coding"][0]["code"])
    subject_of = {e["id"]: ref_id(e["subject"]["reference"]) for e in encounters}
    assert set(by_encounter) <= set(subject_of) and set(subject_of.values()) <= set(patients), "sample changed?"
    assert not any(i.get("system") == HETU_SYSTEM for p in patients.values() for i in p.get("identifier", []))

    (delivery_id,) = steps.land(FEED, DAY)
    staged = steps.ingest(delivery_id)
    steps.publish(delivery_id)

    delivery = Ledger(settings().ledger_url).get(delivery_id)
    assert delivery.state == "published"
    assert delivery.rows_read == len(encounters) == delivery.rows_published + delivery.rows_quarantined
    assert delivery.rows_quarantined == staged["rows_quarantined"] == 0
    warnings = [r["rule"] for r in Ledger(settings().ledger_url).quality_results(delivery_id)
                if r["stage"] == "parse"]
    assert warnings == [], "the connector saw dangling references or unreadable lines"

    events = published(data_root, "service_event")
    diagnoses = published(data_root, "event_diagnosis")
    expected_event = event_ids([e["id"] for e in encounters])
    encounter_of = {v: k for k, v in expected_event.items()}

    # Every Encounter is exactly one service_event row.
    assert events.num_rows == len(encounters)
    assert sorted(events["event_id"].to_pylist()) == sorted(expected_event.values())
    # Every Condition is exactly one event_diagnosis row, linked to an existing event, as many per event as
    # the export has per encounter, the first one primary.
    assert diagnoses.num_rows == len(conditions)
    assert set(diagnoses["event_id"].to_pylist()) <= set(expected_event.values())
    per_event = Counter(diagnoses["event_id"].to_pylist())
    assert {encounter_of[e]: n for e, n in per_event.items()} == {e: len(c) for e, c in by_encounter.items()}
    primary = {encounter_of[r["event_id"]]: r["diagnosis_code_source"] for r in diagnoses.to_pylist()
               if r["is_primary"]}
    assert primary == {e: codes[0] for e, codes in by_encounter.items()}
    first_code = {encounter_of[r["event_id"]]: r["diagnosis_code_source"] for r in events.to_pylist()}
    assert first_code == {e["id"]: (by_encounter.get(e["id"]) or [None])[0] for e in encounters}

    # No identity codes in the sample: every person is partner-local, one pseudonym per Patient.
    assert set(events["person_id_kind"].to_pylist()) == {"partner_local"}
    assert len(set(events["person_id"].to_pylist())) == len(set(subject_of.values()))
    # Birth year and sex come from the Patient resource where there is no identity code; the birth year is
    # top-coded for those aged 90 or over in the event's year (Synthea's sample has some).
    facts = {encounter_of[r["event_id"]]: (r["birth_year"], r["sex"]) for r in events.to_pylist()}
    event_year = {encounter_of[r["event_id"]]: r["event_date"].year for r in events.to_pylist()}
    assert facts == {e: (max(int(patients[p]["birthDate"][:4]), event_year[e] - 90), patients[p]["gender"])
                     for e, p in subject_of.items()}
    assert any(event_year[e] - int(patients[p]["birthDate"][:4]) > 90 for e, p in subject_of.items())
    assert set(events["service_area"].drop_null().to_pylist()) <= SERVICE_AREAS
    assert events["event_start"].null_count == 0


@pytest.mark.e2e
def test_generated_day_end_to_end(data_root):
    generate(data_root, start=DAY, days=1, residents=800, seed=11, fault_rate=0.0)
    folder = data_root / "landing" / PARTNER / FEED / f"{DAY:%Y%m%d}"
    patients = {p["id"]: p for p in resources(folder, "Patient")}
    encounters = resources(folder, "Encounter")
    conditions = resources(folder, "Condition")
    assert encounters, "the generator wrote no encounters for the day"

    def kind(patient: dict) -> str:
        code = next((i["value"] for i in patient["identifier"] if i["system"] == HETU_SYSTEM), None)
        if code is None:
            return "partner_local"
        return "temporary" if int(code[7:10]) >= 900 else "hetu"

    (result,) = steps.process_date(FEED, DAY)
    assert result["state"] == "published"
    assert result["rows_quarantined"] == 0
    assert result["rows_read"] == result["rows_published"] == len(encounters)

    events = published(data_root, "service_event")
    expected_event = event_ids([e["id"] for e in encounters])
    encounter_of = {v: k for k, v in expected_event.items()}
    kinds = {encounter_of[r["event_id"]]: r["person_id_kind"] for r in events.to_pylist()}
    assert kinds == {e["id"]: kind(patients[ref_id(e["subject"]["reference"])]) for e in encounters}
    assert published(data_root, "event_diagnosis").num_rows == len(conditions)
    assert events["service_area"].null_count == events["contact_mode"].null_count == 0
    assert events["professional_group"].null_count == events["status"].null_count == 0

    # Nothing identifying left the restricted zones (names, HETUs, phones from the delivery).
    steps.refresh_catalog()
    assert steps.audit()["findings"] == 0
