"""The city's CSV export (contract city_visits): encodings, header checks, typing, row numbers.

Each test writes a tiny delivery into ``tmp_path`` with the contract's header, ``;`` separators, CRLF
line ends, decimal commas and ``dd.mm.yyyy hh:mm`` times, reads it and compares rows.
"""

from __future__ import annotations

import codecs
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from connectors.base import ROW_ERRORS, ROW_NUMBER, DeliveryRejected, ReadReport
from tesoma.feeds import connector_for

CONNECTOR = connector_for("city_visits")
COLUMNS = CONNECTOR.contract.column_names

DEFAULTS = {
    "kaynti_id": "K000000001",
    "henkilotunnus": "131052-308T",
    "sukunimi": "Äijö",
    "etunimet": "Testi Öljy",
    "lahiosoite": "Tesomankatu 1",
    "postinumero": "33310",
    "kotikunta": "837",
    "puhelin": "",
    "palvelu": "TK_VO",
    "yhteystapa": "R10",
    "ammattiryhma": "LAAK",
    "toimipiste": "TES01",
    "alkuaika": "01.10.2026 08:30",
    "kesto_min": "20",
    "tila": "toteutunut",
    "diagnoosi": "A01",
    "diagnoosi_luokitus": "ICPC2",
    "asiakasmaksu": "20,90",
    "lisatieto": "",
    "paivitetty": "01.10.2026 09:00",
}


def line(columns: list[str] = COLUMNS, **values: str) -> str:
    row = {**DEFAULTS, **values}
    return ";".join(row.get(c, "") for c in columns)


def header(columns: list[str] = COLUMNS) -> str:
    return ";".join(columns)


