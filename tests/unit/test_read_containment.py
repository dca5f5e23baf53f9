"""Hostile deliveries: whatever a partner sends, reading it ends in rows (bad ones with a reason) or in
:class:`DeliveryRejected` with a rule and words for the partner, never in a parser's own exception.

One tiny hand-made bad input per class of damage, each next to good rows that must still be read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import zipfile
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

from connectors import city_reporting_db, fhir, spreadsheet
from connectors import delimited as delimited_module
from connectors.base import DeliveryRejected, ReadReport
from tesoma import cli
from tesoma.feeds import connector_for
from tests.unit.test_delimited import header as visits_header
from tests.unit.test_delimited import line as visits_line
from tests.unit.test_fhir import encounter, patient, write_export
from tests.unit.test_ngo import MLL_SESSIONS, workbook

DAY_XLSX = "ngo_activity_20261001.xlsx"


def read(feed: str, path: Path) -> tuple[pa.Table | None, ReadReport]:
    report = ReadReport()
    batches = list(connector_for(feed).read(path, report))
    return (pa.Table.from_batches(batches) if batches else None), report


def rejection(feed: str, path: Path) -> DeliveryRejected:
    with pytest.raises(DeliveryRejected) as info:
        read(feed, path)
    return info.value


# --- FHIR NDJSON ---------------------------------------------------------------------------------------------


def export(tmp_path: Path, encounter_lines: list, **kwargs) -> Path:
    return write_export(tmp_path / "20261001", {"Patient.000.ndjson": [patient("p1")],
                                                "Encounter.000.ndjson": encounter_lines}, **kwargs)


def nested(depth: int) -> str:
    """An Encounter whose extension nests ``depth`` arrays (the resource itself adds one level)."""
    return json.dumps(encounter("deep", "Patient/p1"))[:-1] + ', "extension": ' + "[" * depth + "]" * depth + "}"


def test_a_line_nested_too_deep_is_an_unreadable_row_and_its_neighbours_are_read(tmp_path):
    folder = export(tmp_path, [encounter("e1", "Patient/p1"), nested(100_000), encounter("e2", "Patient/p1")])
    table, report = read("mehilainen_fhir", folder)
    assert table["encounter_id"].to_pylist() == ["e1", "e2"]
    assert table["_row"].to_pylist() == [1, 3]
    assert report.unreadable_rows == [(1, "Encounter.000.ndjson line 2: nested deeper than 64 levels")]


def test_nesting_up_to_the_limit_and_brackets_inside_text_are_read(tmp_path):
    within = nested(fhir.MAX_JSON_DEPTH - 1)  # with the resource's own object: exactly the limit
    brackets_in_text = encounter("text", "Patient/p1", status="[" * 500 + "{" * 500)
    table, report = read("mehilainen_fhir", export(tmp_path, [within, brackets_in_text]))
    assert table["encounter_id"].to_pylist() == ["deep", "text"]
    assert report.unreadable_rows == []


def test_a_manifest_nested_too_deep_is_rejected(tmp_path):
    folder = export(tmp_path, [encounter("e1", "Patient/p1")])
    (folder / fhir.MANIFEST).write_text('{"output": ' + "[" * 10_000 + "]" * 10_000 + "}")
    error = rejection("mehilainen_fhir", folder)
    assert error.rule == "manifest_invalid" and "nested deeper than 64 levels" in str(error)


@pytest.mark.parametrize("start", [
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
    "2026-10-01T08:30:00+15:00",  # no such offset (Python accepts up to ±23:59)
    "0000-01-01T00:00:00Z",
])
def test_instants_that_cannot_be_held_are_row_errors(tmp_path, start):
    folder = export(tmp_path, [encounter("bad", "Patient/p1", start=start), encounter("good", "Patient/p1")])
    table, report = read("mehilainen_fhir", folder)
    assert table["_errors"].to_pylist() == ["period_start: not_a_date_time", None]
    assert table["period_start"].to_pylist()[0] is None and table["period_start"][1].is_valid


def test_a_birth_date_on_the_first_day_python_knows_is_a_row_error(tmp_path):
    folder = write_export(tmp_path / "20261001", {
        "Patient.000.ndjson": [patient("p1", birthDate="0001-01-01"), patient("p2")],
        "Encounter.000.ndjson": [encounter("e1", "Patient/p1"), encounter("e2", "Patient/p2")]})
    table, _ = read("mehilainen_fhir", folder)
    assert table["_errors"].to_pylist() == ["birth_date: not_a_date", None]


def test_a_transaction_time_out_of_range_is_a_warning_not_a_crash(tmp_path):
    folder = export(tmp_path, [encounter("e1", "Patient/p1")], transaction_time="0001-01-01T00:00:00+14:00")
    table, report = read("mehilainen_fhir", folder)
    assert table["last_updated"].to_pylist() == [None]
    assert any("no valid transactionTime" in w for w in report.warnings)


def test_a_line_with_an_unpaired_surrogate_escape_is_an_unreadable_row(tmp_path):
    bad = json.dumps(encounter("bad", "Patient/p1")).replace('"finished"', '"\\ud800"')
    table, report = read("mehilainen_fhir", export(tmp_path, [bad, encounter("good", "Patient/p1")]))
    assert table["encounter_id"].to_pylist() == ["good"]
    assert report.unreadable_rows == [(0, "Encounter.000.ndjson line 1: holding text that is not valid Unicode")]


def test_a_line_longer_than_the_limit_is_skipped_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(fhir, "MAX_LINE_BYTES", 2000)
    long = encounter("long", "Patient/p1", text={"div": "x" * 5000})
    table, report = read("mehilainen_fhir", export(tmp_path, [long, encounter("good", "Patient/p1")]))
    assert table["encounter_id"].to_pylist() == ["good"] and table["_row"].to_pylist() == [2]
    assert report.unreadable_rows == [(0, "Encounter.000.ndjson line 1: longer than 2,000 bytes")]


def test_a_reference_or_url_that_is_no_url_is_a_row_error_or_a_rejection(tmp_path):
    folder = export(tmp_path, [encounter("bad", "http://[broken/Patient/p1"), encounter("good", "Patient/p1")])
    table, _ = read("mehilainen_fhir", folder)
    assert table["_errors"].to_pylist() == ["subject: dangling_reference", None]
    manifest = json.loads((folder / fhir.MANIFEST).read_text())
    manifest["output"][0]["url"] = "http://[broken/Patient.000.ndjson"
    (folder / fhir.MANIFEST).write_text(json.dumps(manifest))
    assert rejection("mehilainen_fhir", folder).rule == "manifest_invalid"


@pytest.mark.parametrize("target", ["outside", "loop"])
def test_a_link_in_the_export_folder_is_rejected(tmp_path, target):
    folder = export(tmp_path, [encounter("e1", "Patient/p1")])
    outside = tmp_path / "secret.ndjson"
    outside.write_text(json.dumps(encounter("e9", "Patient/p1")) + "\n")
    (folder / "Encounter.001.ndjson").symlink_to(outside if target == "outside" else folder)
    error = rejection("mehilainen_fhir", folder)
    assert error.rule == "link_in_folder"
    assert str(error).startswith("Links are not allowed in an export folder (Encounter.001.ndjson)")


def test_a_file_name_that_is_not_utf8_is_rejected_and_shown_escaped(tmp_path):
    folder = export(tmp_path, [encounter("e1", "Patient/p1")])
    Path(os.fsdecode(bytes(folder) + b"/Encounter.\xff.ndjson")).write_text("")
    error = rejection("mehilainen_fhir", folder)
    assert error.rule == "bad_name_in_folder" and "Encounter.\\xff.ndjson" in str(error)
    str(error).encode("utf-8")  # the message itself can go into reports and the ledger


# --- Excel workbooks -----------------------------------------------------------------------------------------

SHEET = "xl/worksheets/sheet1.xml"


def sessions_workbook(tmp_path: Path, *rows: list) -> Path:
    good = ["01.10.2026", "Digitupa", "S-1", 3, 1]
    return workbook(tmp_path / DAY_XLSX, {"toiminta": [MLL_SESSIONS, good, *rows]})


def damaged(path: Path, old: bytes, new: bytes) -> Path:
    """A copy of the workbook with one sheet's XML edited (as a broken writer would leave it)."""
    target = path.with_name("ngo_activity_20261002.xlsx")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as out:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == SHEET:
                assert old in data
                data = data.replace(old, new)
            out.writestr(info, data)
    return target


