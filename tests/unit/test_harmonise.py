"""city_visits → service_event: codes mapped (source kept beside), local times made UTC, canonical schema."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

import contracts
from transforms.harmonise import CodeMap, HarmoniseReport, conform
from transforms.harmonise.city_visits import CityVisitMaps, local_to_utc, to_service_event
from warehouse.schemas import SERVICE_EVENT

UTC = dt.UTC
MAPPINGS = Path(__file__).resolve().parents[2] / "config" / "mappings"

MAPS = CityVisitMaps(
    service_area=CodeMap("service_codes", {"TK_VO": "primary_care", "SHT": "dental_care"}),
    contact_mode_label=CodeMap("contact_modes", {"R10": "Office visit", "R71": "Phone"}),
    professional_group=CodeMap("professional_groups", {"LAAK": "physician", "HLAAK": "dentist"}),
    status=CodeMap("visit_status", {"toteutunut": "completed", "peruttu": "cancelled", "ei saapunut": "no_show"}),
    diagnosis_system=CodeMap("diagnosis_systems", {"ICPC2": "ICPC-2", "ICD10": "ICD-10"}),
)


def city_rows(**overrides: list) -> pa.Table:
    """Two pseudonymised city visits, with the columns ``to_service_event`` reads."""
    columns = {
        "event_id": pa.array(["e1", "e2"], pa.string()),
        "person_id": pa.array(["p1", "p2"], pa.string()),
        "person_id_kind": pa.array(["hetu", "temporary"], pa.string()),
        "palvelu": pa.array(["TK_VO", "SHT"], pa.string()),
        "yhteystapa": pa.array(["R10", "R71"], pa.string()),
        "ammattiryhma": pa.array(["LAAK", "HLAAK"], pa.string()),
        "toimipiste": pa.array(["TES01", "TES02"], pa.string()),
        "alkuaika": pa.array([dt.datetime(2026, 7, 1, 8, 30), dt.datetime(2026, 1, 15, 0, 30)], pa.timestamp("s")),
        "kesto_min": pa.array([20, None], pa.int64()),
        "tila": pa.array(["toteutunut", "ei saapunut"], pa.string()),
        "diagnoosi": pa.array([" a01 ", None], pa.string()),
        "diagnoosi_luokitus": pa.array(["ICPC2", None], pa.string()),
        "birth_year": pa.array([1952, 1990], pa.int16()),
        "sex": pa.array(["female", "male"], pa.string()),
        "kotikunta": pa.array(["837", "837"], pa.string()),
        "postinumero": pa.array(["33310", "33300"], pa.string()),
        "asiakasmaksu": pa.array([Decimal("20.90"), None], pa.decimal128(9, 2)),
        "paivitetty": pa.array([dt.datetime(2026, 7, 1, 9, 0), dt.datetime(2026, 1, 15, 10, 0)], pa.timestamp("s")),
        "professional_id": pa.array(["pro1", None], pa.string()),
        "hoidon_tarve_arvioitu": pa.array([dt.datetime(2026, 6, 24, 10, 15), None], pa.timestamp("s")),
        "kiireellisyys": pa.array(["E", None], pa.string()),
    }
    for name, values in overrides.items():
        columns[name] = pa.array(values, columns[name].type)
    return pa.table(columns)


def harmonise(table: pa.Table) -> tuple[pa.Table, HarmoniseReport]:
    return to_service_event(table, MAPS, partner="city", feed="city_visits", delivery_id="d-2026-10-01-1")


def test_two_visits_become_service_events():
    out, report = harmonise(city_rows())

    assert out.to_pylist() == [
        {
            "event_id": "e1", "person_id": "p1", "person_id_kind": "hetu", "partner": "city", "feed": "city_visits",
            "service_area": "primary_care", "service_code_source": "TK_VO",
            "contact_mode": "R10", "contact_mode_label": "Office visit",
            "professional_group": "physician", "professional_group_source": "LAAK",
            "unit_code": "TES01",
            "event_start": dt.datetime(2026, 7, 1, 5, 30, tzinfo=UTC),  # summer: UTC+3
            "event_date": dt.date(2026, 7, 1),
            "duration_min": 20,
            "status": "completed", "status_source": "toteutunut",
            "diagnosis_code": "A01", "diagnosis_system": "ICPC-2", "diagnosis_code_source": " a01 ",
            "birth_year": 1952, "age_at_event": 74, "sex": "female",  # 2026 − 1952, whatever the birthday
            "home_municipality": "837", "home_postal_code": "33310",
            "client_fee_eur": Decimal("20.90"),
            "source_updated_at": dt.datetime(2026, 7, 1, 6, 0, tzinfo=UTC),
            "delivery_id": "d-2026-10-01-1",
            "professional_id": "pro1",
            "assessment_time": dt.datetime(2026, 6, 24, 7, 15, tzinfo=UTC),  # a week before, local → UTC
            "urgency": "non_urgent", "urgency_source": "E",
        },
        {
            "event_id": "e2", "person_id": "p2", "person_id_kind": "temporary", "partner": "city",
            "feed": "city_visits",
            "service_area": "dental_care", "service_code_source": "SHT",
            "contact_mode": "R71", "contact_mode_label": "Phone",
            "professional_group": "dentist", "professional_group_source": "HLAAK",
            "unit_code": "TES02",
            "event_start": dt.datetime(2026, 1, 14, 22, 30, tzinfo=UTC),  # winter: UTC+2, the day before in UTC
            "event_date": dt.date(2026, 1, 15),  # the local date
            "duration_min": None,
            "status": "no_show", "status_source": "ei saapunut",
            "diagnosis_code": None, "diagnosis_system": None, "diagnosis_code_source": None,
            "birth_year": 1990, "age_at_event": 36, "sex": "male",
            "home_municipality": "837", "home_postal_code": "33300",
            "client_fee_eur": None,
            "source_updated_at": dt.datetime(2026, 1, 15, 8, 0, tzinfo=UTC),
            "delivery_id": "d-2026-10-01-1",
            "professional_id": None, "assessment_time": None, "urgency": None, "urgency_source": None,
        },
    ]
    assert sum(report.unmapped.values()) == 0


def test_output_schema_is_the_canonical_one():
    out, _ = harmonise(city_rows())
    assert out.schema.equals(SERVICE_EVENT, check_metadata=True)


def test_unknown_codes_map_to_null_are_counted_and_kept_as_source():
    table = city_rows(palvelu=["TK_VO", "XYZ"], ammattiryhma=["PSYK", "LAAK"], tila=["toteutunut", "siirretty"],
                      yhteystapa=["R99", "R10"], diagnoosi_luokitus=["ICPC2", "SNOMED"])

    out, report = harmonise(table)

    assert out.select(["service_area", "service_code_source", "professional_group", "professional_group_source",
                       "status", "status_source", "contact_mode", "contact_mode_label",
                       "diagnosis_system"]).to_pylist() == [
        {"service_area": "primary_care", "service_code_source": "TK_VO", "professional_group": None,
         "professional_group_source": "PSYK", "status": "completed", "status_source": "toteutunut",
         "contact_mode": "R99", "contact_mode_label": None, "diagnosis_system": "ICPC-2"},
        {"service_area": None, "service_code_source": "XYZ", "professional_group": "physician",
         "professional_group_source": "LAAK", "status": None, "status_source": "siirretty",
         "contact_mode": "R10", "contact_mode_label": "Office visit", "diagnosis_system": None},
    ]
    assert dict(report.unmapped) == {"service_codes": 1, "professional_groups": 1, "visit_status": 1,
                                     "contact_modes": 1, "diagnosis_systems": 1}


def test_large_deliveries_computed_on_two_threads_give_the_same_table(monkeypatch):
    import transforms.harmonise as harmonise_module

    table = city_rows(palvelu=["TK_VO", "XYZ"], ammattiryhma=["PSYK", "LAAK"], tila=["toteutunut", "siirretty"],
                      yhteystapa=["R99", "R10"], diagnoosi_luokitus=["ICPC2", "SNOMED"])
    serial, serial_report = harmonise(table)
    monkeypatch.setattr(harmonise_module, "PARALLEL_ROWS", 1)  # every table counts as large
    threads: set[str] = set()
    real = harmonise_module.ThreadPoolExecutor

    def recording(*args, **kwargs):
        pool = real(*args, **kwargs)
        pool.submit(lambda: threads.add(__import__("threading").current_thread().name)).result()
        return pool

    monkeypatch.setattr(harmonise_module, "ThreadPoolExecutor", recording)
    parallel, parallel_report = harmonise(table)
    assert threads and all(name.startswith("harmonise") for name in threads)
    assert parallel.equals(serial, check_metadata=True)
    assert parallel_report.unmapped == serial_report.unmapped


def test_null_source_values_are_not_unmapped():
    out, report = harmonise(city_rows(palvelu=[None, "SHT"], diagnoosi_luokitus=[None, None]))
    assert out["service_area"].to_pylist() == [None, "dental_care"]
    assert report.unmapped == {}


def test_input_table_is_not_modified():
    table = city_rows()
    before = table.to_pylist()
    harmonise(table)
    assert table.to_pylist() == before


def test_dictionary_encoded_pseudonyms_are_accepted():
    table = city_rows()
    for name in ("person_id", "person_id_kind", "sex"):
        table = table.set_column(table.column_names.index(name), name, table[name].dictionary_encode())
    out, _ = harmonise(table)
    assert out.schema.equals(SERVICE_EVENT, check_metadata=True)
    assert out.select(["person_id", "person_id_kind", "sex"]).to_pylist() == [
        {"person_id": "p1", "person_id_kind": "hetu", "sex": "female"},
        {"person_id": "p2", "person_id_kind": "temporary", "sex": "male"},
    ]


def test_code_map_counts_across_calls():
    report = HarmoniseReport()
    m = CodeMap("service_codes", {"A": "a"})
    assert m.apply(pa.array(["A", "B", None, "B"]), report).to_pylist() == ["a", None, None, None]
    m.apply(pa.array(["C"]), report)
    assert report.unmapped == {"service_codes": 3}


def test_empty_code_map_maps_everything_to_null():
    report = HarmoniseReport()
    assert CodeMap("empty", {}).apply(pa.array(["A", None]), report).to_pylist() == [None, None]
    assert report.unmapped == {"empty": 1}


def test_conform_orders_and_casts_columns():
    schema = pa.schema([pa.field("b", pa.int16()), pa.field("a", pa.string())])
    out = conform(pa.table({"a": ["x"], "b": pa.array([1], pa.int64()), "c": [True]}), schema)
    assert out.schema.equals(schema)
    assert out.to_pylist() == [{"b": 1, "a": "x"}]


# --- local time → UTC ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        (dt.datetime(2026, 7, 1, 12, 0), dt.datetime(2026, 7, 1, 9, 0)),  # summer, UTC+3
        (dt.datetime(2026, 1, 15, 12, 0), dt.datetime(2026, 1, 15, 10, 0)),  # winter, UTC+2
        (dt.datetime(2026, 1, 1, 1, 0), dt.datetime(2025, 12, 31, 23, 0)),  # new year's night
        # the autumn change night 2026-10-25: 04:00 EEST → 03:00 EET
        (dt.datetime(2026, 10, 25, 2, 30), dt.datetime(2026, 10, 24, 23, 30)),
        (dt.datetime(2026, 10, 25, 3, 30), dt.datetime(2026, 10, 25, 0, 30)),  # ambiguous → the earlier instant
        (dt.datetime(2026, 10, 25, 4, 30), dt.datetime(2026, 10, 25, 2, 30)),
        # the spring change 2026-03-29: 03:00 EET → 04:00 EEST; 03:30 never happened on a clock
        (dt.datetime(2026, 3, 29, 2, 30), dt.datetime(2026, 3, 29, 0, 30)),
        (dt.datetime(2026, 3, 29, 4, 30), dt.datetime(2026, 3, 29, 1, 30)),
    ],
)
def test_local_to_utc(local, utc):
    out = local_to_utc(pa.array([local, None], pa.timestamp("s")), "Europe/Helsinki")
    assert out.type == pa.timestamp("us", tz="UTC")
    assert out.to_pylist() == [utc.replace(tzinfo=UTC), None]


def test_local_time_in_the_spring_gap_is_shifted_forward():
    (out,) = local_to_utc(pa.array([dt.datetime(2026, 3, 29, 3, 30)], pa.timestamp("s")), "Europe/Helsinki").to_pylist()
    assert out >= dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # not before the clocks went forward
    assert out <= dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_local_to_utc_accepts_chunked_arrays():
    chunked = pa.chunked_array([[dt.datetime(2026, 7, 1, 12)], [dt.datetime(2026, 1, 15, 12)]], pa.timestamp("s"))
    assert local_to_utc(chunked, "Europe/Helsinki").to_pylist() == [
        dt.datetime(2026, 7, 1, 9, tzinfo=UTC), dt.datetime(2026, 1, 15, 10, tzinfo=UTC)]


# --- the mapping tables kept as data cover the contract --------------------------------------------------


def test_config_mappings_cover_every_code_the_contract_allows():
    from tesoma.mappings import city_visit_maps

    maps = city_visit_maps(MAPPINGS)
    contract = contracts.load("city_visits")
    pairs = [("palvelu", maps.service_area), ("yhteystapa", maps.contact_mode_label),
             ("ammattiryhma", maps.professional_group), ("tila", maps.status),
             ("diagnoosi_luokitus", maps.diagnosis_system)]
    for column, code_map in pairs:
        allowed = contract.column(column).allowed
        assert allowed, column
        missing = set(allowed) - set(code_map.mapping)
        assert not missing, f"{code_map.name} lacks {sorted(missing)} allowed by the contract's {column}"
    assert maps.status.mapping == {"toteutunut": "completed", "peruttu": "cancelled", "ei saapunut": "no_show"}


def test_urgency_codes_map_to_urgent_and_non_urgent():
    """AvoHILMO's K/E become urgent/non_urgent; a code outside them is null, counted and kept as delivered."""
    table = city_rows(kiireellisyys=["K", "X"],
                      hoidon_tarve_arvioitu=[dt.datetime(2026, 7, 1, 7, 45), dt.datetime(2026, 1, 2, 9, 0)])
    out, report = harmonise(table)
    assert out.select(["urgency", "urgency_source", "assessment_time"]).to_pylist() == [
        {"urgency": "urgent", "urgency_source": "K", "assessment_time": dt.datetime(2026, 7, 1, 4, 45, tzinfo=UTC)},
        {"urgency": None, "urgency_source": "X", "assessment_time": dt.datetime(2026, 1, 2, 7, 0, tzinfo=UTC)},
    ]
    assert report.unmapped == {"avohilmo_urgency": 1}


def test_rows_without_a_professional_column_get_null_professional_ids():
    out, _ = harmonise(city_rows().drop_columns(["professional_id"]))
    assert out["professional_id"].to_pylist() == [None, None]
