"""Canonical (harmonised) tables as code: one Arrow schema per table, a description per column.

The descriptions are stored as Parquet field metadata and become the Iceberg fields' docs, DuckDB column
comments and the data dictionary in ``docs/`` (``warehouse.iceberg.describe_warehouse``). Refine here,
then regenerate the docs.
"""

from __future__ import annotations

import pyarrow as pa


def _f(name: str, type_: pa.DataType, description: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"description": description})


UTC = pa.timestamp("us", tz="UTC")

SERVICE_EVENT = pa.schema(
    [
        _f("event_id", pa.string(), "Stable keyed hash of partner and the partner's record id.", False),
        _f("person_id", pa.string(), "Pseudonym of the person (keyed hash of the identity code).", False),
        _f("person_id_kind", pa.string(), "What the pseudonym was made from: hetu | temporary | partner_local.", False),
        _f("partner", pa.string(), "Alliance partner that produced the service: city, mehilainen, ngo_<org>.", False),
        _f("feed", pa.string(), "Feed the row came from, e.g. city_visits.", False),
        _f("service_area", pa.string(),
           "Canonical service area: primary_care, dental_care, maternity_clinic, child_clinic, social_counselling, "
           "wellbeing_counselling, youth_services, library, ngo_activity, digital_service. Null when unmapped."),
        _f("service_code_source", pa.string(), "The partner's own service code, as delivered."),
        _f("contact_mode", pa.string(), "Avohilmo contact-mode code (R10 office visit, R20 home visit, …)."),
        _f("contact_mode_label", pa.string(), "Readable label of contact_mode."),
        _f("professional_group", pa.string(),
           "Canonical professional group: physician, nurse, public_health_nurse, dentist, dental_hygienist, "
           "social_worker, social_instructor, physiotherapist, psychologist. Null when unmapped."),
        _f("professional_group_source", pa.string(), "The partner's own professional-group code."),
        _f("unit_code", pa.string(), "The partner's unit (toimipiste) code."),
        _f("event_start", UTC, "Start of the contact, UTC."),
        _f("event_date", pa.date32(), "Local date of the contact in Europe/Helsinki."),
        _f("duration_min", pa.int32(), "Duration in minutes."),
        _f("status", pa.string(), "completed | cancelled | no_show. Null when unmapped."),
        _f("status_source", pa.string(), "The partner's own status value."),
        _f("diagnosis_code", pa.string(), "Diagnosis or reason-for-visit code, normalised (upper case)."),
        _f("diagnosis_system", pa.string(), "Code system of diagnosis_code: ICPC-2 | ICD-10 | SNOMED CT."),
        _f("diagnosis_code_source", pa.string(), "Diagnosis code exactly as delivered."),
        _f("birth_year", pa.int16(),
           "Birth year of the person (from the identity code, else the source's birth date). Top-coded: "
           "for a person aged 90 or over in the event's year it is that year minus 90."),
        _f("age_at_event", pa.int16(),
           "Age in the calendar year of the event: year of event_date minus birth_year, whether or not the "
           "birthday has passed (the same as age at 31 December). 90 means 90 or over (top-coded). Null "
           "without a birth year or when the event is dated before it."),
        _f("sex", pa.string(), "male | female (from the identity code where the source lacks it)."),
        _f("home_municipality", pa.string(), "Home municipality code (Statistics Finland; 837 = Tampere)."),
        _f("home_postal_code", pa.string(), "Postal code of the home address."),
        _f("client_fee_eur", pa.decimal128(9, 2), "Client fee charged, euros."),
        _f("source_updated_at", UTC, "When the partner last updated the record, UTC; the latest version wins."),
        _f("delivery_id", pa.string(), "Ledger id of the delivery this version came in.", False),
        # Added for the alliance scorecard (continuity of care, waiting times). Tables created before keep
        # working: the warehouse adds the columns on load and older files read them as null.
        _f("professional_id", pa.string(),
           "Pseudonym of the professional who saw the person: keyed hash of the partner's staff id in a "
           "domain of its own (professional:<partner>), never linkable to person_id. Null where not recorded."),
        _f("assessment_time", UTC,
           "When the care need was assessed (hoidon tarpeen arviointi), UTC; at or before event_start. Null "
           "where not recorded."),
        _f("urgency", pa.string(),
           "Urgency set at the care-need assessment: urgent | non_urgent. Null when not recorded or unmapped."),
        _f("urgency_source", pa.string(), "The partner's own urgency code, as delivered."),
    ],
    metadata={"description": "One row per person-level service contact and delivered version."},
)

