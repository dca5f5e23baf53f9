"""The NGO feeds: ngo_activity (sessions → activity_count) and ngo_attendance (consenting members →
service_event): harmonise given→expected, workbook reading, header variants, the consent rule, and
generated days through the pipeline's steps."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from openpyxl import Workbook, load_workbook

import contracts
from connectors.base import DeliveryRejected, ReadReport
from connectors.spreadsheet import cell_text
from expectations.contract_suite import rules
from synthetic import generate
from tesoma import steps
from tesoma.feeds import connector_for
from tesoma.mappings import load_maps
from transforms.harmonise import Context, ngo_activity, ngo_attendance
from warehouse.readers import read_table
from warehouse.schemas import ACTIVITY_COUNT, SERVICE_EVENT

MAPPINGS = Path(__file__).resolve().parents[2] / "config" / "mappings"
DAY = dt.date(2026, 10, 1)
MLL_SESSIONS = ["Päivämäärä", "Toimintamuoto", "Ryhmä", "Osallistujia", "Vapaaehtoisia"]
MLL_ATTENDANCE = ["Päivämäärä", "Ryhmä", "Jäsennumero", "Suostumus", "Syntymävuosi", "Postinumero"]
SETLEMENTTI_ATTENDANCE = "pvm;ryhma;jasennumero;suostumus;syntymavuosi;postinumero"


def workbook(path: Path, sheets: dict[str, list[list]]) -> Path:
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def warehouse_table(data_root: Path, table: str) -> pa.Table:
    """Every published row of a canonical table, all partners and dates (the rows carry the partner too)."""
    published = read_table(data_root, table)
    assert published is not None, f"nothing is published in {table}"
    return published


def read(feed: str, path: Path) -> tuple[pa.Table, ReadReport]:
    report = ReadReport()
    return pa.Table.from_batches(list(connector_for(feed).read(path, report, batch_rows=2))), report


# --- harmonise: given rows → expected rows ------------------------------------------------------------------


def test_each_session_becomes_a_row_per_measure():
    given = pa.table({
        "pvm": pa.array([DAY, DAY + dt.timedelta(1)], pa.date32()),
        "toimintamuoto": ["Perhekahvila", "kuorolaulu"],
        "ryhma": ["Perhekahvila Tesoma", "Laulupiiri"],
        "osallistujat_lkm": pa.array([24, 6], pa.int64()),
        "vapaaehtoiset_lkm": pa.array([1, None], pa.int64()),
    })
    maps = load_maps(MAPPINGS, ngo_activity.MAPPINGS, "ngo_mll")
    tables, report = ngo_activity.harmonise(given, maps, Context("ngo_mll", "ngo_activity", "d1"))
    out = tables["activity_count"]
    assert out.schema == ACTIVITY_COUNT
    got = [(r["activity_date"], r["unit_code"], r["activity_type"], r["measure"], r["measure_source"], r["value"])
           for r in out.to_pylist()]
    assert got == [
        (DAY, "Perhekahvila Tesoma", "family_cafe", "participants", "osallistujat_lkm", 24.0),
        (DAY, "Perhekahvila Tesoma", "family_cafe", "volunteers", "vapaaehtoiset_lkm", 1.0),
        (DAY, "Perhekahvila Tesoma", "family_cafe", "sessions", None, 1.0),
        # no volunteers row when the NGO left the count empty; an unknown activity type maps to null
        (DAY + dt.timedelta(1), "Laulupiiri", None, "participants", "osallistujat_lkm", 6.0),
        (DAY + dt.timedelta(1), "Laulupiiri", None, "sessions", None, 1.0),
    ]
    assert set(out["partner"].to_pylist()) == {"ngo_mll"} and set(out["service_area"].to_pylist()) == {"ngo_activity"}
    assert set(out["delivery_id"].to_pylist()) == {"d1"}
    assert report.unmapped == Counter({"ngo_activity_types": 1})
    assert given.column_names[0] == "pvm" and given.num_rows == 2  # input untouched


def test_all_activity_types_of_the_ngos_are_mapped():
    maps = load_maps(MAPPINGS, ngo_activity.MAPPINGS, "ngo_setlementti")
    assert maps["activity_type"].mapping == {"perhekahvila": "family_cafe", "nuorten ryhmä": "youth_group",
                                             "vertaistuki": "peer_support", "digituki": "digital_help"}


def test_attendance_becomes_service_events():
    given = pa.table({  # as the pseudonymise step leaves it: member number and record_id gone, ids added
        "pvm": pa.array([DAY], pa.date32()), "ryhma": ["Digitupa"], "suostumus": ["1"],
        "syntymavuosi": pa.array([1950], pa.int64()), "postinumero": ["33310"],
        "event_id": ["e1"], "person_id": ["p1"], "person_id_kind": ["partner_local"],
        "birth_year": pa.nulls(1, pa.int16()), "sex": pa.nulls(1, pa.string()), "age_at_event": pa.nulls(1, pa.int16()),
    })
    tables, report = ngo_attendance.harmonise(given, {}, Context("ngo_setlementti", "ngo_attendance", "d2"))
    out = tables["service_event"]
    assert out.schema == SERVICE_EVENT
    row = out.to_pylist()[0]
    assert {k: v for k, v in row.items() if v is not None} == {
        "event_id": "e1", "person_id": "p1", "person_id_kind": "partner_local", "partner": "ngo_setlementti",
        "feed": "ngo_attendance", "service_area": "ngo_activity", "unit_code": "Digitupa", "event_date": DAY,
        "status": "completed", "birth_year": 1950, "age_at_event": 76,  # in the event's year, 2026
        "home_postal_code": "33310", "delivery_id": "d2",
    }
    assert not report.unmapped


# --- reading: workbooks, header variants, record ids ----------------------------------------------------------


def test_cells_become_the_text_a_csv_would_hold():
    date_column = contracts.load("ngo_activity").column("pvm")
    assert cell_text(dt.datetime(2026, 10, 1), date_column) == "01.10.2026"
    assert cell_text(dt.date(2026, 10, 1), date_column) == "01.10.2026"
    assert cell_text("01.10.2026", date_column) == "01.10.2026"
    assert cell_text(24.0) == "24" and cell_text(3021.05) == "3021.05" and cell_text(0.1 + 0.2) == "0.3"
    assert cell_text(1e-7) == "0.0000001" and cell_text(2198144) == "2198144"
    assert cell_text("  ") is None and cell_text(None) is None and cell_text(True) == "true"


def test_a_workbook_is_read_from_its_sheet_with_date_cells_and_text_dates(tmp_path):
    path = workbook(tmp_path / "ngo_activity_20261001.xlsx", {
        "osallistujat": [MLL_ATTENDANCE],
        "toiminta": [
            MLL_SESSIONS,
            [dt.datetime(2026, 10, 1), "perhekahvila", "Perhekahvila Tesoma", 24, 1],
            [None, None, None],  # an empty row keeps its number
            ["02.10.2026", "vertaistuki", "Vauvaperheiden vertaisryhmä", 7.0, None],
            ["31.02.2026", "vertaistuki", "Vauvaperheiden vertaisryhmä", "seitsemän", 1, "stray"],
        ],
    })
    table, report = read("ngo_activity", path)
    assert table.schema.names == [*contracts.load("ngo_activity").column_names, "_row", "_errors"]
    assert table.column("pvm").to_pylist() == [DAY, dt.date(2026, 10, 2), None]
    assert table.column("osallistujat_lkm").to_pylist() == [24, 7, None]
    assert table.column("vapaaehtoiset_lkm").to_pylist() == [1, None, 1]
    assert table.column("_row").to_pylist() == [1, 3, 4]
    assert table.column("_errors").to_pylist() == [None, None, "pvm: not_a_date|osallistujat_lkm: not_an_integer"]
    assert report.warnings == ["1 cell(s) right of the header's last column ignored"]


def test_both_ngos_header_names_give_the_same_columns(tmp_path):
    csv_path = tmp_path / "ngo_activity_20261001_osallistujat.csv"
    csv_path.write_text(f"{SETLEMENTTI_ATTENDANCE}\n01.10.2026;Digitupa;S-39070;1;1969;33410\n", encoding="utf-8")
    xlsx_path = workbook(tmp_path / "ngo_activity_20261001.xlsx", {
        "toiminta": [MLL_SESSIONS],
        "Osallistujat ": [  # sheet names match ignoring case and spaces
            [h.upper() for h in MLL_ATTENDANCE],
            [dt.datetime(2026, 10, 1), "Digitupa", "S-39070", "1", 1969, "33410"],
        ],
    })
    from_csv, csv_report = read("ngo_attendance", csv_path)
    from_xlsx, xlsx_report = read("ngo_attendance", xlsx_path)
    assert from_csv.equals(from_xlsx)
    assert csv_report.warnings == xlsx_report.warnings == []
    # The record id is composed from typed values, so a date cell and dd.mm.yyyy text give the same id.
    assert from_csv.column("record_id").to_pylist() == ["2026-10-01|Digitupa|S-39070"]


def test_a_missing_sheet_or_a_file_that_is_no_workbook_is_rejected(tmp_path):
    only_sessions = workbook(tmp_path / "ngo_activity_20261001.xlsx", {"toiminta": [MLL_SESSIONS]})
    with pytest.raises(DeliveryRejected) as rejected:
        read("ngo_attendance", only_sessions)
    assert rejected.value.rule == "missing_sheet" and "osallistujat" in str(rejected.value)
    broken = tmp_path / "ngo_activity_20261002.xlsx"
    broken.write_bytes(only_sessions.read_bytes()[:300])  # cut off in transfer
    with pytest.raises(DeliveryRejected) as rejected:
        read("ngo_activity", broken)
    assert rejected.value.rule == "not_a_workbook"
    damaged = tmp_path / "ngo_activity_20261003.xlsx"  # a sound container whose sheet is cut short
    with zipfile.ZipFile(only_sessions) as source, zipfile.ZipFile(damaged, "w") as target:
        for info in source.infolist():
            data = source.read(info.filename)
            target.writestr(info, data[:len(data) // 2] if info.filename.startswith("xl/worksheets/") else data)
    with pytest.raises(DeliveryRejected) as rejected:
        read("ngo_activity", damaged)
    assert rejected.value.rule == "malformed"


def test_a_sheet_without_required_columns_is_rejected(tmp_path):
    path = workbook(tmp_path / "ngo_activity_20261001.xlsx", {"toiminta": [["Päivämäärä", "Ryhmä"], [DAY, "x"]]})
    with pytest.raises(DeliveryRejected) as rejected:
        read("ngo_activity", path)
    assert rejected.value.rule == "missing_columns"
    assert "toimintamuoto, osallistujat_lkm" in str(rejected.value)


def test_each_feed_discovers_its_files_in_the_ngo_activity_folder(tmp_path):
    for partner, names in {"ngo_mll": ["ngo_activity_20261001.xlsx", "~$ngo_activity_20261001.xlsx"],
                           "ngo_setlementti": ["ngo_activity_20261001.csv", "ngo_activity_20261001_osallistujat.csv",
                                               "ngo_activity_20261001_2.csv",
                                               "ngo_activity_20261001_2_osallistujat.csv"]}.items():
        folder = tmp_path / partner / "ngo_activity"
        folder.mkdir(parents=True)
        for name in names:
            (folder / name).write_bytes(b"x")

    def found(feed: str) -> list[tuple[str, str, int]]:
        return [(f.partner, f.path.name, f.sequence) for f in connector_for(feed).discover_all(tmp_path, DAY)]

    assert found("ngo_activity") == [("ngo_mll", "ngo_activity_20261001.xlsx", 1),
                                     ("ngo_setlementti", "ngo_activity_20261001.csv", 1),
                                     ("ngo_setlementti", "ngo_activity_20261001_2.csv", 2)]
    assert found("ngo_attendance") == [("ngo_mll", "ngo_activity_20261001.xlsx", 1),
                                       ("ngo_setlementti", "ngo_activity_20261001_osallistujat.csv", 1),
                                       ("ngo_setlementti", "ngo_activity_20261001_2_osallistujat.csv", 2)]


# --- consent ---------------------------------------------------------------------------------------------


def test_consent_is_a_rule_of_the_contract():
    contract = contracts.load("ngo_attendance")
    consent = [(name, kwargs) for name, kwargs, _ in rules(contract) if kwargs["column"] == "suostumus"]
    assert consent == [("ExpectColumnValuesToNotBeNull", {"column": "suostumus"}),
                       ("ExpectColumnValuesToBeInSet", {"column": "suostumus", "value_set": ["kyllä", "1"]})]
    assert contract.columns_classified("partner_local_id") == ["jasennumero"]
    assert contract.columns_classified("identity_code") == []
    assert contract.source_id_column == "record_id"


def test_rows_without_consent_are_quarantined_and_never_published(data_root):
    folder = data_root / "landing" / "ngo_setlementti" / "ngo_activity"
    folder.mkdir(parents=True)
    (folder / "ngo_activity_20261001_osallistujat.csv").write_text(
        f"{SETLEMENTTI_ATTENDANCE}\n"
        "01.10.2026;Digitupa;S-10001;1;1950;33310\n"
        "01.10.2026;Digitupa;S-10002;ei;1948;33310\n"
        "01.10.2026;Digitupa;S-10003;;1951;33310\n"
        "01.10.2026;Digitupa;S-10004;Kyllä;1952;33310\n"
        "01.10.2026;Digitupa;S-10005;1;1953;33310\n"
        "01.10.2026;Digitupa;S-10006;1;1954;33310\n", encoding="utf-8")
    workbook(data_root / "landing" / "ngo_mll" / "ngo_activity" / "ngo_activity_20261001.xlsx", {
        "toiminta": [MLL_SESSIONS],
        "osallistujat": [MLL_ATTENDANCE, [dt.datetime(2026, 10, 1), "Perhekahvila", "2198144", "kyllä", 1987, "33310"],
                         [dt.datetime(2026, 10, 1), "Perhekahvila", "4496161", "ei", 1995, "33310"]],
    })
    results = {r["delivery_id"].split("-")[1]: r for r in steps.process_date("ngo_attendance", DAY)}
    assert {p: (r["state"], r["rows_read"], r["rows_published"], r["rows_quarantined"]) for p, r in results.items()} \
        == {"ngo_mll": ("published", 2, 1, 1), "ngo_setlementti": ("published", 6, 3, 3)}

    published = warehouse_table(data_root, "service_event").to_pylist()
    assert sorted(r["birth_year"] for r in published) == [1950, 1953, 1954, 1987]  # only the consenting members
    quarantined = json.loads((data_root / "quarantine" / "ngo_setlementti" / results["ngo_setlementti"]["delivery_id"]
                              / "report.json").read_text(encoding="utf-8"))
    assert {(p["column"], p["rule"], tuple(p["row_numbers"])) for p in quarantined["problems"]} == {
        ("suostumus", "allowed_values", (2, 4)), ("suostumus", "required", (3,))}


def test_a_file_mostly_without_consent_is_rejected_whole(data_root):
    folder = data_root / "landing" / "ngo_setlementti" / "ngo_activity"
    folder.mkdir(parents=True)
    (folder / "ngo_activity_20261001_osallistujat.csv").write_text(
        f"{SETLEMENTTI_ATTENDANCE}\n01.10.2026;Digitupa;S-10001;1;1950;33310\n"
        "01.10.2026;Digitupa;S-10002;k;1948;33310\n01.10.2026;Digitupa;S-10003;k;1951;33310\n", encoding="utf-8")
    [result] = steps.process_date("ngo_attendance", DAY)
    assert (result["state"], result["reason"], result["rows_read"], result["rows_quarantined"]) == (
        "rejected", "quality_threshold", 3, 3)
    assert read_table(data_root, "service_event") is None


# --- generated days through the steps ---------------------------------------------------------------------


def _sheet_or_csv(path: Path, sheet: str) -> list[list[str]]:
    """The source's data rows as text, read independently of the connectors."""
    if path.suffix == ".xlsx":
        rows = list(load_workbook(path, read_only=True)[sheet].iter_rows(values_only=True))
        return [[str(v) for v in row] for row in rows[1:]]
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8")), delimiter=";"))[1:]


