"""Text a spreadsheet would run as a formula is written with a quote in front in files for people, and
counted for the quality results; the warehouse's copy (Parquet) keeps it as delivered."""

from __future__ import annotations

import csv

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tesoma.quarantine import RowProblems, write_rows
from transforms.formulas import formula_like_counts, neutralise, neutralise_array

HYPERLINK = '=HYPERLINK("http://x","y")'


@pytest.mark.parametrize(("given", "expected"), [
    (HYPERLINK, "'" + HYPERLINK),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(1)", "'@SUM(1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("-5", "'-5"),  # text, not a number: quoted too (see the module's docstring)
    ("Hervanta", "Hervanta"),
    ("a=b", "a=b"),
    (" =1", " =1"),  # a leading space: spreadsheets read it as text
    ("'=1", "'=1"),  # already quoted
    ("", ""),
    (None, None),
])
def test_neutralise(given, expected):
    assert neutralise(given) == expected


def test_a_column_is_neutralised_like_each_value():
    values = [HYPERLINK, "Hervanta", None, "@SUM(1)", "", "-5"]
    for column in (pa.array(values), pa.array(values, pa.large_string()),
                   pa.chunked_array([values[:3], values[3:]])):
        out = neutralise_array(column)
        assert out.type == column.type
        assert out.to_pylist() == [neutralise(v) for v in values]
    numbers = pa.array([-5, 3])
    assert neutralise_array(numbers) is numbers


def test_formula_like_counts_text_columns_only():
    table = pa.table({
        "kaynti_id": ["K1", "K2", "K3"],
        "palvelu": [HYPERLINK, "@SUM(1)", "neuvola"],
        "lisatieto": ["-5", None, "ok"],
        "maara": pa.array([-5, -1, 2]),  # negative numbers are numbers, not formulas
        "summa": pa.array([-1.5, 2.0, 3.0]),
    })
    assert formula_like_counts(table) == {"palvelu": 2, "lisatieto": 1}
    assert formula_like_counts(table, ["palvelu", "maara"]) == {"palvelu": 2}
    assert formula_like_counts(table, ["kaynti_id"]) == {}


def test_quarantined_rows_for_a_spreadsheet_hold_the_neutralised_text(tmp_path):
    rows = pa.table({"_row": [3, 4], "kaynti_id": ["K3", "K4"], "palvelu": [HYPERLINK, "neuvola"],
                     "maara": pa.array([-5, 1]), "_errors": ["alkuaika: required", "alkuaika: required"]})
    problems = RowProblems()
    problems.add("alkuaika: required", 3)
    problems.add("alkuaika: required", 4)

    write_rows(tmp_path, rows, problems, delivery_id="d1", source_name="city_visits_20261001.csv", unreadable=[])

    with (tmp_path / "rows.csv").open(encoding="utf-8-sig", newline="") as f:
        written = list(csv.DictReader(f, delimiter=";"))
    assert [r["palvelu"] for r in written] == ["'" + HYPERLINK, "neuvola"]
    assert [r["maara"] for r in written] == ["-5", "1"]  # a number stays a number
    assert [r["_row"] for r in written] == ["3", "4"]
    raw_text = (tmp_path / "rows.csv").read_text(encoding="utf-8-sig")
    assert '"=HYPERLINK' not in raw_text and ';=HYPERLINK' not in raw_text
    assert pq.read_table(tmp_path / "rows.parquet")["palvelu"].to_pylist() == [HYPERLINK, "neuvola"]  # as delivered
