"""city_activity → activity_count and city_access → access_t3: given rows → expected rows, the contracts and
code maps agreeing, and a generated day of each feed through the steps with nothing lost."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

import contracts
from synthetic import generate
from tesoma import steps
from tesoma.config import settings
from tesoma.mappings import load_maps
from transforms.harmonise import CodeMap, Context
from transforms.harmonise import city_access as access
from transforms.harmonise import city_activity as activity
from warehouse.ledger import Ledger
from warehouse.readers import read_table
from warehouse.schemas import ACCESS_T3, ACTIVITY_COUNT

DAY = dt.date(2026, 10, 1)
CONTEXT_ACTIVITY = Context(partner="city", feed="city_activity", delivery_id="d-act")
CONTEXT_ACCESS = Context(partner="city", feed="city_access", delivery_id="d-acc")

ACTIVITY_MAPS = {
    "service_area": CodeMap("activity_services", {"NUORISO": "youth_services", "KIRJASTO": "library"}),
    "measure": CodeMap("activity_measures", {"kaynnit": "visits", "lainat": "loans",
                                             "aukiolotunnit": "opening_hours"}),
}
ACCESS_MAPS = {"professional_group": CodeMap("professional_groups", {"LAAK": "physician", "SH": "nurse"})}


def activity_rows(**overrides: list) -> pa.Table:
    """Three validated city_activity rows, as the connector types them."""
    columns = {
        "pvm": pa.array([DAY] * 3, pa.date32()),
        "toimipiste": pa.array(["NUORISOTALO_TESOMA", "KIRJASTO_TESOMA", "KIRJASTO_TESOMA"]),
        "palvelu": pa.array(["NUORISO", "KIRJASTO", "KIRJASTO"]),
        "mittari": pa.array(["kaynnit", "lainat", "aukiolotunnit"]),
        "arvo": pa.array([32.0, 230.0, 8.5]),
    }
    for name, values in overrides.items():
        columns[name] = pa.array(values, columns[name].type)
    return pa.table(columns)


def access_rows(**overrides: list) -> pa.Table:
    """Two validated city_access rows, as the connector types them."""
    columns = {
        "pvm": pa.array([DAY, DAY], pa.date32()),
        "toimipiste": pa.array(["TESOMA_TK", "TESOMA_TK"]),
        "ammattiryhma": pa.array(["LAAK", "SH"]),
        "t3_vrk": pa.array([12.5, 2.0]),
    }
    for name, values in overrides.items():
        columns[name] = pa.array(values, columns[name].type)
    return pa.table(columns)


# --- city_activity → activity_count ------------------------------------------------------------------------


def test_activity_rows_become_activity_counts():
    tables, report = activity.harmonise(activity_rows(), ACTIVITY_MAPS, CONTEXT_ACTIVITY)

    assert list(tables) == ["activity_count"]
    common = {"partner": "city", "feed": "city_activity", "activity_date": DAY, "activity_type": None,
              "delivery_id": "d-act"}
    assert tables["activity_count"].to_pylist() == [
        {**common, "service_area": "youth_services", "unit_code": "NUORISOTALO_TESOMA", "measure": "visits",
         "measure_source": "kaynnit", "value": 32.0},
        {**common, "service_area": "library", "unit_code": "KIRJASTO_TESOMA", "measure": "loans",
         "measure_source": "lainat", "value": 230.0},
        {**common, "service_area": "library", "unit_code": "KIRJASTO_TESOMA", "measure": "opening_hours",
         "measure_source": "aukiolotunnit", "value": 8.5},
    ]
    assert report.unmapped == {}


def test_activity_output_schema_is_the_canonical_one():
    tables, _ = activity.harmonise(activity_rows(), ACTIVITY_MAPS, CONTEXT_ACTIVITY)
    assert tables["activity_count"].schema.equals(ACTIVITY_COUNT, check_metadata=True)


def test_activity_unknown_codes_map_to_null_are_counted_and_the_measure_source_kept():
    table = activity_rows(palvelu=["LIIKUNTA", "KIRJASTO", "KIRJASTO"], mittari=["kaynnit", "tapahtumat", "lainat"])

    tables, report = activity.harmonise(table, ACTIVITY_MAPS, CONTEXT_ACTIVITY)

    assert tables["activity_count"].select(["service_area", "unit_code", "measure", "measure_source"]).to_pylist() == [
        {"service_area": None, "unit_code": "NUORISOTALO_TESOMA", "measure": "visits", "measure_source": "kaynnit"},
        {"service_area": "library", "unit_code": "KIRJASTO_TESOMA", "measure": None, "measure_source": "tapahtumat"},
        {"service_area": "library", "unit_code": "KIRJASTO_TESOMA", "measure": "loans", "measure_source": "lainat"},
    ]
    assert dict(report.unmapped) == {"activity_services": 1, "activity_measures": 1}


def test_activity_holiday_file_gives_an_empty_canonical_table():
    empty = activity_rows().slice(0, 0)
    tables, report = activity.harmonise(empty, ACTIVITY_MAPS, CONTEXT_ACTIVITY)
    assert tables["activity_count"].num_rows == 0
    assert tables["activity_count"].schema.equals(ACTIVITY_COUNT, check_metadata=True)
    assert report.unmapped == {}


def test_activity_input_is_not_modified():
    table = activity_rows()
    before = table.to_pylist()
    activity.harmonise(table, ACTIVITY_MAPS, CONTEXT_ACTIVITY)
    assert table.to_pylist() == before


# --- city_access → access_t3 -------------------------------------------------------------------------------


def test_access_rows_become_t3_rows():
    tables, report = access.harmonise(access_rows(), ACCESS_MAPS, CONTEXT_ACCESS)

    assert list(tables) == ["access_t3"]
    assert tables["access_t3"].to_pylist() == [
        {"partner": "city", "measure_date": DAY, "unit_code": "TESOMA_TK", "professional_group": "physician",
         "professional_group_source": "LAAK", "t3_days": 12.5, "delivery_id": "d-acc"},
        {"partner": "city", "measure_date": DAY, "unit_code": "TESOMA_TK", "professional_group": "nurse",
         "professional_group_source": "SH", "t3_days": 2.0, "delivery_id": "d-acc"},
    ]
    assert tables["access_t3"].schema.equals(ACCESS_T3, check_metadata=True)
    assert report.unmapped == {}


def test_access_unknown_group_maps_to_null_is_counted_and_kept_as_source():
    tables, report = access.harmonise(access_rows(ammattiryhma=["PSYK", "SH"]), ACCESS_MAPS, CONTEXT_ACCESS)
    assert tables["access_t3"].select(["professional_group", "professional_group_source"]).to_pylist() == [
        {"professional_group": None, "professional_group_source": "PSYK"},
        {"professional_group": "nurse", "professional_group_source": "SH"},
    ]
    assert dict(report.unmapped) == {"professional_groups": 1}


def test_access_input_is_not_modified():
    table = access_rows()
    before = table.to_pylist()
    access.harmonise(table, ACCESS_MAPS, CONTEXT_ACCESS)
    assert table.to_pylist() == before


# --- contracts and code maps agree -------------------------------------------------------------------------


@pytest.mark.parametrize(("feed", "module", "column", "mapping"), [
    ("city_activity", activity, "palvelu", "service_area"),
    ("city_activity", activity, "mittari", "measure"),
    ("city_access", access, "ammattiryhma", "professional_group"),
])
def test_every_code_the_contract_allows_is_mapped(feed, module, column, mapping):
    """The contract quarantines codes it does not list; every code it lists must map (measure is not nullable)."""
    maps = load_maps(settings().mappings_dir, module.MAPPINGS, "city")
    allowed = contracts.load(feed).column(column).allowed
    assert allowed
    assert set(allowed) <= set(maps[mapping].mapping), f"add the missing {column} codes to {maps[mapping].name}.csv"


def test_the_aggregate_feeds_have_no_person_columns():
    for feed in ("city_activity", "city_access"):
        contract = contracts.load(feed)
        assert {c.classification for c in contract.columns} <= {"internal", "quasi_identifier"}
        assert contract.partner == "city"


# --- a generated day through the steps -------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """One clean generated day (2026-10-01, a Thursday), shared by the tests of this module."""
    root = tmp_path_factory.mktemp("generated")
    generate(root, start=DAY, days=1, residents=500, seed=1, fault_rate=0)
    return root


@pytest.fixture
def day(generated, data_root) -> Path:
    """``data_root`` with the generated landing copied in (mtimes kept: they are the arrival times)."""
    shutil.copytree(generated / "landing", data_root / "landing", copy_function=shutil.copy2)
    return data_root


def city_csv(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig") if raw.startswith(b"\xef\xbb\xbf") else raw.decode("cp1252")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


def number(text: str) -> float:
    return float(text.replace(",", "."))


def published(root: Path, table: str, partner: str, date: dt.date) -> pa.Table:
    """The published rows of one partition of ``table``."""
    rows = read_table(root, table, partner=partner, delivery_date=date)
    assert rows is not None, f"nothing is published in {table} for {partner} on {date}"
    return rows


@pytest.mark.parametrize(("feed", "table", "value_column", "canonical_value"), [
    ("city_activity", "activity_count", "arvo", "value"),
    ("city_access", "access_t3", "t3_vrk", "t3_days"),
])
def test_a_generated_day_is_published_whole(day, feed, table, value_column, canonical_value):
    source = city_csv(day / "landing" / "city" / feed / f"{feed}_{DAY:%Y%m%d}.csv")
    assert source, "the generator wrote no rows for a working day"

    (result,) = steps.process_date(feed, DAY)

    assert result["state"] == "published"
    (delivery,) = Ledger(settings().ledger_url).for_date(feed, DAY)
    assert delivery.rows_read == len(source)
    assert delivery.rows_read == delivery.rows_published + delivery.rows_quarantined
    assert delivery.rows_quarantined == 0
    out = published(day, table, "city", DAY)
    assert out.num_rows == delivery.rows_published
    assert sum(out[canonical_value].to_pylist()) == pytest.approx(sum(number(r[value_column]) for r in source))
    for column in ("service_area", "measure", "professional_group"):
        if column in out.column_names:
            assert out[column].null_count == 0, f"{column}: a generated code is not mapped"


def test_a_generated_activity_day_has_both_units_and_every_measure(day):
    steps.process_date("city_activity", DAY)
    out = published(day, "activity_count", "city", DAY)
    got = {(r["service_area"], r["measure"]) for r in out.to_pylist()}
    assert got == {(area, measure) for area in ("youth_services", "library") for measure in ("visits", "opening_hours")
                   } | {("library", "loans")}
    assert set(out["activity_date"].to_pylist()) == {DAY}


GOOD_ACTIVITY_ROWS = [
    "05.10.2026;NUORISOTALO_TESOMA;NUORISO;kaynnit;41",
    "05.10.2026;NUORISOTALO_TESOMA;NUORISO;aukiolotunnit;6,5",
    "05.10.2026;KIRJASTO_TESOMA;KIRJASTO;kaynnit;430",
    "05.10.2026;KIRJASTO_TESOMA;KIRJASTO;lainat;230",
    "05.10.2026;KIRJASTO_TESOMA;KIRJASTO;aukiolotunnit;8,5",
]


@pytest.mark.parametrize(("bad_row", "column", "rule"), [
    ("05.10.2026;KIRJASTO_TESOMA;KIRJASTO;lainat;12,5,0", "arvo", "not_a_number"),
    ("31.02.2026;KIRJASTO_TESOMA;KIRJASTO;kaynnit;448", "pvm", "not_a_date"),
    ("05.10.2026;KIRJASTO_TESOMA;KIRJASTO;tapahtumat;3", "mittari", "allowed_values"),
    ("05.10.2026;KIRJASTO_TESOMA;LIIKUNTA;kaynnit;3", "palvelu", "allowed_values"),
    ("05.10.2026;KIRJASTO_TESOMA;KIRJASTO;lainat;-2", "arvo", "range"),
    ("05.10.2026;KIRJASTO_TESOMA;KIRJASTO;lainat;", "arvo", "required"),
], ids=["not_a_number", "impossible_date", "unknown_measure", "unknown_service", "negative", "empty"])
def test_a_bad_activity_row_is_quarantined_and_the_rest_published(data_root, bad_row, column, rule):
    landing = data_root / "landing" / "city" / "city_activity"
    landing.mkdir(parents=True)
    lines = ["pvm;toimipiste;palvelu;mittari;arvo", *GOOD_ACTIVITY_ROWS[:3], bad_row, *GOOD_ACTIVITY_ROWS[3:]]
    (landing / "city_activity_20261005.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))

    (result,) = steps.process_date("city_activity", dt.date(2026, 10, 5))

    assert (result["state"], result["rows_read"], result["rows_published"], result["rows_quarantined"]) == (
        "published", 6, 5, 1)
    out = published(data_root, "activity_count", "city", dt.date(2026, 10, 5))
    assert sum(out["value"].to_pylist()) == pytest.approx(41 + 6.5 + 430 + 230 + 8.5)
    results = Ledger(settings().ledger_url).quality_results(result["delivery_id"])
    assert [(r["column_name"], r["rule"], r["failed_rows"]) for r in results if r["severity"] == "error"] == [
        (column, rule, 1)]


def test_a_holiday_file_with_only_its_header_publishes_nothing(data_root):
    landing = data_root / "landing" / "city" / "city_activity"
    landing.mkdir(parents=True)
    (landing / "city_activity_20261225.csv").write_bytes(b"\xef\xbb\xbfpvm;toimipiste;palvelu;mittari;arvo\r\n")

    (result,) = steps.process_date("city_activity", dt.date(2026, 12, 25))

    assert (result["state"], result["rows_read"], result["rows_published"]) == ("published", 0, 0)
    assert read_table(data_root, "activity_count", partner="city", delivery_date=dt.date(2026, 12, 25)) is None
