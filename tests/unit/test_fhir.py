"""mehilainen_fhir: the FHIR Bulk Data connector on tiny exports, and the harmonise function on tiny
pseudonymised tables (given rows → expected rows)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

import contracts
from connectors.base import DeliveryRejected, ReadReport
from connectors.fhir import CARE_NEED_ASSESSED, MANIFEST, practitioner_id, read_export, reference_id
from synthetic import fhir as generator
from tesoma.config import PROJECT_DIR
from tesoma.feeds import connector_for
from tesoma.mappings import load_maps
from transforms.harmonise import Context
from transforms.harmonise import mehilainen_fhir as harmonise_module
from warehouse.schemas import EVENT_DIAGNOSIS, SERVICE_EVENT

UTC = dt.UTC
HETU = "urn:oid:1.2.246.21"
MRN = "https://mehilainen.fi/fhir/sid/mrn"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
SNOMED = "http://snomed.info/sct"
ROLE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "PPRF"}]}


# --- tiny resources ------------------------------------------------------------------------------------------


def patient(pid: str, *, hetu: str | None = None, mrn: str | None = None, **extra) -> dict:
    identifiers = ([{"system": HETU, "value": hetu}] if hetu else []) + ([{"system": MRN, "value": mrn}] if mrn else [])
    return {
        "resourceType": "Patient", "id": pid, "identifier": identifiers,
        "name": [{"use": "nickname", "family": "Nimetön"},
                 {"use": "official", "family": "Testinen", "given": ["Äijö", "Ilmari"]}],
        "telecom": [{"system": "phone", "value": "+358 40 0000000"}, {"system": "email", "value": "a@b.example"}],
        "gender": "male", "birthDate": "1980-10-01",
        "address": [{"use": "home", "line": ["Testikatu 1", "B 2"], "postalCode": "33310"}],
        **extra,
    }


def encounter(eid: str, subject: str, *, start: str = "2026-10-01T08:30:00+03:00",
              end: str | None = "2026-10-01T08:50:00+03:00", **extra) -> dict:
    resource = {
        "resourceType": "Encounter", "id": eid,
        "identifier": [{"system": "https://other.example/id", "value": f"X-{eid}"},
                       {"system": "https://mehilainen.fi/fhir/sid/kaynti", "value": f"E-{eid}"}],
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "serviceType": {"coding": [{"system": "https://mehilainen.fi/fhir/CodeSystem/palvelulaji", "code": "GP"}]},
        "subject": {"reference": subject},
        "participant": [{"type": [ROLE, {"coding": [{"system": SNOMED, "code": "309343006"}]}]}],
        "period": {"start": start, **({"end": end} if end else {})},
        "serviceProvider": {"display": "Mehiläinen Tesoma"},
    }
    resource.update(extra)
    return resource


def condition(cid: str, encounter_ref: str | None, code: str = "J06.9", system: str = ICD10) -> dict:
    resource = {"resourceType": "Condition", "id": cid, "code": {"coding": [{"system": system, "code": code}]},
                "subject": {"reference": "Patient/p1"}}
    if encounter_ref is not None:
        resource["encounter"] = {"reference": encounter_ref}
    return resource


def lines(resources: list) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in resources)


def write_export(folder: Path, files: dict[str, list], *, manifest: bool = True, counts: dict[str, int] | None = None,
                 transaction_time: str = "2026-10-02T05:30:00+03:00") -> Path:
    """An export folder: ``files`` maps file names (``Encounter.000.ndjson``) to their lines."""
    folder.mkdir(parents=True)
    output = []
    for name, resources in files.items():
        (folder / name).write_text(lines(resources), encoding="utf-8")
        count = (counts or {}).get(name, sum(1 for r in resources if str(r).strip()))
        output.append({"type": name.split(".")[0], "url": f"https://fhir.example/out/{name}", "count": count})
    if manifest:
        body = {"transactionTime": transaction_time, "request": "https://fhir.example/$export",
                "requiresAccessToken": False, "output": output, "error": []}
        (folder / MANIFEST).write_text(json.dumps(body), encoding="utf-8")
    return folder


def read(folder: Path, batch_rows: int = 1000) -> tuple[pa.Table, ReadReport]:
    report = ReadReport()
    batches = list(connector_for("mehilainen_fhir").read(folder, report, batch_rows=batch_rows))
    schema = batches[0].schema if batches else None
    return (pa.Table.from_batches(batches, schema=schema) if batches else None), report


def rejected(folder: Path) -> DeliveryRejected:
    with pytest.raises(DeliveryRejected) as info:
        read(folder)
    return info.value


# --- connector: given NDJSON → expected rows -------------------------------------------------------------------


def test_rows_flatten_encounter_patient_and_conditions(tmp_path):
    folder = write_export(tmp_path / "20261001", {
        "Patient.000.ndjson": [patient("p1", hetu="010180-123A", mrn="MH1"), patient("p2")],
        "Encounter.000.ndjson": [encounter("e1", "Patient/p1"), encounter("e2", "urn:uuid:p2", end=None)],
        "Condition.000.ndjson": [condition("c1", "Encounter/e1"), condition("c2", "urn:uuid:e1", "73211009", SNOMED),
                                 condition("c3", "https://fhir.example/fhir/Encounter/e2/_history/3", "R51")],
    })
    table, report = read(folder)
    assert report.warnings == [] and report.unreadable_rows == []
    assert table.schema.names == [*contracts.load("mehilainen_fhir").column_names, "_row", "_errors"]
    first, second = table.to_pylist()
    assert first == {
        "encounter_id": "e1", "encounter_identifier": "E-e1", "status": "finished", "class_code": "AMB",
        "service_type_code": "GP", "encounter_type_code": None,
        "period_start": dt.datetime(2026, 10, 1, 5, 30, tzinfo=UTC),  # +03:00 → UTC
        "period_end": dt.datetime(2026, 10, 1, 5, 50, tzinfo=UTC),
        "participant_type": "309343006", "practitioner_id": None, "priority_code": None,
        "care_need_assessed": None, "hetu": "010180-123A", "patient_local_id": "MH1",
        "name_family": "Testinen", "name_given": "Äijö Ilmari", "address_line": "Testikatu 1, B 2",
        "telecom": "+358 40 0000000; a@b.example", "postal_code": "33310", "birth_date": dt.date(1980, 10, 1),
        "gender": "male", "condition_codes": ["J06.9", "73211009"], "condition_systems": [ICD10, SNOMED],
        "service_provider": "Mehiläinen Tesoma",
        "last_updated": dt.datetime(2026, 10, 2, 2, 30, tzinfo=UTC),  # the manifest's transactionTime
        "_row": 1, "_errors": None,
    }
    # No HETU and no MRN: the Patient resource id is the partner-local id; urn:uuid references resolve.
    assert (second["hetu"], second["patient_local_id"], second["period_end"]) == (None, "p2", None)
    assert (second["condition_codes"], second["condition_systems"], second["_row"]) == (["R51"], [ICD10], 2)


def test_meta_last_updated_wins_over_the_transaction_time(tmp_path):
    folder = write_export(tmp_path / "20261001", {
        "Patient.000.ndjson": [patient("p1")],
        "Encounter.000.ndjson": [encounter("e1", "Patient/p1", meta={"lastUpdated": "2026-10-01T09:00:00.123Z"})],
    })
    table, _ = read(folder)
    assert table["last_updated"].to_pylist() == [dt.datetime(2026, 10, 1, 9, 0, tzinfo=UTC)]


def test_dangling_references_are_counted_never_shown(tmp_path):
    folder = write_export(tmp_path / "20261001", {
        "Patient.000.ndjson": [patient("p1", hetu="010180-123A")],
        "Encounter.000.ndjson": [encounter("e1", "Patient/p1"), encounter("e2", "Patient/secret-id"),
                                 encounter("e3", "urn:uuid:also-secret"), encounter("e4", "")],
        "Condition.000.ndjson": [condition("c1", "Encounter/e1"), condition("c2", "Encounter/gone-1"),
                                 condition("c3", "urn:uuid:gone-2"), condition("c4", None)],
    })
    table, report = read(folder)
    assert table["_errors"].to_pylist() == [None, "subject: dangling_reference", "subject: dangling_reference",
                                            "subject: missing_reference"]
    assert table["patient_local_id"].to_pylist()[1:] == [None, None, None]
    assert table["condition_codes"].to_pylist() == [["J06.9"], [], [], []]
    assert report.warnings == [
        "1 Condition(s) without an Encounter reference; not linked",
        "2 Condition(s) reference an Encounter that is not in the export; not linked (include the Encounter in "
        "the same export)",
    ]
    text = " ".join(report.warnings)
    assert not any(value in text for value in ("secret", "gone", "c2", "010180"))


def test_lines_that_are_not_resources_of_the_file_type(tmp_path):
    folder = write_export(tmp_path / "20261001", {
        "Patient.000.ndjson": [patient("p1"), "{broken", condition("c9", "Encounter/e1")],
        "Encounter.000.ndjson": [encounter("e1", "Patient/p1"), '{"resourceType": "Encounter", "id": "e2"',
                                 patient("p2"), "", encounter("e3", "Patient/p1"), '["a list"]'],
        "Condition.000.ndjson": ["not json at all", condition("c1", "Encounter/e3"), '{"resourceType": "Condition"}'],
    }, counts={"Encounter.000.ndjson": 5})
    table, report = read(folder)
    # Data rows are the non-empty Encounter lines; the blank line (file line 4) is not one.
    assert table["_row"].to_pylist() == [1, 4]
    assert table["encounter_id"].to_pylist() == ["e1", "e3"]
    assert table["condition_codes"].to_pylist() == [[], ["J06.9"]]
    assert report.unreadable_rows == [
        (1, "Encounter.000.ndjson line 2: not valid JSON"),
        (2, "Encounter.000.ndjson line 3: not a resource of type Encounter"),
        (4, "Encounter.000.ndjson line 6: not a resource of type Encounter"),
    ]
    assert report.warnings == [
        "1 Patient line(s) not a resource of type Patient (Patient.000.ndjson:3); their encounters are rejected "
        "as dangling references",
        "1 Patient line(s) not valid JSON (Patient.000.ndjson:2); their encounters are rejected as dangling "
        "references",
        "1 Condition line(s) a Condition without an id (Condition.000.ndjson:3); not linked to any encounter",
        "1 Condition line(s) not valid JSON (Condition.000.ndjson:1); not linked to any encounter",
    ]


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("start", "2026-02-30T10:00:00+02:00", "period_start: not_a_date_time"),  # no such day
    ("start", "2026-10-01T10:00:00", "period_start: not_a_date_time"),  # FHIR requires the offset
    ("start", "2026-10-01", "period_start: not_a_date_time"),  # a day is not an instant
    ("end", "01.10.2026 10:00", "period_end: not_a_date_time"),
])
def test_untypable_times_become_null_with_a_reason(tmp_path, field, value, reason):
    period = {"start": "2026-10-01T08:30:00+03:00", field: value}
    folder = write_export(tmp_path / "20261001", {
        "Patient.000.ndjson": [patient("p1")],
        "Encounter.000.ndjson": [encounter("e1", "Patient/p1", period=period)],
    })
    table, _ = read(folder)
    assert table["_errors"].to_pylist() == [reason]
    assert table[f"period_{field}"].to_pylist() == [None]


def test_partial_birth_date_is_not_a_date(tmp_path):
    folder = write_export(tmp_path / "20261001", {
        "Patient.000.ndjson": [patient("p1", birthDate="1980-10")],
        "Encounter.000.ndjson": [encounter("e1", "Patient/p1")],
    })
    table, _ = read(folder)
    assert table["_errors"].to_pylist() == ["birth_date: not_a_date"]


def test_several_files_per_type_and_batches(tmp_path):
    folder = write_export(tmp_path / "20261001", {
        "Patient.000.ndjson": [patient("p1")],
        "Patient.001.ndjson": [patient("p2")],
        "Encounter.000.ndjson": [encounter(f"e{i}", "Patient/p1") for i in range(3)],
        "Encounter.001.ndjson": [encounter(f"f{i}", "Patient/p2") for i in range(2)],
        "Condition.000.ndjson": [condition("c1", "Encounter/f1")],
    })
    report = ReadReport()
    batches = list(connector_for("mehilainen_fhir").read(folder, report, batch_rows=2))
    assert [b.num_rows for b in batches] == [2, 2, 1]
    table = pa.Table.from_batches(batches)
    assert table["_row"].to_pylist() == [1, 2, 3, 4, 5]  # counted across the files, in manifest order
    assert table["patient_local_id"].to_pylist() == ["p1"] * 3 + ["p2"] * 2
    assert table["condition_codes"].to_pylist()[4] == ["J06.9"]


def test_other_resource_types_are_ignored_with_a_warning(tmp_path):
    folder = write_export(tmp_path / "20261001", {
        "Patient.000.ndjson": [patient("p1")],
        "Encounter.000.ndjson": [encounter("e1", "Patient/p1")],
        "Observation.000.ndjson": [{"resourceType": "Observation", "id": "o1"}],
    })
    table, report = read(folder)
    assert table.num_rows == 1
    assert report.warnings == ["Observation.000.ndjson: resource type Observation is not part of this feed; ignored"]


def test_an_empty_export_gives_no_rows(tmp_path):
    table, report = read(write_export(tmp_path / "20261001", {}))
    assert table is None and report.warnings == [] and report.unreadable_rows == []


@pytest.mark.parametrize(("reference", "kind", "expected"), [
    ("Patient/abc", "Patient", "abc"),
    ("urn:uuid:4f1e-77", "Patient", "4f1e-77"),
    ("https://fhir.example/R4/Patient/abc", "Patient", "abc"),
    ("Patient/abc/_history/2", "Patient", "abc"),
    ("Group/abc", "Patient", None),
    ("#contained", "Patient", None),
    ("Patient?identifier=x|1", "Patient", None),
    ("", "Patient", None),
    (None, "Patient", None),
    ("Encounter/e1", "Encounter", "e1"),
])
def test_reference_id(reference, kind, expected):
    assert reference_id(reference, kind) == expected


# --- connector: the manifest and discovery ---------------------------------------------------------------------


def minimal(folder: Path, **kwargs) -> Path:
    return write_export(folder, {"Patient.000.ndjson": [patient("p1", hetu="010180-123A")],
                                 "Encounter.000.ndjson": [encounter("e1", "Patient/p1")]}, **kwargs)


def test_missing_manifest_rejects_the_delivery(tmp_path):
    error = rejected(minimal(tmp_path / "20261001", manifest=False))
    assert error.rule == "missing_manifest"
    assert "manifest.json is missing" in str(error)


def test_count_mismatch_rejects_the_delivery(tmp_path):
    error = rejected(minimal(tmp_path / "20261001", counts={"Encounter.000.ndjson": 2}))
    assert error.rule == "manifest_count_mismatch"
    assert str(error).startswith("Encounter.000.ndjson holds 1 resource(s) (non-empty lines) but manifest.json says 2")


def test_listed_file_missing_rejects_the_delivery(tmp_path):
    folder = minimal(tmp_path / "20261001")
    (folder / "Encounter.000.ndjson").unlink()
    error = rejected(folder)
    assert (error.rule, str(error).split(",")[0]) == (
        "manifest_mismatch", "manifest.json lists Encounter.000.ndjson")


def test_unlisted_file_rejects_the_delivery(tmp_path):
    folder = minimal(tmp_path / "20261001")
    (folder / "Encounter.001.ndjson").write_text(lines([encounter("e2", "Patient/p1")]), encoding="utf-8")
    error = rejected(folder)
    assert error.rule == "manifest_mismatch"
    assert "Encounter.001.ndjson, which manifest.json does not list" in str(error)


@pytest.mark.parametrize("body", ["{not json", "[]", '{"output": "x"}', '{"output": [{"type": "Patient"}]}',
                                  '{"output": [{"type": "Patient", "url": "Patient.000.ndjson", "count": "1"}]}',
                                  '{"output": [{"type": "Patient", "url": "https://x.example/"}]}'])
def test_broken_manifest_rejects_the_delivery(tmp_path, body):
    folder = minimal(tmp_path / "20261001")
    (folder / MANIFEST).write_text(body, encoding="utf-8")
    assert rejected(folder).rule == "manifest_invalid"


def test_a_file_listed_twice_rejects_the_delivery(tmp_path):
    folder = minimal(tmp_path / "20261001")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    manifest["output"].append(manifest["output"][1])
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    error = rejected(folder)
    assert (error.rule, str(error)) == ("manifest_invalid",
                                        "manifest.json lists Encounter.000.ndjson more than once; list each file once.")


def test_rejection_messages_carry_no_values(tmp_path):
    for case, kwargs in (("a", {"manifest": False}), ("b", {"counts": {"Patient.000.ndjson": 9}})):
        message = str(rejected(minimal(tmp_path / case, **kwargs)))
        assert "010180" not in message and "p1" not in message and "Testinen" not in message


def test_a_single_file_is_not_a_delivery(tmp_path):
    path = tmp_path / "20261001"
    path.write_text("{}", encoding="utf-8")
    assert rejected(path).rule == "not_a_folder"


def test_manifest_warnings(tmp_path):
    folder = minimal(tmp_path / "20261001", transaction_time="yesterday")
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    del manifest["output"][0]["count"]
    manifest["error"] = [{"type": "OperationOutcome", "url": "OperationOutcome.000.ndjson"}]
    (folder / "OperationOutcome.000.ndjson").write_text("{}\n", encoding="utf-8")
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    table, report = read(folder)
    assert table["last_updated"].to_pylist() == [None]
    assert report.warnings == [
        "manifest.json has no valid transactionTime; last_updated is empty where Encounter.meta.lastUpdated is "
        "missing",
        "manifest.json gives no count for Patient.000.ndjson; its completeness was not checked",
        "manifest.json lists 1 error file(s) (OperationOutcome): some resources may be missing from the export",
    ]


def test_discovery_waits_for_the_manifest(tmp_path):
    landing = tmp_path / "landing" / "mehilainen" / "mehilainen_fhir"
    minimal(landing / "20261001")
    minimal(landing / "20261001_2")
    minimal(landing / "20261002", manifest=False)  # still being written
    minimal(landing / "2026-10-03")  # not named as agreed
    found = connector_for("mehilainen_fhir").discover_all(tmp_path / "landing")
    assert [(f.path.name, f.delivery_date, f.sequence, f.partner) for f in found] == [
        ("20261001", dt.date(2026, 10, 1), 1, "mehilainen"), ("20261001_2", dt.date(2026, 10, 1), 2, "mehilainen")]


def test_a_folder_without_manifest_through_the_helper(tmp_path):
    folder = minimal(tmp_path / "sample", manifest=False)
    report = ReadReport()
    schema = contracts.load("mehilainen_fhir").arrow_schema()
    table = pa.Table.from_batches(list(read_export(folder, report, 10, schema, require_manifest=False)))
    assert table["encounter_id"].to_pylist() == ["e1"]
    assert table["last_updated"].to_pylist() == [None]


# --- harmonise: given pseudonymised rows → expected canonical rows -------------------------------------------


def maps():
    return load_maps(PROJECT_DIR / "config" / "mappings", harmonise_module.MAPPINGS, "mehilainen")


CONTEXT = Context(partner="mehilainen", feed="mehilainen_fhir", delivery_id="d-1")


def pseudonymised(*rows: dict) -> pa.Table:
    """Rows as the pseudonymise step leaves them (identifiers replaced, direct identifiers dropped)."""
    defaults = {
        "encounter_identifier": "E1", "status": "finished", "class_code": "AMB", "service_type_code": "GP",
        "encounter_type_code": None, "period_start": dt.datetime(2026, 10, 1, 5, 30, tzinfo=UTC),
        "period_end": dt.datetime(2026, 10, 1, 5, 50, tzinfo=UTC), "participant_type": "309343006",
        "postal_code": "33310", "birth_date": dt.date(1980, 10, 1), "gender": "male", "condition_codes": [],
        "condition_systems": [], "service_provider": "Mehiläinen Tesoma",
        "last_updated": dt.datetime(2026, 10, 2, 2, 30, tzinfo=UTC), "event_id": "ev", "person_id": "pe",
        "person_id_kind": "hetu", "birth_year": 1980, "sex": "male", "age_at_event": 46,
        "priority_code": None, "care_need_assessed": None, "professional_id": None,
    }
    schema = pa.schema([
        ("encounter_identifier", pa.string()), ("status", pa.string()), ("class_code", pa.string()),
        ("service_type_code", pa.string()), ("encounter_type_code", pa.string()),
        ("period_start", pa.timestamp("s", tz="UTC")), ("period_end", pa.timestamp("s", tz="UTC")),
        ("participant_type", pa.string()), ("postal_code", pa.string()), ("birth_date", pa.date32()),
        ("gender", pa.string()), ("condition_codes", pa.list_(pa.string())),
        ("condition_systems", pa.list_(pa.string())), ("service_provider", pa.string()),
        ("last_updated", pa.timestamp("s", tz="UTC")), ("event_id", pa.string()), ("person_id", pa.string()),
        ("person_id_kind", pa.string()), ("birth_year", pa.int16()), ("sex", pa.string()),
        ("age_at_event", pa.int16()), ("priority_code", pa.string()),
        ("care_need_assessed", pa.timestamp("s", tz="UTC")), ("professional_id", pa.string()),
    ])
    return pa.Table.from_pylist([{**defaults, **r} for r in rows], schema=schema)


def test_harmonise_given_rows_expected_rows():
    table = pseudonymised(
        {"event_id": "ev1", "person_id": "pe1", "condition_codes": ["j06.9 ", "R51"],
         "condition_systems": [ICD10, "urn:oid:1.2.246.537.6.1"]},
        # No HETU: birth year and age from birthDate, at the Helsinki date (01:30 on 1 Oct, the birthday).
        {"event_id": "ev2", "person_id": "pe2", "person_id_kind": "partner_local", "birth_year": None,
         "sex": None, "age_at_event": None, "gender": "female", "class_code": "VR", "status": "cancelled",
         "service_type_code": "MENTAL", "participant_type": "59944000",
         "period_start": dt.datetime(2026, 9, 30, 22, 30, tzinfo=UTC), "period_end": None},
        # Another server's export: no serviceType (the SNOMED type is used), gender unknown (the code's sex).
        {"event_id": "ev3", "person_id": "pe3", "service_type_code": None, "encounter_type_code": "410620009",
         "gender": "unknown", "sex": "female", "status": "entered-in-error", "class_code": "FLD",
         "participant_type": None, "condition_codes": ["73211009"], "condition_systems": [SNOMED],
         "period_end": dt.datetime(2026, 10, 1, 5, 0, tzinfo=UTC)},  # ends before it starts
    )
    out, report = harmonise_module.harmonise(table, maps(), CONTEXT)
    events, diagnoses = out["service_event"], out["event_diagnosis"]
    assert events.schema == SERVICE_EVENT and diagnoses.schema == EVENT_DIAGNOSIS
    picked = ["event_id", "person_id_kind", "service_area", "service_code_source", "contact_mode",
              "contact_mode_label", "professional_group", "professional_group_source", "unit_code", "event_date",
              "duration_min", "status", "status_source", "diagnosis_code", "diagnosis_system",
              "diagnosis_code_source", "birth_year", "age_at_event", "sex", "home_postal_code"]
    assert events.select(picked).to_pylist() == [
        {"event_id": "ev1", "person_id_kind": "hetu", "service_area": "primary_care", "service_code_source": "GP",
         "contact_mode": "R10", "contact_mode_label": "Office visit", "professional_group": "physician",
         "professional_group_source": "309343006", "unit_code": "Mehiläinen Tesoma",
         "event_date": dt.date(2026, 10, 1), "duration_min": 20, "status": "completed", "status_source": "finished",
         "diagnosis_code": "J06.9", "diagnosis_system": "ICD-10", "diagnosis_code_source": "j06.9 ",
         "birth_year": 1980, "age_at_event": 46, "sex": "male", "home_postal_code": "33310"},
        {"event_id": "ev2", "person_id_kind": "partner_local", "service_area": "primary_care",
         "service_code_source": "MENTAL", "contact_mode": "R52",
         "contact_mode_label": "Real-time remote contact (video)", "professional_group": "psychologist",
         "professional_group_source": "59944000", "unit_code": "Mehiläinen Tesoma",
         "event_date": dt.date(2026, 10, 1), "duration_min": None, "status": "cancelled",
         "status_source": "cancelled", "diagnosis_code": None, "diagnosis_system": None,
         "diagnosis_code_source": None, "birth_year": 1980, "age_at_event": 46, "sex": "female",
         "home_postal_code": "33310"},
        {"event_id": "ev3", "person_id_kind": "hetu", "service_area": "child_clinic",
         "service_code_source": "410620009", "contact_mode": None, "contact_mode_label": None,
         "professional_group": None, "professional_group_source": None, "unit_code": "Mehiläinen Tesoma",
         "event_date": dt.date(2026, 10, 1), "duration_min": None, "status": None,
         "status_source": "entered-in-error", "diagnosis_code": "73211009", "diagnosis_system": "SNOMED CT",
         "diagnosis_code_source": "73211009", "birth_year": 1980, "age_at_event": 46, "sex": "female",
         "home_postal_code": "33310"},
    ]
    first = events.to_pylist()[0]
    assert (first["partner"], first["feed"], first["delivery_id"]) == ("mehilainen", "mehilainen_fhir", "d-1")
    assert first["event_start"] == dt.datetime(2026, 10, 1, 5, 30, tzinfo=UTC)
    assert first["source_updated_at"] == dt.datetime(2026, 10, 2, 2, 30, tzinfo=UTC)
    assert (first["home_municipality"], first["client_fee_eur"]) == (None, None)
    assert diagnoses.to_pylist() == [
        {"event_id": "ev1", "person_id": "pe1", "partner": "mehilainen", "feed": "mehilainen_fhir",
         "diagnosis_code": "J06.9", "diagnosis_system": "ICD-10", "diagnosis_code_source": "j06.9 ",
         "diagnosis_system_source": ICD10, "is_primary": True, "delivery_id": "d-1"},
        {"event_id": "ev1", "person_id": "pe1", "partner": "mehilainen", "feed": "mehilainen_fhir",
         "diagnosis_code": "R51", "diagnosis_system": "ICD-10", "diagnosis_code_source": "R51",
         "diagnosis_system_source": "urn:oid:1.2.246.537.6.1", "is_primary": False, "delivery_id": "d-1"},
        {"event_id": "ev3", "person_id": "pe3", "partner": "mehilainen", "feed": "mehilainen_fhir",
         "diagnosis_code": "73211009", "diagnosis_system": "SNOMED CT", "diagnosis_code_source": "73211009",
         "diagnosis_system_source": SNOMED, "is_primary": True, "delivery_id": "d-1"},
    ]
    # Unmapped values are counted (never kept): FLD and entered-in-error.
    assert dict(report.unmapped) == {"fhir_encounter_classes": 1, "fhir_encounter_status": 1}


def test_harmonise_an_empty_table():
    out, report = harmonise_module.harmonise(pseudonymised().slice(0, 0), maps(), CONTEXT)
    assert out["service_event"].num_rows == out["event_diagnosis"].num_rows == 0
    assert out["service_event"].schema == SERVICE_EVENT and not report.unmapped


def test_harmonise_does_not_modify_its_input():
    table = pseudonymised({"condition_codes": ["J06.9"], "condition_systems": [ICD10]})
    before = table.to_pylist()
    harmonise_module.harmonise(table, maps(), CONTEXT)
    assert table.to_pylist() == before


def test_every_code_the_partner_sends_is_mapped():
    """Each code Mehiläinen's export uses (per the synthetic twin of its system) has a mapping."""
    loaded = maps()
    assert set(generator.SERVICE_TYPES) <= set(loaded["service_area"].mapping)
    assert set(generator.CLASSES) <= set(loaded["contact_mode"].mapping)
    assert {code for code, _, _ in generator.OCCUPATIONS.values()} <= set(loaded["professional_group"].mapping)
    assert {generator.ICD10_SYSTEM} <= set(loaded["diagnosis_system"].mapping)
    assert set(loaded["contact_mode"].mapping.values()) <= set(loaded["contact_mode_label"].mapping)


