"""Mehiläinen's deliveries: a daily FHIR R4 Bulk Data export (feed ``mehilainen_fhir``).

Mehiläinen, the private provider in the alliance, runs a nightly ``$export`` of the alliance's patient
group and drops the result in ``landing/mehilainen/mehilainen_fhir/YYYYMMDD/``: one NDJSON file per
resource type (``Patient.000.ndjson``, ``Encounter.000.ndjson``, ``Condition.000.ndjson``) and a
``manifest.json`` as in the Bulk Data specification, written last: its presence means the export is
complete. The day's export holds the encounters that started that day, their diagnoses, and the
patients they concern.

About a quarter of the residents are Mehiläinen's customers (working-age people more often, thanks to
occupational health care). A customer's Patient carries the HETU under the identifier system
``urn:oid:1.2.246.21`` and Mehiläinen's own medical record number; about 5% carry only the record
number (people whose identity code Mehiläinen never recorded), so the pipeline must cope without one.

Codes used (``serviceType``, system ``https://mehilainen.fi/fhir/CodeSystem/palvelulaji``):

============  =====================================  ======================================
code          meaning                                alliance service area (harmonised)
============  =====================================  ======================================
GP            general practitioner / nurse reception primary_care
OCC           occupational health care               primary_care
SPEC          specialist consultation                primary_care
DENTAL        dental care                            dental_care
PHYSIO        physiotherapy                          primary_care
MENTAL        mental-health reception (psychologist) primary_care
============  =====================================  ======================================

``class`` (v3-ActCode): AMB ambulatory (most), VR virtual, HH home health, EMER emergency, IMP
inpatient (rare). The practitioner's occupation is the second ``participant.type``, a SNOMED CT code
(physician, nurse, dentist, physiotherapist, psychologist). Times carry the Helsinki offset (``+03:00``
in summer time, ``+02:00`` in winter).

The performer is ``participant.individual`` → ``Practitioner/<id>``: each customer has a named
practitioner per occupation and sees them with probability :data:`NAMED_PRACTITIONER_SHARE` (continuity of
care). The care-need assessment is ``Encounter.priority`` (v3-ActPriority: EM for emergencies, UR urgent,
R routine) and the Encounter extension :data:`CARE_NEED_ASSESSED` (valueDateTime, before the visit);
about one encounter in ten has neither (follow-ups booked by the professional). Routine visits come 0–30
days after the assessment, most within a week (a private clinic's queue is short); urgent ones the same
day or the next.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable
from dataclasses import dataclass

from synthetic import clinical_codes, faults
from synthetic.answer_key import AnswerKey, OutputFile
from synthetic.fileformats import ndjson
from synthetic.population import Population, Resident
from synthetic.schedule import daily_arrival, is_working_day, iso_with_offset, local, wait_days
from synthetic.seeding import stream, uuid4

PARTNER = "mehilainen"
FEED = "mehilainen_fhir"
HETU_SYSTEM = "urn:oid:1.2.246.21"
MRN_SYSTEM = "https://mehilainen.fi/fhir/sid/mrn"
ENCOUNTER_ID_SYSTEM = "https://mehilainen.fi/fhir/sid/kaynti"
SERVICE_TYPE_SYSTEM = "https://mehilainen.fi/fhir/CodeSystem/palvelulaji"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
SNOMED = "http://snomed.info/sct"
ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
RESOURCE_TYPES = ("Patient", "Encounter", "Condition")
ACT_PRIORITY = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
CARE_NEED_ASSESSED = "https://tesoma.example/fhir/StructureDefinition/care-need-assessed"
NAMED_PRACTITIONER_SHARE = 0.65
UNASSESSED_SHARE = 0.10
URGENT_SHARE = 0.25
ROUTINE_WAIT_DAYS = ((0.80, 0, 7), (0.15, 8, 14), (0.05, 15, 30))
"""(share, first, last day): the days from a routine assessment to the visit."""
PRIORITIES = {"EM": "emergency", "UR": "urgent", "R": "routine"}

WEEKDAY_ENCOUNTERS_PER_16000 = (150, 250)
OTHER_DAY_SHARE = 0.12
NO_HETU_SHARE = 0.05
EXPORT_TIME = dt.time(5, 30)

SERVICE_TYPES = {
    # code: (display, relative frequency, occupations)
    "GP": ("Yleislääkärin tai hoitajan vastaanotto", 50, ("physician", "nurse")),
    "OCC": ("Työterveyshuolto", 22, ("physician", "nurse")),
    "SPEC": ("Erikoislääkärin vastaanotto", 10, ("physician",)),
    "DENTAL": ("Hammashoito", 9, ("dentist",)),
    "PHYSIO": ("Fysioterapia", 6, ("physiotherapist",)),
    "MENTAL": ("Mielenterveysvastaanotto", 3, ("psychologist",)),
}
OCCUPATIONS = {
    "physician": ("309343006", "Physician", "lääkäri"),
    "nurse": ("106292003", "Professional nurse", "sairaanhoitaja"),
    "dentist": ("106289002", "Dentist", "hammaslääkäri"),
    "physiotherapist": ("36682004", "Physiotherapist", "fysioterapeutti"),
    "psychologist": ("59944000", "Psychologist", "psykologi"),
}
CLASSES = {
    "AMB": ("ambulatory", 80),
    "VR": ("virtual", 12),
    "HH": ("home health", 3),
    "EMER": ("emergency", 4),
    "IMP": ("inpatient encounter", 1),
}
DIAGNOSES = {
    "GP": clinical_codes.ICD10,
    "OCC": clinical_codes.ICD10,
    "SPEC": clinical_codes.ICD10,
    "DENTAL": clinical_codes.DENTAL_ICD10,
    "PHYSIO": {c: clinical_codes.ICD10[c] for c in ("M54.5", "M25.5", "S93.4")},
    "MENTAL": {c: clinical_codes.ICD10[c] for c in ("F32.1", "F41.1")},
}


@dataclass(frozen=True)
class Customer:
    resident: Resident
    patient_id: str
    mrn: str
    hetu_recorded: bool


def customers(population: Population, seed: int) -> list[Customer]:
    """Mehiläinen's customers among the residents (about 25%)."""
    rng = stream(seed, PARTNER, "customers")
    reference = population.reference_date
    chosen = []
    for resident in population.residents:
        share = 0.32 if 18 <= resident.age_on(reference) < 65 else 0.15
        if rng.random() < share:
            chosen.append(
                Customer(
                    resident=resident,
                    patient_id=uuid4(rng),
                    mrn=f"MH{rng.randint(10_000_000, 99_999_999)}",
                    hetu_recorded=rng.random() >= NO_HETU_SHARE,
                )
            )
    return chosen


