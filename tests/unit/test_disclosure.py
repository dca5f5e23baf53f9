"""Disclosure control (scorecard/disclosure.py): tiny given → expected tables, the fail-closed refusals and
the rule file. Properties over random tables: test_disclosure_properties.py."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scorecard.disclosure import DisclosureError, Rules, audit, load_rules, protect

RULES = Rules(version="1.0.0", unit_decimals={"pct": 1, "days": 1, "index": 3})
NA = pd.NA
AGES = ["0-6", "7-17", "18-64", "65+"]
AGE_SPEC = {
    "keys": ["month", "group_value"],
    "person_counts": ["users"],
    "totals": [{"dimension": "group_value", "total": "all", "parts": AGES}],
}


def ages(users: list[int]) -> pd.DataFrame:
    """A 5-row age table: the total 'all' first, then the four age groups."""
    return pd.DataFrame({"month": "2026-10-01", "group_value": ["all", *AGES], "users": users})


def published(protected, *columns: str) -> list[tuple]:
    return list(protected.table[list(columns)].astype(object).where(protected.table[list(columns)].notna(), None)
                .itertuples(index=False, name=None))


# ------------------------------------------------------------------------------- given → expected


def test_one_small_age_group_is_withheld_with_the_smallest_other_group():
    # exact: all = 3 + 41 + 212 + 19 = 275; '7-17' has 3 persons.
    got = protect(ages([275, 3, 41, 212, 19]), AGE_SPEC, RULES, "kpi_reach")
    assert published(got, "group_value", "users", "disclosure_note") == [
        ("all", 275, ""),  # 5 + 40 + 210 + 20: the sum of the rounded cells
        ("0-6", None, "users: 1–7 persons"),
        ("7-17", 40, ""),
        ("18-64", 210, ""),
        ("65+", None, "users: withheld so the total does not reveal a suppressed cell"),
    ]
    assert got.suppressed == {"primary": 1, "secondary": 1}
    assert set(got.table["disclosure_rules"]) == {"1.0.0"}
    assert audit(got, AGE_SPEC, "users") == []


def test_counts_round_to_the_nearest_five_and_zero_stays_zero():
    got = protect(ages([53, 0, 8, 12, 33]), AGE_SPEC, RULES, "kpi_reach")
    # 0 → 0, 8 → 10, 12 → 10, 33 → 35; the total is their sum, not round(53) = 55.
    assert published(got, "users") == [(55,), (0,), (10,), (10,), (35,)]
    assert got.suppressed == {"primary": 0, "secondary": 0}
    got = protect(ages([55, 0, 8, 12, 35]), AGE_SPEC, RULES, "kpi_reach")
    assert published(got, "users") == [(55,), (0,), (10,), (10,), (35,)]


def test_the_extra_cell_is_never_a_zero_so_the_withheld_sum_is_not_zero():
    # Withheld 0-6 (2 persons, rounds to 0) beside 7-17 = 0: withholding the zero would tell that both are 0.
    got = protect(ages([152, 2, 0, 100, 50]), AGE_SPEC, RULES, "kpi_reach")
    assert published(got, "group_value", "users") == [("all", 150), ("0-6", None), ("7-17", 0), ("18-64", 100),
                                                      ("65+", None)]


def test_the_withheld_parts_add_up_to_at_least_fifteen():
    # 0-6 has 2 persons (rounds to 0). Withholding 7-17 (10) beside it would leave a withheld sum of 10: the
    # notes say which cell is small (0 or 5) and which is secondary (never 5), so 10 could only be 0 + 10.
    # 65+ (20) is withheld instead: 20 is 0 + 20 or 5 + 15.
    got = protect(ages([132, 2, 10, 100, 20]), AGE_SPEC, RULES, "kpi_reach")
    assert published(got, "group_value", "users") == [("all", 130), ("0-6", None), ("7-17", 10), ("18-64", 100),
                                                      ("65+", None)]


def test_a_cell_in_two_relations_is_protected_in_both():
    # all = 0-6 + 7-17 + 18-64 + 65-74 + 75+, and 65+ = 65-74 + 75+; 75+ has 5 persons.
    # 'all' takes 0-6 (40) with it, '65+' takes 65-74: but then 'all' − '65+' pins 0-6 alone, so 7-17 (60)
    # goes too. The linear audit finds that; counting withheld cells per total would not.
    groups = ["all", "0-6", "7-17", "18-64", "65-74", "75+", "65+"]
    table = pd.DataFrame({"month": "2026-10-01", "group_value": groups, "users": [500, 40, 60, 300, 95, 5, 100]})
    spec = {"keys": ["month", "group_value"], "person_counts": ["users"], "totals": [
        {"dimension": "group_value", "total": "all", "parts": ["0-6", "7-17", "18-64", "65-74", "75+"]},
        {"dimension": "group_value", "total": "65+", "parts": ["65-74", "75+"]},
    ]}
    got = protect(table, spec, RULES, "kpi_reach")
    assert published(got, "group_value", "users") == [
        ("all", 500), ("0-6", None), ("7-17", None), ("18-64", 300), ("65-74", None), ("75+", None), ("65+", 100)]
    assert got.suppressed == {"primary": 1, "secondary": 3}
    assert audit(got, spec, "users") == []


def test_rates_and_means_need_ten_persons_and_keep_their_decimals():
    table = pd.DataFrame({
        "unit": ["a", "b", "c", "d"],
        "eligible": [9, 10, 250, None],
        "reach_pct": [44.444, 30.0, 12.345, 50.0],
        "coc_mean": [0.71234, 0.5, 0.66666, 0.2],
    })
    table["eligible"] = table["eligible"].astype("Int64")
    spec = {"keys": ["unit"], "person_counts": ["eligible"], "rates": {"reach_pct": "eligible"},
            "means": {"coc_mean": "eligible"}}
    got = protect(table, spec, RULES, "kpi_continuity")
    assert published(got, "unit", "eligible", "reach_pct", "coc_mean") == [
        ("a", 10, None, None),  # 9 persons: the count is published (rounded), the rate and mean are not
        ("b", 10, 30.0, 0.5),
        ("c", 250, 12.3, 0.667),
        ("d", None, None, None),
    ]
    assert got.table["disclosure_note"].tolist() == [
        "reach_pct: fewer than 10 persons; coc_mean: fewer than 10 persons", "", "",
        "reach_pct: number of persons not known; coc_mean: number of persons not known",
    ]


COST_SPEC = {
    "keys": ["month", "service_area"],
    "labels": ["producers"],
    "person_counts": ["residents"],
    "euros": {"columns": ["actual_cost_eur", "cost_per_resident"], "producers": "producers",
              "top_two_share": "top_two_share", "alliance_level": {"column": "service_area", "value": "all"}},
    "drop": ["top_two_share"],
    "totals": [{"dimension": "service_area", "total": "all", "parts": ["health", "dental", "youth", "library"],
                "columns": ["actual_cost_eur"]}],
}


def costs() -> pd.DataFrame:
    return pd.DataFrame({
        "month": "2026-10-01",
        "service_area": ["all", "health", "dental", "youth", "library"],
        "actual_cost_eur": [1000.0, 500.0, 300.0, 120.0, 80.0],
        "producers": [5, 3, 2, 4, 3],
        "top_two_share": [0.95, 0.8, 1.0, 0.6, 0.9],
        "residents": [2000, 2000, 2000, 2000, 2000],
        "cost_per_resident": [0.5, 0.25, 0.15, 0.06, 0.04],
    })


def test_euros_need_three_producers_and_no_dominance_below_alliance_level():
    got = protect(costs(), COST_SPEC, RULES, "kpi_cost")
    assert "top_two_share" not in got.table.columns
    assert published(got, "service_area", "actual_cost_eur", "cost_per_resident") == [
        ("all", 1000.0, 0.5),  # alliance level: always, even with 95 % for the top two
        ("health", 500.0, 0.25),
        ("dental", None, None),  # 2 producers
        ("youth", 120.0, 0.06),
        ("library", None, None),  # top two exactly 90 %
    ]
    notes = got.table["disclosure_note"].tolist()
    assert notes[2] == "actual_cost_eur: fewer than 3 producers; cost_per_resident: fewer than 3 producers"
    assert notes[4] == ("actual_cost_eur: the two largest producers make up 90 % or more; "
                        "cost_per_resident: the two largest producers make up 90 % or more")
    assert got.suppressed == {"primary": 4, "secondary": 0}  # two withheld parts: the total reveals only their sum


def test_a_lone_withheld_euro_part_takes_the_smallest_other_part_with_it():
    table = costs()
    table.loc[2, ["producers", "top_two_share"]] = [3, 0.5]  # dental is fine now; library alone is withheld
    got = protect(table, COST_SPEC, RULES, "kpi_cost")
    assert published(got, "service_area", "actual_cost_eur") == [
        ("all", 1000.0), ("health", 500.0), ("dental", 300.0), ("youth", None), ("library", None)]
    assert got.table["disclosure_note"][3] == ("actual_cost_eur: withheld so the total does not reveal a "
                                               "suppressed cell")


MONTHLY_SPEC = {
    "keys": ["month", "kpi_id"],
    "labels": ["result_area", "unit", "status", "producers"],
    "person_counts": ["persons"],
    "drop": ["top_two_share"],
    "euros": {"columns": [], "producers": "producers", "top_two_share": "top_two_share", "alliance_level": True},
    "mixed": {"value": "value", "kind_column": "unit", "persons": "persons",
              "kinds": {"pct": "rate", "days": "mean", "index": "mean", "count": "count", "eur": "euro",
                        "eur_per_resident": "euro"}},
}


def test_the_mixed_value_column_follows_its_unit():
    table = pd.DataFrame({
        "month": "2026-10-01",
        "kpi_id": ["reach", "reach_75plus", "t3_median_nurse", "coc_nurse", "youth_visits", "library_visits",
                   "actual_cost", "satisfaction"],
        "result_area": "service_system",
        "unit": ["pct", "pct", "days", "index", "count", "count", "eur", "pct"],
        "status": ["delivered"] * 7 + ["not_delivered"],
        "value": [41.26, 50.0, 3.25, 0.73456, 1234.0, 6.0, 250000.004, None],
        "persons": pd.array([2000, 9, 40, 12, None, None, None, None], dtype="Int64"),
        "producers": pd.array([None, None, None, None, None, None, 4, None], dtype="Int64"),
        "top_two_share": [None, None, None, None, None, None, 0.97, None],
    })
    got = protect(table, MONTHLY_SPEC, RULES, "kpi_monthly")
    assert published(got, "kpi_id", "value", "persons") == [
        ("reach", 41.3, 2000), ("reach_75plus", None, 10), ("t3_median_nurse", 3.2, 40),
        ("coc_nurse", 0.735, 10), ("youth_visits", 1235.0, None), ("library_visits", None, None),
        ("actual_cost", 250000.0, None), ("satisfaction", None, None)]
    assert got.table["disclosure_note"].tolist()[:6] == [
        "", "value: fewer than 10 persons", "", "", "", "value: 1–7 events"]


def test_the_table_records_the_rule_version_and_parquet_keeps_it(tmp_path: Path):
    got = protect(ages([275, 3, 41, 212, 19]), AGE_SPEC, Rules(version="2.1.0"), "kpi_reach")
    assert set(got.table["disclosure_rules"]) == {"2.1.0"}
    assert got.metadata["disclosure_rules"] == "2.1.0"
    assert got.metadata["disclosure_suppressed_primary"] == "1"
    arrow = pa.Table.from_pandas(got.table, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), **{
        k.encode(): v.encode() for k, v in got.metadata.items()}})
    pq.write_table(arrow, tmp_path / "t.parquet")
    back = pq.read_table(tmp_path / "t.parquet")
    assert back.schema.metadata[b"disclosure_rules"] == b"2.1.0"
    assert back.column("users").null_count == 2  # withheld cells are NULL, not NaN or 0


def test_the_input_table_is_not_changed():
    table = ages([275, 3, 41, 212, 19])
    before = table.copy()
    protect(table, AGE_SPEC, RULES, "kpi_reach")
    pd.testing.assert_frame_equal(table, before)


# ------------------------------------------------------------------------------------- fail closed


@pytest.mark.parametrize(("change", "message"), [
    (lambda t, s: t.assign(x=1),
     "kpi_reach: column 'x' has no disclosure rule — add it to the model's meta.disclosure (keys, labels, "
     "person_counts, counts, rates, means, euros, drop)"),
    (lambda t, s: s.update(labels=["area"]),
     "kpi_reach: meta.disclosure names column 'area', which the table does not have — fix the spec or the model"),
    (lambda t, s: t.assign(users=t["users"] + 0.5), "kpi_reach: column 'users' is a person count but holds values "
     "that are not whole numbers — count whole persons or events in the model"),
    (lambda t, s: t.assign(users=t["users"].astype(str)), "kpi_reach: column 'users' is a person count but holds"),
    (lambda t, s: s.update(labels=["users"]), "kpi_reach: column 'users' is in both labels and person_counts"),
    (lambda t, s: s.update(suppress=["users"]), "kpi_reach: meta.disclosure.suppress: unknown key"),
    (lambda t, s: t.assign(users=[270, 3, 41, 212, 19]), "kpi_reach: meta.disclosure.totals[0]: users of 'all' is "
     "not the sum of its parts"),
    (lambda t, s: t.drop(index=0), "kpi_reach: meta.disclosure.totals[0]: some groups of ['month'] have parts but "
     "no 'all' row"),
    (lambda t, s: t.assign(disclosure_note=""), "kpi_reach: column 'disclosure_note' is reserved"),
])
def test_anything_unclear_is_refused(change, message):
    table, spec = ages([275, 3, 41, 212, 19]), {**AGE_SPEC}
    changed = change(table, spec)
    table = table if changed is None else changed
    with pytest.raises(DisclosureError) as e:
        protect(table, spec, RULES, "kpi_reach")
    assert str(e.value).startswith(message)


def test_an_unknown_kind_is_refused():
    spec = {**MONTHLY_SPEC, "mixed": {**MONTHLY_SPEC["mixed"], "kinds": {"pct": "ratio"}}}
    table = pd.DataFrame({"month": ["m"], "kpi_id": ["x"], "result_area": ["a"], "unit": ["pct"], "status": ["s"],
                          "value": [1.0], "persons": [20], "producers": [None], "top_two_share": [None]})
    with pytest.raises(DisclosureError, match="mixed.kinds.pct: unknown kind 'ratio'"):
        protect(table, spec, RULES, "kpi_monthly")
    with pytest.raises(DisclosureError, match="kpi_monthly: unit score has no kind in meta.disclosure.mixed.kinds"):
        protect(table.assign(unit="score"), MONTHLY_SPEC, RULES, "kpi_monthly")


def test_a_top_two_share_in_percent_is_refused():
    with pytest.raises(DisclosureError, match="must be a share 0..1"):
        protect(costs().assign(top_two_share=95.0), COST_SPEC, RULES, "kpi_cost")


# ------------------------------------------------------------------------------------------ rule file


def test_the_shipped_rules_load():
    rules = load_rules()
    assert (rules.version, rules.min_count, rules.rounding_base, rules.min_denominator, rules.min_producers,
            rules.dominance_top_two) == ("1.0.0", 8, 5, 10, 3, 0.9)


@pytest.mark.parametrize(("text", "message"), [
    ("version: 1\n", "version: 1 is not a version like 1.0.0"),
    ("version: 1.0.0\nmin_count: seven\n", "min_count: 'seven' — must be a whole number ≥ 1"),
    ("version: 1.0.0\ndominance_top_two: 90\n", "dominance_top_two: 90 — must be a share in (0, 1]"),
    ("version: 1.0.0\nmin_cnt: 8\n", "min_cnt: unknown rule"),
    ("version: 1.0.0\ndecimals: {rate: 1}\n", "decimals.mean: missing"),
    ("- 1\n", "expected a mapping"),
])
def test_a_bad_rule_file_is_refused_with_file_key_and_fix(tmp_path: Path, text: str, message: str):
    path = tmp_path / "disclosure.yaml"
    path.write_text(text)
    with pytest.raises(DisclosureError) as e:
        load_rules(path)
    assert str(e.value).startswith(f"{path}: ")
    assert message in str(e.value)


# -------------------------------------------------------------------------------------------- speed


def test_a_100k_row_table_is_protected_in_well_under_a_second():
    rng = np.random.default_rng(1)
    months, units = 60, 1667  # 60 × 1667 × (1 total + ...) ≈ 100k rows
    parts = ["0-6", "7-17", "18-64", "65-74", "75+"]
    rows = pd.MultiIndex.from_product([range(months), range(units // 6 + 1), parts], names=["month", "unit", "age"])
    cells = pd.DataFrame(index=rows).reset_index()
    cells["users"] = rng.integers(0, 60, len(cells))
    totals = cells.groupby(["month", "unit"], as_index=False)["users"].sum().assign(age="all")
    table = pd.concat([cells, totals], ignore_index=True)
    table["residents"] = table["users"] * 3
    table["reach_pct"] = 33.3
    spec = {"keys": ["month", "unit", "age"], "person_counts": ["users", "residents"],
            "rates": {"reach_pct": "residents"}, "numerators": {"reach_pct": "users"},
            "totals": [{"dimension": "age", "total": "all", "parts": parts}]}
    start = time.perf_counter()
    got = protect(table, spec, RULES, "kpi_reach")
    seconds = time.perf_counter() - start
    print(f"protect: {len(table)} rows in {seconds:.3f} s; suppressed {got.suppressed}")
    assert len(table) >= 60_000
    assert seconds < 3  # measured well under 1 s; the margin is for a busy shared machine