@pytest.mark.parametrize(("old", "new"), [
    (b't="inlineStr"><is><t>S-2</t></is>', b't="s"><v>7</v>'),  # a shared string that is not there
    (b't="n"><v>4</v>', b't="n"><v>four</v>'),  # text in a number cell
    (b't="n"><v>4</v>', b't="b"><v>maybe</v>'),  # neither true nor false in a boolean cell
    (b'<row r="3"', b'<row r="x"'),  # a row number that is no number
])
def test_a_damaged_cell_rejects_the_workbook_naming_where(tmp_path, old, new):
    path = damaged(sessions_workbook(tmp_path, ["02.10.2026", "Digitupa", "S-2", 4, 1]), old, new)
    error = rejection("ngo_activity", path)
    assert error.rule == "malformed"
    assert str(error).startswith("The workbook cannot be read beyond sheet row 2")
    assert "save it again as .xlsx" in str(error)


def test_a_date_cell_beyond_excel_dates_is_a_row_error_and_the_next_row_is_read(tmp_path):
    path = sessions_workbook(tmp_path, ["02.10.2026", "Digitupa", "S-2", 4, 1], ["03.10.2026", "Digitupa", "S-3", 5, 1])
    path = damaged(path, b'<c r="A3" t="inlineStr"><is><t>02.10.2026</t></is></c>',
                   b'<c r="A3" s="1" t="n"><v>1e20</v></c>')
    table, _ = read("ngo_activity", path)
    assert table["_errors"].to_pylist() == [None, "pvm: not_a_date", None]