# --- performer, priority and care-need assessment ------------------------------------------------------------

ATTENDER = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "ATND"}]}


@pytest.mark.parametrize(("participants", "expected"), [
    # the primary performer wins over an earlier attender
    ([{"type": [ATTENDER], "individual": {"reference": "Practitioner/att"}},
      {"type": [ROLE], "individual": {"reference": "Practitioner/pp"}}], "pp"),
    # no PPRF: the first participant with an individual
    ([{"type": [ATTENDER]}, {"type": [ATTENDER], "individual": {"reference": "https://x.example/fhir/Practitioner/a/_history/2"}}],
     "a"),
    # Synthea's conditional reference: the identifier (system|value)
    ([{"type": [ROLE], "individual": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999974493"}}],
     "http://hl7.org/fhir/sid/us-npi|9999974493"),
    # a logical reference by identifier only
    ([{"type": [ROLE], "individual": {"identifier": {"system": "urn:staff", "value": "H1"}}}], "urn:staff|H1"),
    ([{"type": [ROLE]}], None),
    (None, None),
])
def test_practitioner_id_is_the_primary_performer(participants, expected):
    assert practitioner_id(participants) == expected


def test_priority_and_assessment_are_read_from_the_encounter(tmp_path):
    folder = write_export(tmp_path / "20261001", {
        "Patient.000.ndjson": [patient("p1")],
        "Encounter.000.ndjson": [
            encounter("e1", "Patient/p1",
                      participant=[{"type": [ROLE], "individual": {"reference": "Practitioner/d1"}}],
                      priority={"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority",
                                            "code": "R"}]},
                      extension=[{"url": "https://other.example/x", "valueString": "y"},
                                 {"url": CARE_NEED_ASSESSED, "valueDateTime": "2026-09-28T10:15:00+03:00"}]),
            encounter("e2", "Patient/p1", extension=[{"url": CARE_NEED_ASSESSED, "valueDateTime": "yesterday"}]),
        ],
    })
    table, _ = read(folder)
    got = table.select(["practitioner_id", "priority_code", "care_need_assessed", "_errors"]).to_pylist()
    assert got == [
        {"practitioner_id": "d1", "priority_code": "R",
         "care_need_assessed": dt.datetime(2026, 9, 28, 7, 15, tzinfo=UTC), "_errors": None},
        {"practitioner_id": None, "priority_code": None, "care_need_assessed": None,
         "_errors": "care_need_assessed: not_a_date_time"},
    ]


