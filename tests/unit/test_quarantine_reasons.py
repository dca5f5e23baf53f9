"""Row reasons (``transforms.reasons``) and the quarantine reports partners read (``tesoma.quarantine``).

Reports carry rules, columns, counts, advice and row numbers, never row values.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tesoma import quarantine
from tesoma.quarantine import ADVICE, RowProblems, rule_of, write_rejection, write_rows
from transforms import reasons

FAKE_NAME = "Äijö Testinen"
FAKE_CODE = "131052-308T"


# --- reasons ---------------------------------------------------------------------------------------------


def test_combine_skips_nulls():
    first = pa.array(["a: required", None, "c: pattern", None])
    second = pa.array(["a: not_a_number", "b: unique", None, None])
    assert reasons.combine(first, second).to_pylist() == [
        "a: required|a: not_a_number", "b: unique", "c: pattern", None]


def test_combine_chunked_with_plain():
    first = pa.chunked_array([["x: required"], [None]])
    assert reasons.combine(first, pa.array([None, "y: unique"])).to_pylist() == ["x: required", "y: unique"]


def test_combine_all():
    columns = [pa.array([None, "a: r1", None]), pa.array([None, "b: r2", "b: r2"]), pa.array([None, None, "c: r3"])]
    assert reasons.combine_all(columns, 3).to_pylist() == [None, "a: r1|b: r2", "b: r2|c: r3"]
    assert reasons.combine_all([], 2).to_pylist() == [None, None]


def test_for_partner_hides_required_where_the_value_was_unreadable():
    errors = "alkuaika: not_a_date_time|alkuaika: required|palvelu: required|kesto_min: not_an_integer"
    assert reasons.for_partner(errors) == ["alkuaika: not_a_date_time", "palvelu: required",
                                           "kesto_min: not_an_integer"]


def test_for_partner_keeps_required_of_other_columns_and_drops_repeats():
    errors = "asiakasmaksu: not_a_number|paivitetty: required|paivitetty: required|asiakasmaksu: range"
    assert reasons.for_partner(errors) == ["asiakasmaksu: not_a_number", "paivitetty: required",
                                           "asiakasmaksu: range"]


def test_for_partner_single_reason():
    assert reasons.for_partner("henkilotunnus: identity_code_check_character") == [
        "henkilotunnus: identity_code_check_character"]


# --- rule_of -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("alkuaika: not_a_date_time", ("alkuaika", "not_a_date_time")),
        ("duplicate_row", (None, "duplicate_row")),
        ("henkilotunnus: identity_code_date", ("henkilotunnus", "identity_code_date")),
    ],
)
def test_rule_of(reason, expected):
    assert rule_of(reason) == expected


def test_every_reason_the_pipeline_emits_has_advice():
    emitted = {"required", "unique", "pattern", "allowed_values", "range", "not_a_date_time", "not_a_date",
               "not_an_integer", "not_a_number", "duplicate_row", "unreadable_row", "not_an_identity_code",
               "identity_code_date", "identity_code_individual_number", "identity_code_check_character"}
    assert emitted <= set(ADVICE)
    assert all(ADVICE[r] for r in emitted)


# --- reports -----------------------------------------------------------------------------------------------


def rejected_rows() -> pa.Table:
    return pa.table({
        "henkilotunnus": [FAKE_CODE, FAKE_CODE, "garbage"],
        "sukunimi": [FAKE_NAME, FAKE_NAME, FAKE_NAME],
        "alkuaika": ["31.02.2026 10:00", "31.02.2026 10:00", "01.10.2026 08:30"],
        "_row": [2, 5, 9],
        "_errors": ["alkuaika: not_a_date_time", "alkuaika: not_a_date_time", "henkilotunnus: not_an_identity_code"],
    })


def problems_of(rows: pa.Table) -> RowProblems:
    problems = RowProblems()
    for row, errors in zip(rows["_row"].to_pylist(), rows["_errors"].to_pylist(), strict=True):
        for reason in reasons.for_partner(errors):
            problems.add(reason, row)
    return problems


def test_row_problems_count_and_remember_rows():
    problems = problems_of(rejected_rows())
    problems.add("duplicate_row", None)
    assert dict(problems.by_reason) == {"alkuaika: not_a_date_time": 2, "henkilotunnus: not_an_identity_code": 1,
                                        "duplicate_row": 1}
    assert problems.rows_by_reason == {"alkuaika: not_a_date_time": [2, 5], "henkilotunnus: not_an_identity_code": [9]}


def test_write_rows_reports(tmp_path):
    directory = tmp_path / "quarantine" / "city" / "d1"
    rows = rejected_rows()
    unreadable = [(7, "row has 2 fields, expected 20 (a truncated file, a stray ';' or an unquoted line break)")]

    write_rows(directory, rows, problems_of(rows), delivery_id="d1", source_name="city_visits_20261001.csv",
               unreadable=unreadable)

    report = json.loads((directory / "report.json").read_text(encoding="utf-8"))
    assert report == {
        "delivery_id": "d1",
        "source_name": "city_visits_20261001.csv",
        "state": "partially_accepted",
        "problems": [
            {"column": "alkuaika", "rule": "not_a_date_time", "rows": 2, "advice": ADVICE["not_a_date_time"],
             "row_numbers": [2, 5]},
            {"column": "henkilotunnus", "rule": "not_an_identity_code", "rows": 1,
             "advice": ADVICE["not_an_identity_code"], "row_numbers": [9]},
        ],
        "unreadable_rows": [{"after_data_row": 7, "reason": unreadable[0][1]}],
    }
    md = (directory / "report.md").read_text(encoding="utf-8")
    assert "# Delivery d1: rows not accepted" in md
    assert "3 row problem(s)" in md
    assert f"| alkuaika | not_a_date_time | 2 | {ADVICE['not_a_date_time']} | 2, 5 |" in md
    assert f"| henkilotunnus | not_an_identity_code | 1 | {ADVICE['not_an_identity_code']} | 9 |" in md
    assert "| – | unreadable_row | 1 |" in md and "after data row 7" in md
    # the rejected rows themselves are kept for the partner, in the restricted zone
    assert pq.read_table(directory / "rows.parquet").equals(rows)


def test_reports_never_contain_row_values(tmp_path):
    directory = tmp_path / "q"
    rows = rejected_rows()
    write_rows(directory, rows, problems_of(rows), delivery_id="d1", source_name="city_visits_20261001.csv",
               unreadable=[(0, "row has 2 fields, expected 20")])
    for name in ("report.md", "report.json"):
        text = (directory / name).read_text(encoding="utf-8")
        assert FAKE_NAME not in text
        assert "Äijö" not in text and "Testinen" not in text
        assert FAKE_CODE not in text and "131052" not in text
        assert "garbage" not in text
        assert "31.02.2026" not in text


def test_many_row_numbers_are_shortened_in_markdown_but_complete_in_json(tmp_path):
    problems = RowProblems()
    for row in range(30, 0, -1):
        problems.add("kaynti_id: unique", row)
    write_rows(tmp_path, pa.table({"_row": pa.array([], pa.int64())}), problems, delivery_id="d2",
               source_name="f.csv", unreadable=[])
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| kaynti_id | unique | 30 |" in md
    (line,) = [x for x in md.splitlines() if x.startswith("| kaynti_id |")]
    assert line.endswith("| " + ", ".join(str(r) for r in range(1, 21)) + " … |")
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert sorted(report["problems"][0]["row_numbers"]) == list(range(1, 31))
    assert not (tmp_path / "rows.parquet").exists()  # no rows, no rows file


def test_problem_without_a_column(tmp_path):
    problems = RowProblems()
    problems.add("duplicate_row", 4)
    write_rows(tmp_path, pa.table({"_row": [4]}), problems, delivery_id="d3", source_name="f.csv", unreadable=[])
    assert f"| – | duplicate_row | 1 | {ADVICE['duplicate_row']} | 4 |" in (tmp_path / "report.md").read_text("utf-8")
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["problems"][0]["column"] is None


def test_write_rejection(tmp_path):
    directory = tmp_path / "q" / "d4"
    directory.mkdir(parents=True)
    (directory / "rows.parquet").write_bytes(b"stale")  # from an earlier attempt

    write_rejection(directory, delivery_id="d4", source_name="city_visits_20261001.csv", rule="missing_columns",
                    message="Required column(s) missing from the header: palvelu.")

    assert sorted(p.name for p in directory.iterdir()) == ["report.json", "report.md"]
    assert json.loads((directory / "report.json").read_text(encoding="utf-8")) == {
        "delivery_id": "d4", "source_name": "city_visits_20261001.csv", "state": "rejected",
        "rule": "missing_columns", "message": "Required column(s) missing from the header: palvelu.",
    }
    md = (directory / "report.md").read_text(encoding="utf-8")
    assert "# Delivery d4: rejected" in md
    assert "(missing_columns)" in md and "palvelu" in md
    assert "Nothing from this file was published" in md


def test_rejection_report_has_no_row_values(tmp_path):
    write_rejection(tmp_path / "q", delivery_id="d5", source_name="city_visits_20261001.csv", rule="encoding",
                    message="The file is UTF-16 encoded. Export it as UTF-8 or Windows-1252.")
    for name in ("report.md", "report.json"):
        text = (tmp_path / "q" / name).read_text(encoding="utf-8")
        assert FAKE_NAME not in text and FAKE_CODE not in text


def test_clear(tmp_path):
    directory = tmp_path / "q"
    write_rejection(directory, delivery_id="d6", source_name="f.csv", rule="encoding", message="m")
    quarantine.clear(directory)
    assert not directory.exists()
    quarantine.clear(directory)  # nothing to clear is fine