def patient(customer: Customer) -> dict:
    r = customer.resident
    identifiers = []
    if customer.hetu_recorded:
        identifiers.append({"use": "official", "system": HETU_SYSTEM, "value": r.hetu})
    identifiers.append(
        {
            "use": "usual",
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                        "code": "MR",
                        "display": "Medical record number",
                    }
                ]
            },
            "system": MRN_SYSTEM,
            "value": customer.mrn,
        }
    )
    telecom = [{"system": "phone", "value": r.phone, "use": "mobile"}]
    if r.email:
        telecom.append({"system": "email", "value": r.email, "use": "home"})
    return {
        "resourceType": "Patient",
        "id": customer.patient_id,
        "identifier": identifiers,
        "active": True,
        "name": [{"use": "official", "family": r.surname, "given": r.first_names.split()}],
        "telecom": telecom,
        "gender": "female" if r.sex == "F" else "male",
        "birthDate": r.birth_date.isoformat(),
        "address": [
            {
                "use": "home",
                "line": [r.street_address],
                "postalCode": r.postal_code,
                "city": "Tampere",
                "country": "FI",
            }
        ],
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fi", "display": "suomi"}]},
                "preferred": True,
            }
        ],
    }


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class _Clinic:
    """Mehiläinen's Tesoma clinic: who comes, for what, and what gets recorded."""

    def __init__(self, population: Population, seed: int) -> None:
        self.rng = stream(seed, PARTNER, "encounters")
        self.customers = customers(population, seed)
        self.scale = len(population.residents) / 16_000
        self.practitioners = {o: [uuid4(self.rng) for _ in range(12)] for o in OCCUPATIONS}
        self.next_number = self.rng.randint(10_000_000, 20_000_000)
        # Streams of their own: the encounters themselves are the same as without these details.
        self.care = stream(seed, PARTNER, "care")
        self.named: dict[tuple[str, str], str] = {}

    def day(self, day: dt.date) -> tuple[list[dict], list[dict], list[dict]]:
        rng = self.rng
        low, high = WEEKDAY_ENCOUNTERS_PER_16000
        share = 1.0 if is_working_day(day) else OTHER_DAY_SHARE
        count = round(rng.uniform(low, high) * share * self.scale) if self.customers else 0
        encounters, conditions, patients = [], [], {}
        for _ in range(count):
            customer = rng.choice(self.customers)
            encounter, diagnoses = self._encounter(day, customer)
            encounters.append(encounter)
            conditions.extend(diagnoses)
            patients[customer.patient_id] = customer
        encounters.sort(key=lambda e: (e["period"]["start"], e["id"]))
        conditions.sort(key=lambda c: (c["recordedDate"], c["id"]))
        return [patient(patients[pid]) for pid in sorted(patients)], encounters, conditions

    def _encounter(self, day: dt.date, customer: Customer) -> tuple[dict, list[dict]]:
        rng = self.rng
        encounter_class = _pick(rng, {code: w for code, (_, w) in CLASSES.items()})
        if encounter_class in ("HH", "EMER", "IMP"):
            service = "GP"
        elif encounter_class == "VR":
            service = rng.choice(("GP", "OCC", "SPEC", "MENTAL"))
        else:
            service = _pick(rng, {code: w for code, (_, w, _) in SERVICE_TYPES.items()})
        occupation = rng.choice(SERVICE_TYPES[service][2])
        opens, closes = (7 * 60, 20 * 60) if is_working_day(day) else (9 * 60, 16 * 60)
        if encounter_class in ("EMER", "IMP"):
            opens, closes = 0, 24 * 60 - 15
        start = local(day, dt.time()) + dt.timedelta(minutes=rng.randrange(opens, closes, 15))
        length = {
            "AMB": (20, 45),
            "VR": (10, 20),
            "HH": (45, 60),
            "EMER": (60, 240),
            "IMP": (24 * 60, 72 * 60),
        }[encounter_class]
        end = start + dt.timedelta(minutes=rng.randrange(length[0], length[1] + 1, 5))
        # wall-clock arithmetic on Helsinki times; normalise the offset (the autumn clock change)
        start, end = (t.astimezone(dt.UTC).astimezone(start.tzinfo) for t in (start, end))
        cancelled = rng.random() < 0.06
        encounter_id = uuid4(rng)
        code, display, text = OCCUPATIONS[occupation]
        self.next_number += rng.randint(1, 5)
        encounter = {
            "resourceType": "Encounter",
            "id": encounter_id,
            "identifier": [
                {"use": "official", "system": ENCOUNTER_ID_SYSTEM, "value": f"E{self.next_number}"}
            ],
            "status": "cancelled" if cancelled else "finished",
            "class": {"system": ACT_CODE, "code": encounter_class, "display": CLASSES[encounter_class][0]},
            "serviceType": {
                "coding": [
                    {"system": SERVICE_TYPE_SYSTEM, "code": service, "display": SERVICE_TYPES[service][0]}
                ]
            },
            "subject": {"reference": f"Patient/{customer.patient_id}"},
            "participant": [
                {
                    "type": [
                        {
                            "coding": [
                                {"system": PARTICIPATION_TYPE, "code": "PPRF", "display": "primary performer"}
                            ]
                        },
                        {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": text},
                    ],
                    "individual": {"reference": f"Practitioner/{self._performer(customer, occupation, rng)}"},
                }
            ],
            "period": {"start": iso_with_offset(start), "end": iso_with_offset(end)},
            "serviceProvider": {"display": "Mehiläinen Tesoma"},
        }
        encounter.update(self._assessment(day, start, encounter_class))
        diagnoses: list[dict] = []
        if not cancelled and rng.random() < 0.75:
            count = 2 if rng.random() < 0.15 else 1
            codes = DIAGNOSES[service]
            for icd in dict.fromkeys(clinical_codes.pick(rng, codes) for _ in range(count)):
                diagnoses.append(self._condition(icd, customer, encounter_id, start, end))
        return encounter, diagnoses

    def _performer(self, customer: Customer, occupation: str, rng: random.Random) -> str:
        """The practitioner: the customer's named one for the occupation, or another that day."""
        staff = self.practitioners[occupation]
        drawn = rng.choice(staff)  # any practitioner of the occupation (the main stream's draw, as before)
        named = self.named.get((customer.patient_id, occupation))
        if named is None:
            named = self.named[(customer.patient_id, occupation)] = self.care.choice(staff)
        return named if self.care.random() < NAMED_PRACTITIONER_SHARE else drawn

    def _assessment(self, day: dt.date, start: dt.datetime, encounter_class: str) -> dict:
        """``priority`` and the care-need-assessed extension of an encounter (none for about one in ten)."""
        rng = self.care
        if rng.random() < UNASSESSED_SHARE:
            return {}
        start_utc = start.astimezone(dt.UTC)
        if encounter_class == "EMER" or not is_working_day(day) or rng.random() < URGENT_SHARE:
            priority = "EM" if encounter_class == "EMER" else "UR"
            assessed = start_utc - dt.timedelta(minutes=rng.randrange(15, 20 * 60, 5))
        else:
            priority, days = "R", wait_days(rng, ROUTINE_WAIT_DAYS)
            if days == 0:
                assessed = start_utc - dt.timedelta(minutes=rng.randrange(30, 300, 5))
            else:
                office = local(day - dt.timedelta(days=days), dt.time(8, 0))
                assessed = office + dt.timedelta(minutes=rng.randrange(0, 8 * 60, 5))
        return {
            "priority": {"coding": [{"system": ACT_PRIORITY, "code": priority, "display": PRIORITIES[priority]}]},
            "extension": [{"url": CARE_NEED_ASSESSED, "valueDateTime": iso_with_offset(assessed)}],
        }

    def _condition(
        self, icd: str, customer: Customer, encounter_id: str, start: dt.datetime, end: dt.datetime
    ) -> dict:
        display = clinical_codes.icd10_display(icd)
        return {
            "resourceType": "Condition",
            "id": uuid4(self.rng),
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "encounter-diagnosis",
                            "display": "Encounter Diagnosis",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": ICD10_SYSTEM, "code": icd, "display": display}], "text": display},
            "subject": {"reference": f"Patient/{customer.patient_id}"},
            "encounter": {"reference": f"Encounter/{encounter_id}"},
            "onsetDateTime": iso_with_offset(start),
            "recordedDate": iso_with_offset(end),
        }


def manifest(day: dt.date, counts: dict[str, int]) -> dict:
    """The Bulk Data completion manifest; ``url`` is relative to the export folder."""
    since = iso_with_offset(local(day, dt.time()))
    return {
        "transactionTime": iso_with_offset(local(day + dt.timedelta(days=1), EXPORT_TIME)),
        "request": "https://fhir.mehilainen.example/fhir/Group/tesoma-allianssi/$export"
        f"?_type=Patient,Encounter,Condition&_since={since}",
        "requiresAccessToken": False,
        "output": [{"type": t, "url": f"{t}.000.ndjson", "count": counts[t]} for t in RESOURCE_TYPES],
        "error": [],
    }


def deliver(
    key: AnswerKey,
    plan: faults.FaultPlan,
    population: Population,
    days: list[dt.date],
    seed: int,
    progress: Callable[[str], None],
) -> None:
    clinic = _Clinic(population, seed)
    for day in days:
        patients, encounters, conditions = clinic.day(day)
        deliver_day(key, plan, seed, day, patients, encounters, conditions, progress)


def deliver_day(
    key: AnswerKey,
    plan: faults.FaultPlan,
    seed: int,
    day: dt.date,
    patients: list[dict],
    encounters: list[dict],
    conditions: list[dict],
    progress: Callable[[str], None],
) -> None:
    """Deliver one day's export (the resources as dicts), with the faults planned for it: the demo's
    clinic and the county generator (``synthetic.county_deliveries``, on its days with faults) share it."""
    kinds = plan.kinds(FEED, day)
    folder = f"landing/{PARTNER}/{FEED}/{day:%Y%m%d}"
    injected: list[dict] = []
    duplicates = None
    if faults.DUPLICATE_ROWS in kinds:
        duplicates = faults.duplicate_resources(
            encounters, faults.fault_rng(seed, FEED, day, faults.DUPLICATE_ROWS)
        )
        if duplicates:
            injected.append(
                {
                    "kind": faults.DUPLICATE_ROWS,
                    "forced": kinds[faults.DUPLICATE_ROWS],
                    "path": f"{folder}/Encounter.000.ndjson",
                    **duplicates,
                }
            )
    if faults.INVALID_CODES in kinds:
        problems = faults.invalid_fhir_codes(
            patients, encounters, faults.fault_rng(seed, FEED, day, faults.INVALID_CODES), duplicates
        )
        if problems:
            injected.append(
                {
                    "kind": faults.INVALID_CODES,
                    "forced": kinds[faults.INVALID_CODES],
                    "path": folder,
                    "rows": [p["row"] for p in problems],
                    "columns": sorted({p["field"] for p in problems}),
                    "keys": [p["id"] for p in problems],
                    "details": problems,
                }
            )
    expected = daily_arrival(day)
    arrived = expected
    if faults.LATE_FILE in kinds:
        arrived = expected + faults.LATENESS
        injected.append(
            {
                "kind": faults.LATE_FILE,
                "forced": kinds[faults.LATE_FILE],
                "path": folder,
                "expected_at": iso_with_offset(expected),
                "arrived_at": iso_with_offset(arrived),
            }
        )
    resources = {"Patient": patients, "Encounter": encounters, "Condition": conditions}
    deliver_export(key, day, {t: (ndjson(resources[t]), len(resources[t])) for t in RESOURCE_TYPES}, arrived,
                   injected)
    progress(
        f"{day.isoformat()} {FEED}: {len(patients)} patients, {len(encounters)} encounters, "
        f"{len(conditions)} conditions"
    )


def deliver_export(
    key: AnswerKey,
    day: dt.date,
    ndjson_files: dict[str, tuple[bytes, int]],
    arrived: dt.datetime | None = None,
    injected: list[dict] | None = None,
) -> None:
    """Write a day's export folder: each resource type's NDJSON (bytes, line count) a minute before the
    ``manifest.json`` that marks it complete, and record the delivery."""
    folder = f"landing/{PARTNER}/{FEED}/{day:%Y%m%d}"
    counts = {t: ndjson_files[t][1] for t in RESOURCE_TYPES}
    files = [
        OutputFile(f"{folder}/{t}.000.ndjson", ndjson_files[t][0], counts[t], earlier_by=dt.timedelta(minutes=1))
        for t in RESOURCE_TYPES
    ]
    body = json.dumps(manifest(day, counts), indent=2) + "\n"
    files.append(OutputFile(f"{folder}/manifest.json", body.encode(), 0))
    expected = daily_arrival(day)
    key.deliver(
        partner=PARTNER,
        feed=FEED,
        covers=day.isoformat(),
        files=files,
        expected_at=expected,
        arrived_at=arrived or expected,
        faults=injected or [],
        resources=counts,
    )
