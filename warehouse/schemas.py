"""Canonical (harmonised) tables as code: one Arrow schema per table, a description per column.

The descriptions are stored as Parquet field metadata, become DuckDB column comments and the data
dictionary in ``docs/``. Refine here, then regenerate the docs.
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
           "social_worker, social_instructor. Null when unmapped."),
        _f("professional_group_source", pa.string(), "The partner's own professional-group code."),
        _f("unit_code", pa.string(), "The partner's unit (toimipiste) code."),
        _f("event_start", UTC, "Start of the contact, UTC."),
        _f("event_date", pa.date32(), "Local date of the contact in Europe/Helsinki."),
        _f("duration_min", pa.int32(), "Duration in minutes."),
        _f("status", pa.string(), "completed | cancelled | no_show. Null when unmapped."),
        _f("status_source", pa.string(), "The partner's own status value."),
        _f("diagnosis_code", pa.string(), "Diagnosis or reason-for-visit code, normalised (upper case)."),
        _f("diagnosis_system", pa.string(), "Code system of diagnosis_code: ICPC-2 | ICD-10."),
        _f("diagnosis_code_source", pa.string(), "Diagnosis code exactly as delivered."),
        _f("birth_year", pa.int16(), "Birth year of the person (from the identity code)."),
        _f("age_at_event", pa.int16(), "Age in completed years at event_date."),
        _f("sex", pa.string(), "male | female (from the identity code where the source lacks it)."),
        _f("home_municipality", pa.string(), "Home municipality code (Statistics Finland; 837 = Tampere)."),
        _f("home_postal_code", pa.string(), "Postal code of the home address."),
        _f("client_fee_eur", pa.decimal128(9, 2), "Client fee charged, euros."),
        _f("source_updated_at", UTC, "When the partner last updated the record, UTC; the latest version wins."),
        _f("delivery_id", pa.string(), "Ledger id of the delivery this version came in.", False),
    ],
    metadata={"description": "One row per person-level service contact and delivered version."},
)

TABLES: dict[str, pa.Schema] = {"service_event": SERVICE_EVENT}


def describe(table: str) -> list[tuple[str, str, str]]:
    """(column, type, description) rows, for docs and catalog comments."""
    return [(f.name, str(f.type), (f.metadata or {}).get(b"description", b"").decode()) for f in TABLES[table]]
