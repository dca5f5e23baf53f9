"""city_visits → service_event. Finnish source columns renamed, codes mapped, local times made UTC.

The care-need assessment: ``hoidon_tarve_arvioitu`` (local time) becomes ``assessment_time`` in UTC and
``kiireellisyys`` becomes ``urgency`` by :data:`URGENCY`, AvoHILMO's two values (K kiireellinen → urgent,
E kiireetön → non_urgent); the code as delivered stays in ``urgency_source``. ``professional_id`` is the
pseudonym the pseudonymise step made of ``ammattihenkilo_id``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from transforms.harmonise import (
    CodeMap,
    Context,
    HarmoniseReport,
    Mapping,
    age_in_event_year,
    columns_of,
    computed,
    conform,
    constant,
    optional,
)
from warehouse.schemas import EVENT_DIAGNOSIS, SERVICE_EVENT

URGENCY = CodeMap("avohilmo_urgency", {"K": "urgent", "E": "non_urgent"})
"""AvoHILMO's urgency of the care need (kiireellisyys); a fixed code set, so it lives here, not in config."""


@dataclass(frozen=True)
class CityVisitMaps:
    service_area: CodeMap
    contact_mode_label: CodeMap
    professional_group: CodeMap
    status: CodeMap
    diagnosis_system: CodeMap


def local_to_utc(local: pa.ChunkedArray | pa.Array, timezone: str) -> pa.Array:
    """Wall-clock times in ``timezone`` → UTC. In the autumn DST overlap the earlier instant is taken;
    a time in the spring gap is shifted forward (it cannot have happened on a clock)."""
    # A day's visits start at a few thousand distinct minutes: convert each once, spread with ``take``.
    encoded = pc.dictionary_encode(local.combine_chunks() if isinstance(local, pa.ChunkedArray) else local)
    stamped = pc.assume_timezone(encoded.dictionary, timezone, ambiguous="earliest", nonexistent="latest")
    return pc.take(pc.cast(stamped, pa.timestamp("us", tz="UTC")), encoded.indices)


def to_service_event(
    table: pa.Table, maps: CityVisitMaps, *, partner: str, feed: str, delivery_id: str,
    timezone: str = "Europe/Helsinki",
) -> tuple[pa.Table, HarmoniseReport]:
    """Map pseudonymised city visits onto ``service_event``. Pure: returns a new table and a report."""
    report = HarmoniseReport()
    n = table.num_rows

    col = columns_of(table)

    diagnosis_source = col("diagnoosi")
    start_local = col("alkuaika")
    event_date = pc.cast(start_local, pa.date32())
    age = age_in_event_year(col("birth_year"), event_date)
    # Each column is an independent pass over every row: on a large delivery two threads share them.
    columns = computed({
        "event_id": lambda: col("event_id"),
        "person_id": lambda: col("person_id"),
        "person_id_kind": lambda: col("person_id_kind"),
        "partner": lambda: constant(partner, n),
        "feed": lambda: constant(feed, n),
        "service_area": lambda: maps.service_area.apply(col("palvelu"), report),
        "service_code_source": lambda: col("palvelu"),
        "contact_mode": lambda: col("yhteystapa"),
        "contact_mode_label": lambda: maps.contact_mode_label.apply(col("yhteystapa"), report),
        "professional_group": lambda: maps.professional_group.apply(col("ammattiryhma"), report),
        "professional_group_source": lambda: col("ammattiryhma"),
        "unit_code": lambda: col("toimipiste"),
        "event_start": lambda: local_to_utc(start_local, timezone),
        "event_date": lambda: event_date,
        "duration_min": lambda: col("kesto_min"),
        "status": lambda: maps.status.apply(col("tila"), report),
        "status_source": lambda: col("tila"),
        "diagnosis_code": lambda: pc.utf8_upper(pc.utf8_trim_whitespace(diagnosis_source)),
        "diagnosis_system": lambda: maps.diagnosis_system.apply(col("diagnoosi_luokitus"), report),
        "diagnosis_code_source": lambda: diagnosis_source,
        "birth_year": lambda: age.birth_year,
        "age_at_event": lambda: age.age_at_event,
        "sex": lambda: col("sex"),
        "home_municipality": lambda: col("kotikunta"),
        "home_postal_code": lambda: col("postinumero"),
        "client_fee_eur": lambda: col("asiakasmaksu"),
        "source_updated_at": lambda: local_to_utc(col("paivitetty"), timezone),
        "delivery_id": lambda: constant(delivery_id, n),
        "professional_id": lambda: optional(table, "professional_id"),
        "assessment_time": lambda: local_to_utc(col("hoidon_tarve_arvioitu"), timezone),
        "urgency": lambda: URGENCY.apply(col("kiireellisyys"), report),
        "urgency_source": lambda: col("kiireellisyys"),
    }, n)
    return conform(pa.table(columns), SERVICE_EVENT), report


# --- the feed's harmonise interface (see transforms/harmonise/__init__.py) ---------------------------

MAPPINGS = {
    "service_area": Mapping("service_codes", "source_value", "service_area", by_partner=True),
    "contact_mode_label": Mapping("contact_modes", "code", "label"),
    "professional_group": Mapping("professional_groups", "source_value", "professional_group", by_partner=True),
    "status": Mapping("visit_status", "source_value", "status", by_partner=True),
    "diagnosis_system": Mapping("diagnosis_systems", "source_value", "diagnosis_system"),
}


def harmonise(
    table: pa.Table, maps: dict[str, CodeMap], context: Context
) -> tuple[dict[str, pa.Table], HarmoniseReport]:
    events, report = to_service_event(table, CityVisitMaps(**maps), partner=context.partner, feed=context.feed,
                                      delivery_id=context.delivery_id, timezone=context.timezone)
    return {"service_event": events, "event_diagnosis": diagnoses_of(events)}, report


def diagnoses_of(events: pa.Table) -> pa.Table:
    """One event_diagnosis row per event that has a diagnosis (city visits carry at most one). ``events``
    are one delivery's: partner, feed and delivery_id are the same on every row."""
    # Only the columns that vary are filtered (filtering copies every value it keeps); the delivery's
    # constants are made anew at the filtered length.
    needed = ["event_id", "person_id", "diagnosis_code", "diagnosis_system", "diagnosis_code_source"]
    with_code = events.select(needed).filter(pc.is_valid(events["diagnosis_code"]))
    n = with_code.num_rows

    def same_for_all(name: str) -> pa.Array:
        first = events[name][0].as_py() if events.num_rows else None
        return constant(first, n) if first is not None else pa.nulls(n, pa.string())

    return conform(pa.table({
        "event_id": with_code["event_id"], "person_id": with_code["person_id"], "partner": same_for_all("partner"),
        "feed": same_for_all("feed"), "diagnosis_code": with_code["diagnosis_code"],
        "diagnosis_system": with_code["diagnosis_system"], "diagnosis_code_source": with_code["diagnosis_code_source"],
        "diagnosis_system_source": pa.nulls(n, pa.string()), "is_primary": pa.array([True] * n, pa.bool_()),
        "delivery_id": same_for_all("delivery_id"),
    }), EVENT_DIAGNOSIS)