EVENT_DIAGNOSIS = pa.schema(
    [
        _f("event_id", pa.string(), "The service_event this diagnosis belongs to.", False),
        _f("person_id", pa.string(), "Pseudonym of the person."),
        _f("partner", pa.string(), "Alliance partner.", False),
        _f("feed", pa.string(), "Feed the row came from.", False),
        _f("diagnosis_code", pa.string(), "Diagnosis or reason-for-visit code, normalised (upper case).", False),
        _f("diagnosis_system", pa.string(), "ICPC-2 | ICD-10 | SNOMED CT. Null when unmapped."),
        _f("diagnosis_code_source", pa.string(), "Code exactly as delivered."),
        _f("diagnosis_system_source", pa.string(), "Code system as delivered (e.g. a FHIR system URI)."),
        _f("is_primary", pa.bool_(), "True for the event's main diagnosis."),
        _f("delivery_id", pa.string(), "Ledger id of the delivery.", False),
    ],
    metadata={"description": "One row per diagnosis of a service event (an event may have several)."},
)

ACTIVITY_COUNT = pa.schema(
    [
        _f("partner", pa.string(), "Alliance partner that produced the activity.", False),
        _f("feed", pa.string(), "Feed the row came from.", False),
        _f("activity_date", pa.date32(), "Local date (Europe/Helsinki) the count covers.", False),
        _f("service_area", pa.string(), "Canonical service area: youth_services, library, ngo_activity, …"),
        _f("unit_code", pa.string(), "The partner's unit or group."),
        _f("activity_type", pa.string(), "What was counted the activity of (e.g. family_cafe, open_house)."),
        _f("measure", pa.string(), "visits | loans | opening_hours | participants | volunteers | sessions", False),
        _f("measure_source", pa.string(), "The partner's own measure name."),
        _f("value", pa.float64(), "The count (or hours).", False),
        _f("delivery_id", pa.string(), "Ledger id of the delivery.", False),
    ],
    metadata={"description": "Non-person-level daily counts: youth centre, library, anonymous NGO groups."},
)

ACCESS_T3 = pa.schema(
    [
        _f("partner", pa.string(), "Alliance partner.", False),
        _f("measure_date", pa.date32(), "Local date of the measurement.", False),
        _f("unit_code", pa.string(), "Unit code.", False),
        _f("professional_group", pa.string(), "Canonical professional group."),
        _f("professional_group_source", pa.string(), "The partner's own professional-group code."),
        _f("t3_days", pa.float64(), "Third next available appointment, days.", False),
        _f("delivery_id", pa.string(), "Ledger id of the delivery.", False),
    ],
    metadata={"description": "Access to care: T3 (third next available appointment) per unit, group and day."},
)

COST_MONTH = pa.schema(
    [
        _f("partner", pa.string(), "Alliance partner that incurred the cost.", False),
        _f("month", pa.date32(), "First day of the month.", False),
        _f("service_area", pa.string(), "Canonical service area. Null when unmapped."),
        _f("service_area_source", pa.string(), "The partner's own service-area code."),
        _f("cost_eur", pa.decimal128(14, 2), "Cost in euros.", False),
        _f("delivery_id", pa.string(), "Ledger id of the delivery.", False),
    ],
    metadata={"description": "Cost per partner, service area and month, for the alliance's target budget."},
)

POPULATION = pa.schema(
    [
        _f("year", pa.int16(), "Statistics year (population at the end of the previous year).", False),
        _f("postal_code", pa.string(), "Postal code area.", False),
        _f("age_band", pa.string(),
           "Five-year age band of the age at the end of the previous year, e.g. 0-4, 95-99, and an open top "
           "band (100+, or 85+ in some files). service_event ages are top-coded at 90: add the bands from 90 "
           "up to compare.", False),
        _f("sex", pa.string(), "male | female.", False),
        _f("residents", pa.int32(), "Number of residents.", False),
        _f("delivery_id", pa.string(), "Ledger id of the delivery.", False),
    ],
    metadata={"description": "Reference denominators: residents per postal code, age band and sex."},
)

TABLES: dict[str, pa.Schema] = {
    "service_event": SERVICE_EVENT,
    "event_diagnosis": EVENT_DIAGNOSIS,
    "activity_count": ACTIVITY_COUNT,
    "access_t3": ACCESS_T3,
    "cost_month": COST_MONTH,
    "population": POPULATION,
}