def write(tmp_path: Path, lines: list[str], encoding: str = "utf-8", bom: bytes = b"",
          name: str = "city_visits_20261001.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(bom + ("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def read(path: Path) -> tuple[pa.Table, ReadReport]:
    report = ReadReport()
    batches = list(CONNECTOR.read(path, report))
    if not batches:
        return CONNECTOR.contract.arrow_schema().empty_table(), report
    return pa.Table.from_batches(batches), report


def pick(table: pa.Table, *columns: str) -> list[dict]:
    return table.select(list(columns)).to_pylist()


# --- encodings -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-8", codecs.BOM_UTF8), ("utf-8", b""), ("cp1252", b"")],
    ids=["utf-8 with BOM", "plain utf-8", "windows-1252"],
)
def test_agreed_encodings_read_the_same(tmp_path, encoding, bom):
    path = write(tmp_path, [header(), line(sukunimi="Äijö", etunimet="Öljy Åsa")], encoding, bom)

    table, report = read(path)

    assert pick(table, "kaynti_id", "sukunimi", "etunimet", ROW_NUMBER) == [
        {"kaynti_id": "K000000001", "sukunimi": "Äijö", "etunimet": "Öljy Åsa", ROW_NUMBER: 1}
    ]
    assert report.warnings == [] and report.unreadable_rows == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_is_rejected(tmp_path, encoding):
    bom = {"utf-16": b"", "utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}[encoding]
    path = write(tmp_path, [header(), line()], encoding, bom)
    with pytest.raises(DeliveryRejected) as info:
        read(path)
    assert info.value.rule == "encoding"
    assert "UTF-16" in str(info.value)


@pytest.mark.parametrize("bom", [b"", codecs.BOM_UTF8])
def test_nul_bytes_are_rejected(tmp_path, bom):
    path = write(tmp_path, [header(), line(lisatieto="a\x00b")], "utf-8", bom)
    with pytest.raises(DeliveryRejected) as info:
        read(path)
    assert info.value.rule == "encoding"


def test_bytes_undefined_in_windows_1252_are_rejected(tmp_path):
    path = tmp_path / "city_visits_20261001.csv"
    path.write_bytes((header() + "\r\n").encode() + line().encode("cp1252") + b"\x81\r\n")
    with pytest.raises(DeliveryRejected) as info:
        read(path)
    assert info.value.rule == "encoding"


def test_empty_file_is_rejected(tmp_path):
    path = tmp_path / "city_visits_20261001.csv"
    path.write_bytes(b"")
    with pytest.raises(DeliveryRejected) as info:
        read(path)
    assert info.value.rule == "empty_file"


def test_header_only_file_has_no_rows(tmp_path):
    table, report = read(write(tmp_path, [header()]))
    assert table.num_rows == 0
    assert report.unreadable_rows == []


# --- header ----------------------------------------------------------------------------------------------


def test_missing_required_column_is_rejected_naming_it(tmp_path):
    without = [c for c in COLUMNS if c != "palvelu"]
    path = write(tmp_path, [header(without), line(without)])
    with pytest.raises(DeliveryRejected) as info:
        read(path)
    assert info.value.rule == "missing_columns"
    assert "missing from the header: palvelu." in str(info.value)


def test_comma_separated_file_is_rejected_as_wrong_delimiter(tmp_path):
    path = write(tmp_path, [",".join(COLUMNS), line().replace(";", ",")])
    with pytest.raises(DeliveryRejected) as info:
        read(path)
    assert info.value.rule == "delimiter"
    assert "','" in str(info.value) and "';'" in str(info.value)


def test_extra_column_warns_and_is_ignored(tmp_path):
    path = write(tmp_path, [header([*COLUMNS, "ylimaarainen"]), line() + ";something"])

    table, report = read(path)

    assert report.warnings == ["extra column(s) ignored: ylimaarainen"]
    assert "ylimaarainen" not in table.column_names
    assert pick(table, "kaynti_id", ROW_ERRORS) == [{"kaynti_id": "K000000001", ROW_ERRORS: None}]


def test_missing_optional_column_warns_and_reads_as_null(tmp_path):
    without = [c for c in COLUMNS if c != "lisatieto"]
    table, report = read(write(tmp_path, [header(without), line(without)]))
    assert report.warnings == ["optional column(s) missing, read as empty: lisatieto"]
    assert pick(table, "lisatieto", ROW_ERRORS) == [{"lisatieto": None, ROW_ERRORS: None}]


def test_batches_have_the_contract_schema_plus_row_and_errors(tmp_path):
    table, _ = read(write(tmp_path, [header(), line()]))
    expected = [(c.name, c.arrow_type) for c in CONNECTOR.contract.columns] + [
        (ROW_NUMBER, pa.int64()), (ROW_ERRORS, pa.string())]
    assert [(f.name, f.type) for f in table.schema] == expected
    assert table.schema.field("asiakasmaksu").type == pa.decimal128(9, 2)


# --- values ----------------------------------------------------------------------------------------------


def test_values_are_typed_and_bad_ones_become_null_with_a_reason(tmp_path):
    path = write(tmp_path, [
        header(),
        line(kaynti_id="K1", asiakasmaksu="20,90", alkuaika="01.10.2026 08:30", kesto_min="20"),
        line(kaynti_id="K2", asiakasmaksu="1,999"),
        line(kaynti_id="K3", alkuaika="31.02.2026 10:00"),
        line(kaynti_id="K4", alkuaika="29.02.2024 00:00", asiakasmaksu="0"),
        line(kaynti_id="K5", kesto_min="kaksi", asiakasmaksu="", paivitetty="2026-10-01 09:00"),
        line(kaynti_id="K6", asiakasmaksu="12345678,00", alkuaika="30.13.2026 10:00"),
    ])

    table, report = read(path)

    assert pick(table, "kaynti_id", "alkuaika", "kesto_min", "asiakasmaksu", "paivitetty", ROW_NUMBER, ROW_ERRORS) == [
        {"kaynti_id": "K1", "alkuaika": dt.datetime(2026, 10, 1, 8, 30), "kesto_min": 20,
         "asiakasmaksu": Decimal("20.90"), "paivitetty": dt.datetime(2026, 10, 1, 9, 0), ROW_NUMBER: 1,
         ROW_ERRORS: None},
        {"kaynti_id": "K2", "alkuaika": dt.datetime(2026, 10, 1, 8, 30), "kesto_min": 20, "asiakasmaksu": None,
         "paivitetty": dt.datetime(2026, 10, 1, 9, 0), ROW_NUMBER: 2, ROW_ERRORS: "asiakasmaksu: not_a_number"},
        {"kaynti_id": "K3", "alkuaika": None, "kesto_min": 20, "asiakasmaksu": Decimal("20.90"),
         "paivitetty": dt.datetime(2026, 10, 1, 9, 0), ROW_NUMBER: 3, ROW_ERRORS: "alkuaika: not_a_date_time"},
        {"kaynti_id": "K4", "alkuaika": dt.datetime(2024, 2, 29, 0, 0), "kesto_min": 20,
         "asiakasmaksu": Decimal("0.00"), "paivitetty": dt.datetime(2026, 10, 1, 9, 0), ROW_NUMBER: 4,
         ROW_ERRORS: None},
        {"kaynti_id": "K5", "alkuaika": dt.datetime(2026, 10, 1, 8, 30), "kesto_min": None, "asiakasmaksu": None,
         "paivitetty": None, ROW_NUMBER: 5, ROW_ERRORS: "kesto_min: not_an_integer|paivitetty: not_a_date_time"},
        {"kaynti_id": "K6", "alkuaika": None, "kesto_min": 20, "asiakasmaksu": None,
         "paivitetty": dt.datetime(2026, 10, 1, 9, 0), ROW_NUMBER: 6,
         ROW_ERRORS: "alkuaika: not_a_date_time|asiakasmaksu: not_a_number"},
    ]
    assert report.unreadable_rows == []


@pytest.mark.parametrize(
    ("text", "value"),
    [("20,90", Decimal("20.90")), ("20,9", Decimal("20.90")), ("20", Decimal("20.00")), ("-5,00", Decimal("-5.00")),
     (" 7,50 ", Decimal("7.50")), ("9999999,99", Decimal("9999999.99"))],
)
def test_decimal_comma(tmp_path, text, value):
    table, _ = read(write(tmp_path, [header(), line(asiakasmaksu=text)]))
    assert pick(table, "asiakasmaksu", ROW_ERRORS) == [{"asiakasmaksu": value, ROW_ERRORS: None}]


@pytest.mark.parametrize("text", ["1,999", "1.234,50", "20 €", "abc", "20,90,1"])
def test_not_a_number(tmp_path, text):
    table, _ = read(write(tmp_path, [header(), line(asiakasmaksu=text)]))
    assert pick(table, "asiakasmaksu", ROW_ERRORS) == [{"asiakasmaksu": None, ROW_ERRORS: "asiakasmaksu: not_a_number"}]


@pytest.mark.parametrize(
    ("text", "value"),
    [("29.02.2024 00:00", dt.datetime(2024, 2, 29)), ("31.12.2026 23:59", dt.datetime(2026, 12, 31, 23, 59)),
     ("1.3.2026 7:05", dt.datetime(2026, 3, 1, 7, 5))],
)
def test_real_date_times(tmp_path, text, value):
    table, _ = read(write(tmp_path, [header(), line(alkuaika=text)]))
    assert pick(table, "alkuaika", ROW_ERRORS) == [{"alkuaika": value, ROW_ERRORS: None}]


@pytest.mark.parametrize("text", ["31.02.2026 10:00", "29.02.2026 10:00", "30.13.2026 10:00", "00.01.2026 10:00",
                                  "01.10.2026 25:00", "01.10.2026", "2026-10-01 08:30"])
def test_not_a_date_time(tmp_path, text):
    table, _ = read(write(tmp_path, [header(), line(alkuaika=text)]))
    assert pick(table, "alkuaika", ROW_ERRORS) == [{"alkuaika": None, ROW_ERRORS: "alkuaika: not_a_date_time"}]


def test_empty_strings_become_null(tmp_path):
    path = write(tmp_path, [header(), line(lahiosoite="", puhelin="   ", diagnoosi='""', kesto_min="",
                                           asiakasmaksu="")])
    table, _ = read(path)
    assert pick(table, "lahiosoite", "puhelin", "diagnoosi", "kesto_min", "asiakasmaksu", ROW_ERRORS) == [
        {"lahiosoite": None, "puhelin": None, "diagnoosi": None, "kesto_min": None, "asiakasmaksu": None,
         ROW_ERRORS: None}
    ]


def test_string_values_are_trimmed_and_quoted_separators_kept(tmp_path):
    table, _ = read(write(tmp_path, [header(), line(toimipiste="  TES01 ", lisatieto='"a; b"')]))
    assert pick(table, "toimipiste", "lisatieto") == [{"toimipiste": "TES01", "lisatieto": "a; b"}]


# --- rows --------------------------------------------------------------------------------------------------


def test_rows_are_numbered_from_one_across_batches(tmp_path):
    # ~700 rows of ~170 bytes: more than one 64 KiB block, so more than one batch
    n = 700
    path = write(tmp_path, [header(), *(line(kaynti_id=f"K{i:09d}") for i in range(1, n + 1))])
    report = ReadReport()
    batches = list(CONNECTOR.read(path, report, batch_rows=1))
    assert len(batches) > 1
    table = pa.Table.from_batches(batches)
    assert table[ROW_NUMBER].to_pylist() == list(range(1, n + 1))
    assert table["kaynti_id"].to_pylist() == [f"K{i:09d}" for i in range(1, n + 1)]


def test_truncated_last_row_is_counted_as_unreadable(tmp_path):
    path = write(tmp_path, [header(), line(kaynti_id="K1"), line(kaynti_id="K2"), "K3;131052-3"])

    table, report = read(path)

    assert pick(table, "kaynti_id", ROW_NUMBER) == [
        {"kaynti_id": "K1", ROW_NUMBER: 1}, {"kaynti_id": "K2", ROW_NUMBER: 2}]
    assert len(report.unreadable_rows) == 1
    _, why = report.unreadable_rows[0]
    assert f"expected {len(COLUMNS)}" in why
    assert "131052" not in why  # no row values in the report


def test_row_with_a_stray_separator_is_counted_as_unreadable(tmp_path):
    path = write(tmp_path, [header(), line(kaynti_id="K1"), line(kaynti_id="K2", lisatieto="a;b")])
    table, report = read(path)
    assert table["kaynti_id"].to_pylist() == ["K1"]
    assert [why.split(",")[0] for _, why in report.unreadable_rows] == [f"row has {len(COLUMNS) + 1} fields"]


def test_row_numbers_stay_file_positions_after_an_unreadable_row(tmp_path):
    path = write(tmp_path, [header(), line(kaynti_id="K1"), "K2;131052-3", line(kaynti_id="K3")])
    table, report = read(path)
    assert len(report.unreadable_rows) == 1
    # ROW_NUMBER: "the 1-based data row number in the delivered file"; K3 is the file's third data row
    assert pick(table, "kaynti_id", ROW_NUMBER) == [
        {"kaynti_id": "K1", ROW_NUMBER: 1}, {"kaynti_id": "K3", ROW_NUMBER: 3}]


def test_unterminated_quote_at_the_end_is_not_published(tmp_path):
    path = write(tmp_path, [header(), line(kaynti_id="K1"), 'K2;"131052-308T'])
    table, report = read(path)
    assert table["kaynti_id"].to_pylist() == ["K1"]
    assert len(report.unreadable_rows) == 1


# --- discovery ---------------------------------------------------------------------------------------------


def test_discover_by_the_contract_file_name_pattern(tmp_path):
    for name in ["city_visits_20261001.csv", "city_visits_20261001_2.csv", "city_visits_20261002.csv",
                 "city_visits_2026100.csv", "other_20261001.csv", "city_visits_20261001.csv.part"]:
        (tmp_path / name).write_bytes(b"x")

    found = CONNECTOR.discover(tmp_path)

    assert [(f.path.name, f.delivery_date, f.sequence) for f in found] == [
        ("city_visits_20261001.csv", dt.date(2026, 10, 1), 1),
        ("city_visits_20261001_2.csv", dt.date(2026, 10, 1), 2),
        ("city_visits_20261002.csv", dt.date(2026, 10, 2), 1),
    ]
    assert [f.path.name for f in CONNECTOR.discover(tmp_path, dt.date(2026, 10, 2))] == ["city_visits_20261002.csv"]
    assert CONNECTOR.discover(tmp_path / "nowhere") == []


def test_unknown_feed_has_no_connector():
    with pytest.raises(KeyError, match="city_visits"):
        connector_for("no_such_feed")


@pytest.mark.parametrize(("content", "valid"), [
    (b"kaynti_id;nimi\r\nK1;abc\r\n", True),
    ("äö€ €äö".encode() * 3, True),
    ("äö".encode("cp1252"), False),
    ("ä".encode()[:1], False),  # cut off in the middle of a character
    (b"a\x00b", False),
    (b"", True),
])
@pytest.mark.parametrize("piece", [1, 2, 3, 5, 1 << 24])
def test_utf8_check_carries_characters_across_pieces(tmp_path, content, valid, piece):
    from connectors.delimited import _valid_utf8

    path = tmp_path / "file.csv"
    path.write_bytes(content)
    assert _valid_utf8(path, piece) is valid