def test_harmonise_maps_priority_to_urgency_and_keeps_the_professional():
    table = pseudonymised(
        {"priority_code": "EM", "professional_id": "pro-a",
         "care_need_assessed": dt.datetime(2026, 10, 1, 5, 0, tzinfo=UTC)},
        {"priority_code": "R", "care_need_assessed": dt.datetime(2026, 9, 20, 9, 0, tzinfo=UTC)},
        {"priority_code": "EL"}, {"priority_code": "CS"}, {},
    )
    out, report = harmonise_module.harmonise(table, maps(), CONTEXT)
    assert out["service_event"].select(["professional_id", "assessment_time", "urgency", "urgency_source"]
                                       ).to_pylist() == [
        {"professional_id": "pro-a", "assessment_time": dt.datetime(2026, 10, 1, 5, 0, tzinfo=UTC),
         "urgency": "urgent", "urgency_source": "EM"},
        {"professional_id": None, "assessment_time": dt.datetime(2026, 9, 20, 9, 0, tzinfo=UTC),
         "urgency": "non_urgent", "urgency_source": "R"},
        {"professional_id": None, "assessment_time": None, "urgency": "non_urgent", "urgency_source": "EL"},
        {"professional_id": None, "assessment_time": None, "urgency": None, "urgency_source": "CS"},  # no urgency
        {"professional_id": None, "assessment_time": None, "urgency": None, "urgency_source": None},
    ]
    assert report.unmapped["fhir_act_priority"] == 1