def test_row_numbers_beyond_excels_limit_are_refused_without_reading_the_gap(tmp_path, monkeypatch):
    monkeypatch.setattr(spreadsheet, "EXCEL_MAX_ROWS", 10)
    path = damaged(sessions_workbook(tmp_path, ["02.10.2026", "Digitupa", "S-2", 4, 1]), b'<row r="3"',
                   b'<row r="9000000"')
    error = rejection("ngo_activity", path)
    assert error.rule == "malformed" and "beyond Excel's limit" in str(error)


def test_files_that_are_no_workbook_are_rejected(tmp_path):
    good = sessions_workbook(tmp_path)
    other_zip = tmp_path / "ngo_activity_20261003.xlsx"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("notes.txt", "not a workbook")
    truncated = tmp_path / "ngo_activity_20261004.xlsx"
    truncated.write_bytes(good.read_bytes()[:-40])
    for path in (other_zip, truncated):
        error = rejection("ngo_activity", path)
        assert error.rule == "not_a_workbook" and "Save it again as an Excel workbook (.xlsx)" in str(error)


def test_a_workbook_whose_unstreamed_parts_are_too_large_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr(spreadsheet, "MAX_UNSTREAMED_BYTES", 1000)
    error = rejection("ngo_activity", sessions_workbook(tmp_path))
    assert error.rule == "not_a_workbook" and "unpacked" in str(error)


def test_a_folder_given_for_a_file_feed_is_rejected(tmp_path):
    (tmp_path / DAY_XLSX).mkdir()
    assert rejection("ngo_activity", tmp_path / DAY_XLSX).rule == "not_a_file"
    (tmp_path / "city_visits_20261001.csv").mkdir()
    assert rejection("city_visits", tmp_path / "city_visits_20261001.csv").rule == "not_a_file"


# --- delimited text ------------------------------------------------------------------------------------------