@pytest.fixture
def generated_day(data_root) -> tuple[dt.date, list[dict]]:
    """Two generated days; the first on which both NGOs delivered, and those deliveries."""
    summary = generate(data_root, start=DAY, days=3, residents=800, seed=1, fault_rate=0)
    by_day: dict[str, list[dict]] = {}
    for delivery in summary["feeds"]["ngo_activity"]["deliveries"]:
        by_day.setdefault(delivery["covers"], []).append(delivery)
    day = next(d for d, ds in sorted(by_day.items()) if {x["partner"] for x in ds} == {"ngo_mll", "ngo_setlementti"})
    return dt.date.fromisoformat(day), by_day[day]


def test_a_generated_day_of_sessions_is_published_whole(data_root, generated_day):
    day, deliveries = generated_day
    results = steps.process_date("ngo_activity", day)
    assert [r["state"] for r in results] == ["published", "published"]
    for r in results:
        assert r["rows_read"] == r["rows_published"] + r["rows_quarantined"]
    assert sum(r["rows_read"] for r in results) == sum(d["sessions"] for d in deliveries)

    sessions = [row for d in deliveries for f in d["files"] if not f["path"].endswith("_osallistujat.csv")
                for row in _sheet_or_csv(data_root / f["path"], "toiminta")]
    published = warehouse_table(data_root, "activity_count").to_pylist()
    totals = Counter()
    for row in published:
        totals[row["measure"]] += row["value"]
    assert totals == {"participants": sum(int(s[3]) for s in sessions), "volunteers": sum(int(s[4]) for s in sessions),
                      "sessions": len(sessions)}
    assert {r["activity_type"] for r in published} <= {"family_cafe", "youth_group", "peer_support", "digital_help"}


def test_a_generated_day_of_attendance_is_published_pseudonymised(data_root, generated_day):
    day, deliveries = generated_day
    results = steps.process_date("ngo_attendance", day)
    assert [r["state"] for r in results] == ["published", "published"]
    for r in results:
        assert r["rows_read"] == r["rows_published"] + r["rows_quarantined"]
    assert sum(r["rows_published"] for r in results) == sum(d["attendance_rows"] for d in deliveries)

    source = [row for d in deliveries for f in d["files"] if f["path"].endswith((".xlsx", "_osallistujat.csv"))
              for row in _sheet_or_csv(data_root / f["path"], "osallistujat")]
    table = warehouse_table(data_root, "service_event")
    assert sorted(table["birth_year"].to_pylist()) == sorted(int(r[4]) for r in source)
    assert sorted(table["home_postal_code"].to_pylist()) == sorted(r[5] for r in source)
    assert set(table["person_id_kind"].to_pylist()) == {"partner_local"}
    assert table["event_id"].null_count == 0 and len(set(table["event_id"].to_pylist())) == table.num_rows
    members = {r[2] for r in source}
    assert not members & {v for c in table.columns if pa.types.is_string(c.type) for v in c.to_pylist()}
