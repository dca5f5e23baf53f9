"""mehilainen_fhir → service_event (one row per Encounter) and event_diagnosis (one row per Condition).

The mappings, as data in ``config/mappings/``:

- ``fhir_encounter_classes.csv``: Encounter.class (v3-ActCode) → Avohilmo contact mode. AMB, EMER and
  PRENC → R10 office visit (an emergency visit is a visit at the clinic); HH → R20 home visit; IMP and the
  other inpatient classes → R40 hospital visit; **VR → R52 real-time remote contact**: VR means any
  encounter where patient and professional are not in one place, and FHIR's class cannot tell phone from
  video. Mehiläinen's virtual visits are real-time appointments of 10–20 minutes (chat or video), so R52
  fits better than R71 (phone); telling the two apart would need the partner to send the channel (e.g.
  in Encounter.type). FLD (field) is deliberately unmapped: Avohilmo has no "elsewhere" mode but R30
  workplace visit, which would be a guess. The label comes from ``contact_modes.csv``, shared by every
  feed, so a code reads the same everywhere.
- ``fhir_service_types.csv``: Encounter.serviceType code (Mehiläinen's palvelulaji) → service area;
  where serviceType is absent (other FHIR servers, e.g. the Synthea sample), the first Encounter.type
  code (SNOMED CT) is looked up in the same table. Hospital admissions, hospice and death certification
  are deliberately not mapped: they are not alliance services, so they stay null and are counted.
- ``fhir_encounter_status.csv``: finished → completed, cancelled → cancelled. Other R4 statuses
  (planned, arrived, in-progress, entered-in-error, …) have no canonical value: null, counted, and the
  source value kept in ``status_source``.
- ``fhir_professional_groups.csv``: the practitioner's occupation (SNOMED CT) → professional group; adds
  ``physiotherapist`` and ``psychologist`` to the canonical values.
- ``fhir_diagnosis_systems.csv``: Condition.code.coding.system → ``ICD-10``
  (``http://hl7.org/fhir/sid/icd-10``, THL's ``urn:oid:1.2.246.537.6.1``) or ``SNOMED CT``
  (``http://snomed.info/sct``, a canonical value this feed adds). The source URI is kept in
  ``event_diagnosis.diagnosis_system_source``.

The care-need assessment and the performer:

- ``urgency`` from ``Encounter.priority`` (v3-ActPriority) by :data:`URGENCY`: EM emergency, UR urgent,
  S stat and A ASAP → urgent; R routine and EL elective → non_urgent; the value set's other codes
  (callbacks, pre-op, as needed, timing critical, …) say nothing about the care need: null, counted as
  unmapped. The code stays in ``urgency_source``.
- ``assessment_time`` from the Encounter extension
  ``https://tesoma.example/fhir/StructureDefinition/care-need-assessed`` (valueDateTime), already UTC.
  An extension rather than Appointment.created: the export holds no Appointments, and an appointment is
  booked after the assessment, not at it.
- ``professional_id``: the pseudonym of the primary performer's Practitioner (pseudonymise step).

Person facts: ``sex`` is the Patient's gender where it is male or female, else the value the pseudonymise
step took from the identity code; ``birth_year`` comes from the identity code, else from the year of
Patient.birthDate, and ``age_at_event`` is the age in the calendar year of the event's Helsinki date,
top-coded at 90 (:func:`transforms.harmonise.age_in_event_year`). The first Condition of an encounter is its
primary diagnosis in ``service_event`` and ``is_primary`` in ``event_diagnosis``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.harmonise import (
    CodeMap,
    Context,
    HarmoniseReport,
    Mapping,
    age_in_event_year,
    columns_of,
    conform,
    constant,
    optional,
)
from warehouse.schemas import EVENT_DIAGNOSIS, SERVICE_EVENT

MAPPINGS = {
    "contact_mode": Mapping("fhir_encounter_classes", "code", "contact_mode"),
    "contact_mode_label": Mapping("contact_modes", "code", "label"),
    "service_area": Mapping("fhir_service_types", "code", "service_area"),
    "status": Mapping("fhir_encounter_status", "code", "status"),
    "professional_group": Mapping("fhir_professional_groups", "code", "professional_group"),
    "diagnosis_system": Mapping("fhir_diagnosis_systems", "system", "diagnosis_system"),
}
_SEXES = pa.array(["male", "female"])
URGENCY = CodeMap("fhir_act_priority", {"EM": "urgent", "UR": "urgent", "S": "urgent", "A": "urgent",
                                        "R": "non_urgent", "EL": "non_urgent"})
"""v3-ActPriority → urgency; a fixed code set, so it lives here, not in config."""


def harmonise(
    table: pa.Table, maps: dict[str, CodeMap], context: Context
) -> tuple[dict[str, pa.Table], HarmoniseReport]:
    """Map pseudonymised encounter rows onto the canonical tables. Pure: returns new tables and a report."""
    report = HarmoniseReport()
    events = service_events(table, maps, context, report)
    return {"service_event": events, "event_diagnosis": diagnoses(table, events, maps, report)}, report


def service_events(table: pa.Table, maps: dict[str, CodeMap], context: Context, report: HarmoniseReport) -> pa.Table:
    n = table.num_rows

    col = columns_of(table)

    start = col("period_start")
    local_date = helsinki_date(start, context.timezone)
    service_code = pc.coalesce(col("service_type_code"), col("encounter_type_code"))
    contact_mode = maps["contact_mode"].apply(col("class_code"), report)
    diagnosis_source = first_items(col("condition_codes"))
    gender = col("gender")
    birth_date = col("birth_date")
    age = age_in_event_year(pc.coalesce(col("birth_year").cast(pa.int16()), pc.year(birth_date).cast(pa.int16())),
                            local_date)
    columns = {
        "event_id": col("event_id"),
        "person_id": col("person_id"),
        "person_id_kind": col("person_id_kind"),
        "partner": constant(context.partner, n),
        "feed": constant(context.feed, n),
        "service_area": maps["service_area"].apply(service_code, report),
        "service_code_source": service_code,
        "contact_mode": contact_mode,
        "contact_mode_label": maps["contact_mode_label"].apply(contact_mode, report),
        "professional_group": maps["professional_group"].apply(col("participant_type"), report),
        "professional_group_source": col("participant_type"),
        "unit_code": col("service_provider"),
        "event_start": pc.cast(start, pa.timestamp("us", tz="UTC")),
        "event_date": local_date,
        "duration_min": duration_minutes(start, col("period_end")),
        "status": maps["status"].apply(col("status"), report),
        "status_source": col("status"),
        "diagnosis_code": normalise_code(diagnosis_source),
        "diagnosis_system": maps["diagnosis_system"].apply(first_items(col("condition_systems")), report),
        "diagnosis_code_source": diagnosis_source,
        "birth_year": age.birth_year,
        "age_at_event": age.age_at_event,
        "sex": pc.if_else(pc.fill_null(pc.is_in(gender, value_set=_SEXES), False), gender,
                          col("sex").cast(pa.string())),
        "home_municipality": pa.nulls(n, pa.string()),
        "home_postal_code": col("postal_code"),
        "client_fee_eur": pa.nulls(n, pa.decimal128(9, 2)),
        "source_updated_at": col("last_updated"),
        "delivery_id": constant(context.delivery_id, n),
        "professional_id": optional(table, "professional_id"),
        "assessment_time": pc.cast(col("care_need_assessed"), pa.timestamp("us", tz="UTC")),
        "urgency": URGENCY.apply(col("priority_code"), report),
        "urgency_source": col("priority_code"),
    }
    return conform(pa.table(columns), SERVICE_EVENT)


def diagnoses(table: pa.Table, events: pa.Table, maps: dict[str, CodeMap], report: HarmoniseReport) -> pa.Table:
    """One row per Condition code of each encounter, linked by the encounter's event_id."""
    codes = table["condition_codes"].combine_chunks()
    systems = table["condition_systems"].combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(codes), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    parents = np.repeat(np.arange(len(lengths)), lengths)
    # Position of each code within its encounter's list: 0 is the primary diagnosis.
    positions = np.arange(len(parents)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    code_source = codes.flatten()
    system_source = systems.flatten()
    rows = pa.table({
        "event_id": events["event_id"].take(pa.array(parents, pa.int64())),
        "person_id": events["person_id"].take(pa.array(parents, pa.int64())),
        "partner": events["partner"].take(pa.array(parents, pa.int64())),
        "feed": events["feed"].take(pa.array(parents, pa.int64())),
        "diagnosis_code": normalise_code(code_source),
        "diagnosis_system": maps["diagnosis_system"].apply(system_source, report),
        "diagnosis_code_source": code_source,
        "diagnosis_system_source": system_source,
        "is_primary": pa.array(positions == 0, pa.bool_()),
        "delivery_id": events["delivery_id"].take(pa.array(parents, pa.int64())),
    })
    # The connector links only coded Conditions; a code that is blank after trimming is no diagnosis.
    return conform(rows.filter(pc.is_valid(rows["diagnosis_code"])), EVENT_DIAGNOSIS)


def first_items(lists: pa.Array) -> pa.Array:
    """The first item of each list; null for an empty or null list."""
    has_items = pc.fill_null(pc.greater(pc.list_value_length(lists), 0), False)
    padded = pc.if_else(has_items, lists, pa.scalar([None], lists.type))
    return pc.list_element(padded, 0)


def normalise_code(codes: pa.Array) -> pa.Array:
    """Upper case without surrounding spaces; blank becomes null."""
    normal = pc.utf8_upper(pc.utf8_trim_whitespace(codes))
    return pc.if_else(pc.equal(normal, ""), pa.scalar(None, pa.string()), normal)


def helsinki_date(instants: pa.Array, timezone: str) -> pa.Array:
    """The local calendar date of UTC instants in ``timezone``."""
    return pc.cast(pc.cast(instants, pa.timestamp("s", tz=timezone)), pa.date32())


def duration_minutes(start: pa.Array, end: pa.Array) -> pa.Array:
    """Whole minutes from start to end; null without an end or when the end is before the start."""
    seconds = pc.cast(pc.subtract(pc.cast(end, pa.timestamp("s", tz="UTC")),
                                  pc.cast(start, pa.timestamp("s", tz="UTC"))), pa.int64())
    seconds = pc.if_else(pc.less(seconds, 0), pa.scalar(None, pa.int64()), seconds)
    return pc.cast(pc.divide(seconds, 60), pa.int32())