def visits(tmp_path: Path, *lines: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "city_visits_20261001.csv"
    path.write_bytes(("\r\n".join([visits_header(), *lines]) + "\r\n").encode(encoding))
    return path


@pytest.mark.parametrize(("column", "value", "rule"), [
    ("alkuaika", "01.01.0000 08:30", "not_a_date_time"),  # year 0: Arrow reads it, Python cannot hold it
    ("alkuaika", "01.01.99999 08:30", "not_a_date_time"),
    ("alkuaika", "31.02.2026 08:30", "not_a_date_time"),
    ("alkuaika", "01.10.2026 25:61", "not_a_date_time"),
    ("kesto_min", "99999999999999999999", "not_an_integer"),  # beyond int64
    ("asiakasmaksu", "1" * 30, "not_a_number"),
])
def test_values_out_of_any_range_are_row_errors_next_to_good_rows(tmp_path, column, value, rule):
    path = visits(tmp_path, visits_line(kaynti_id="K000000001", **{column: value}), visits_line(kaynti_id="K000000002"))
    table, _ = read("city_visits", path)
    assert table["_errors"].to_pylist() == [f"{column}: {rule}", None]
    table.to_pylist()  # every value that was let through can be held by Python


def test_an_infinite_number_is_not_a_number(tmp_path):
    path = tmp_path / "city_access_20261001.csv"
    path.write_text("pvm;toimipiste;ammattiryhma;t3_vrk\n01.10.2026;TESOMA_TK;LAAK;1e999\n"
                    "01.10.2026;TESOMA_TK;SH;4,5\n", encoding="utf-8")
    table, _ = read("city_access", path)
    assert table["_errors"].to_pylist() == ["t3_vrk: not_a_number", None]
    assert table["t3_vrk"].to_pylist() == [None, 4.5]


def test_nul_bytes_and_mixed_encodings_are_rejected_with_their_own_words(tmp_path):
    path = visits(tmp_path, visits_line(), visits_line(kaynti_id="K000000002"))
    path.write_bytes(path.read_bytes().replace(b"Tesomankatu", b"Tesoma\x00katu", 1))
    error = rejection("city_visits", path)
    assert error.rule == "encoding" and "NUL bytes" in str(error)
    visits(tmp_path, visits_line())
    path.write_bytes(path.read_bytes() + visits_line(kaynti_id="K000000002").encode("cp1252") + b"\r\n")
    error = rejection("city_visits", path)
    assert error.rule == "encoding" and "mixes encodings" in str(error)


def test_a_row_longer_than_a_parsing_block_is_rejected_in_words(tmp_path):
    path = visits(tmp_path, visits_line(), visits_line(kaynti_id="K000000002", lisatieto="x" * (9 << 20)))
    error = rejection("city_visits", path)
    assert error.rule == "malformed" and "a row of more than 4 MiB" in str(error)


def test_a_header_without_line_end_is_not_read_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(delimited_module, "MAX_HEADER_CHARS", 100)
    path = visits(tmp_path, visits_line())
    path.write_bytes(path.read_bytes().replace(b"\r\n", b";"))
    error = rejection("city_visits", path)
    assert error.rule == "malformed" and "header row" in str(error)


def test_a_ragged_row_beside_a_field_too_long_for_the_csv_module_keeps_the_other_rows(tmp_path):
    path = visits(tmp_path, visits_line(lisatieto="x" * 200_000), visits_line(kaynti_id="K000000002") + ";extra",
                  visits_line(kaynti_id="K000000003"))
    table, report = read("city_visits", path)
    assert table["kaynti_id"].to_pylist() == ["K000000001", "K000000003"]
    assert len(report.unreadable_rows) == 1


# --- tesoma check --------------------------------------------------------------------------------------------


def check(capsys, feed: str, path: Path) -> tuple[int, list[str]]:
    code = cli.main(["check", "--feed", feed, str(path)])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err and "internal error" not in out.err
    return code, out.out.splitlines()


def test_check_answers_a_damaged_workbook_in_one_line(tmp_path, capsys):
    path = damaged(sessions_workbook(tmp_path, ["02.10.2026", "Digitupa", "S-2", 4, 1]), b't="n"><v>4</v>',
                   b't="n"><v>four</v>')
    code, lines = check(capsys, "ngo_activity", path)
    assert code == 1
    assert lines == [f"{path}: file: malformed — The workbook cannot be read beyond sheet row 2: it is damaged or "
                     "truncated there (e.g. a cell refers to text the workbook does not hold, or a number or date cell "
                     "holds something else). Open it in Excel, save it again as .xlsx and send the complete file "
                     "again."]


def test_check_answers_a_folder_for_a_file_feed_a_file_for_a_folder_feed_and_a_missing_path(tmp_path, capsys):
    folder = tmp_path / "city_visits_20261001.csv"
    folder.mkdir()
    code, lines = check(capsys, "city_visits", folder)
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"{folder}: file: not_a_file — ")
    single = tmp_path / "20261001"
    single.write_text("{}\n")
    code, lines = check(capsys, "mehilainen_fhir", single)
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"{single}: file: not_a_folder — ")
    with pytest.raises(SystemExit) as exited:  # (the command line refuses it before check runs)
        cli.main(["check", "--feed", "city_visits", str(tmp_path / "city_visits_20261002.csv")])
    out = capsys.readouterr()
    assert exited.value.code == 2 and out.out == "" and len(out.err.splitlines()) == 1
    assert "no such file or folder" in out.err


def test_check_reports_a_deeply_nested_fhir_line_as_an_unreadable_row(tmp_path, capsys):
    folder = export(tmp_path, [encounter("e1", "Patient/p1"), nested(100_000)])
    code, lines = check(capsys, "mehilainen_fhir", folder)
    assert code == 1
    assert f"{folder}: row 2: unreadable_row — Encounter.000.ndjson line 2: nested deeper than 64 levels" in lines


# --- the city's reporting database ----------------------------------------------------------------------------


def test_a_pulled_value_of_the_wrong_type_names_its_column_but_not_the_value(tmp_path):
    columns = connector_for("city_visits").contract.column_names
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'reporting.sqlite'}")
    with engine.begin() as conn:  # SQLite keeps whatever a column is given: here text in the fee column
        conn.execute(sa.text(f"create table kaynnit ({', '.join(f'{c} text' for c in columns)})"))
        conn.execute(sa.text("insert into kaynnit (kaynti_id, asiakasmaksu, paivitetty) "
                             "values ('K000000001', 'kaksikymmentä', '2026-10-01 09:00:00')"))
    engine.dispose()
    with pytest.raises(ValueError) as error:
        list(city_reporting_db.extract(f"sqlite:///{tmp_path / 'reporting.sqlite'}", None, dt.datetime(2026, 10, 2)))
    assert "column asiakasmaksu" in str(error.value) and "kaksikymmentä" not in str(error.value)
