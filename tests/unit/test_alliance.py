"""The alliance's commercial model (scorecard/alliance.py): every formula as given → expected, and every
refusal of a bad parameter naming the file, the key and the fix."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scorecard.alliance import CONFIG, KPI_DEFINITIONS, AllianceConfigError, load

D = Decimal
KPI_IDS = {"reach", "reach_65plus", "t3_median_physician", "no_show_rate"}

# A tiny alliance: round numbers, so that every expected figure can be checked by hand.
BASE = {
    "example": True,
    "version": "1.0",
    "changed": "2026-01-02",
    "changes": [{"version": "1.0", "date": "2026-01-02", "change": "first"}],
    "periods": [
        {"id": "P1", "start": "2025-01-01", "end": "2025-12-31", "target_cost": 1000},
        {"id": "P2", "start": "2026-01-01", "end": "2026-12-31", "target_cost": 1000,
         "adjustments": [{"amount": 200, "reason": "new scope", "agreed": "2026-03-01"}]},
    ],
    "gain_pain": {
        "gain": {"providers": 0.5, "orderer": 0.5, "providers_cap": {"eur": 50}},
        "pain": {"providers": 0.5, "orderer": 0.5, "providers_cap": {"fraction_of_target": 0.1}},
    },
    "incentive": {
        "pool_eur": 1000,
        "kpis": {
            "reach": {"floor": 50, "target": 70, "weight": 0.6},
            "t3_median_physician": {"floor": 14, "target": 7, "weight": 0.4},
        },
    },
}

# The ids of the brief (issue 14), for checking the shipped file while the marts' seed may not exist yet.
BRIEF_KPI_IDS = {
    "reach", "reach_0_6", "reach_7_17", "reach_18_64", "reach_65plus", "reach_75plus", "multi_area_users",
    "multi_partner_users", "t3_median_physician", "t3_median_nurse", "wait_within_7d", "wait_within_14d",
    "coc_physician", "upc_physician", "secon_physician", "coc_nurse", "upc_nurse", "secon_nurse",
    "coc_physician_65plus", "coc_nurse_65plus", "digital_share", "no_show_rate", "youth_visits", "library_visits",
    "ngo_participants", "cost_per_resident", "actual_cost", "specialised_care_use", "satisfaction",
}


def write(tmp_path: Path, doc: dict, name: str = "alliance.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def changed(**edits) -> dict:
    """BASE with edits: ``{"incentive.kpis.reach.weight": 0.5}``; a value of ``DELETE`` removes the key."""
    doc = copy.deepcopy(BASE)
    for dotted, value in edits.items():
        *parents, last = dotted.replace("__", ".").split(".")
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return doc


DELETE = object()


@pytest.fixture(scope="module")
def alliance(tmp_path_factory):
    """BASE loaded once (the object is immutable); module-scoped so the property tests can use it too."""
    return load(write(tmp_path_factory.mktemp("alliance"), BASE), KPI_IDS)


# ------------------------------------------------------------------------------------------- target budget


def test_adjusted_target_is_target_plus_adjustments(alliance):
    p2 = alliance.period("P2")
    assert (p2.target_cost, p2.adjusted_target) == (D("1000.00"), D("1200.00"))
    assert p2.adjustments[0].reason == "new scope"


@pytest.mark.parametrize(
    ("month", "period", "target"),
    [
        (dt.date(2025, 1, 1), "P1", D("83.33")),  # 1000 / 12, rounded to cents ...
        (dt.date(2025, 7, 15), "P1", D("83.33")),  # any day of the month
        (dt.date(2025, 12, 1), "P1", D("83.37")),  # ... the last month takes the remainder: 1000 − 11 × 83.33
        (dt.date(2026, 10, 1), "P2", D("100.00")),  # (1000 + 200) / 12
    ],
)
def test_monthly_target_even_by_month(alliance, month, period, target):
    assert alliance.period_for(month).id == period
    assert alliance.monthly_target(month) == target


def test_months_of_a_period_add_up_to_its_adjusted_target(alliance):
    for period in alliance.periods:
        assert sum(period.month_targets) == period.adjusted_target
        assert len(period.months) == 12


def test_monthly_target_even_by_day(tmp_path):
    alliance = load(write(tmp_path, changed(monthly_profile="even_by_day")), KPI_IDS)
    assert alliance.monthly_target(dt.date(2026, 1, 1)) == D("101.92")  # 1200 × 31/365 = 101.917…
    assert alliance.monthly_target(dt.date(2026, 2, 1)) == D("92.05")  # 1200 × 28/365 = 92.054…
    assert sum(alliance.period("P2").month_targets) == D("1200.00")


def test_a_month_outside_every_period_is_refused_with_the_fix(alliance):
    with pytest.raises(AllianceConfigError, match=r"periods: no contract period covers 2027-01 .* fix: add a period"):
        alliance.period_for(dt.date(2027, 1, 1))


def test_budget_table_cumulates_per_period_from_the_first_month_with_data(alliance):
    actuals = {dt.date(2026, 5, 1): D("90"), dt.date(2026, 6, 1): D("120"), dt.date(2026, 8, 1): D("100")}
    rows = {r.month.month: r for r in alliance.budget_table(actuals)}
    assert len(rows) == 12  # the whole period P2, so the target runs to December
    expected = {  # month: (target, actual, cumulative target, cumulative actual, cumulative Δ)
        4: (D("100.00"), None, None, None, None),  # before the data start: nothing to compare
        5: (D("100.00"), D("90"), D("100.00"), D("90"), D("10.00")),
        6: (D("100.00"), D("120"), D("200.00"), D("210"), D("-10.00")),
        7: (D("100.00"), None, D("300.00"), None, None),  # July's cost is missing: unknown from here on, not 0
        8: (D("100.00"), D("100"), D("400.00"), None, None),
        12: (D("100.00"), None, D("800.00"), None, None),
    }
    for month, (target, actual, cum_target, cum_actual, cum_delta) in expected.items():
        row = rows[month]
        assert (row.period_id, row.target, row.actual) == ("P2", target, actual)
        cumulative = (row.cumulative_target, row.cumulative_actual, row.cumulative_delta)
        assert cumulative == (cum_target, cum_actual, cum_delta)
    assert rows[5].cumulative_from == dt.date(2026, 5, 1) and rows[4].cumulative_from is None


def test_budget_table_restarts_the_cumulative_figures_in_each_period(alliance):
    actuals = {dt.date(2025, 12, 1): D("80"), dt.date(2026, 1, 1): D("95")}
    rows = alliance.budget_table(actuals)
    assert [r.period_id for r in rows] == ["P1"] * 12 + ["P2"] * 12
    december, january = rows[11], rows[12]
    assert (december.cumulative_target, december.cumulative_actual) == (D("83.37"), D("80"))  # data start in December
    assert (january.cumulative_target, january.cumulative_actual) == (D("100.00"), D("95"))


@pytest.mark.parametrize(
    ("actuals", "error"),
    [
        ({dt.date(2026, 5, 2): D("1")}, ValueError),  # not a month key
        ({dt.date(2026, 5, 1): 90.5}, TypeError),  # money as float
    ],
)
def test_budget_table_refuses_bad_input(alliance, actuals, error):
    with pytest.raises(error):
        alliance.budget_table(actuals)


# ------------------------------------------------------------------------------------------- gain / pain


@pytest.mark.parametrize(
    ("actual", "outcome", "delta", "providers", "orderer", "capped"),
    [
        # P2: adjusted target 1200; gain 50/50, providers' gain capped at 50 €; pain 50/50, capped at 10 % = 120 €
        ("1100", "gain", "100.00", "50.00", "50.00", False),  # exactly at the cap: not capped
        ("1000", "gain", "200.00", "50.00", "150.00", True),  # providers 100 → cap 50; the orderer keeps the rest
        ("1300", "pain", "-100.00", "-50.00", "-50.00", False),
        ("1600", "pain", "-400.00", "-120.00", "-280.00", True),  # providers −200 → cap 120; the orderer bears the rest
        ("1200", "on_target", "0.00", "0.00", "0.00", False),
        ("1199.99", "gain", "0.01", "0.01", "0.00", False),  # half a cent rounds up to the providers (half away from 0)
        ("1200.01", "pain", "-0.01", "-0.01", "0.00", False),
    ],
)
def test_gain_pain_split_and_caps(alliance, actual, outcome, delta, providers, orderer, capped):
    result = alliance.gain_pain("P2", D(actual))
    assert (result.outcome, result.delta, result.providers, result.orderer, result.capped) == (
        outcome, D(delta), D(providers), D(orderer), capped,
    )
    assert result.target == result.adjusted_target == D("1200.00")


def test_gain_without_a_cap(tmp_path):
    alliance = load(write(tmp_path, changed(**{"gain_pain.gain.providers_cap": DELETE})), KPI_IDS)
    result = alliance.gain_pain("P2", D("0"))
    assert (result.delta, result.providers, result.orderer, result.providers_cap) == (
        D("1200.00"), D("600.00"), D("600.00"), None,
    )


def test_unequal_shares(tmp_path):
    doc = changed(**{"gain_pain.pain.providers": 0.3, "gain_pain.pain.orderer": 0.7})
    result = load(write(tmp_path, doc), KPI_IDS).gain_pain("P2", D("1300"))
    assert (result.providers, result.orderer) == (D("-30.00"), D("-70.00"))


@pytest.mark.parametrize(
    ("since", "through", "actual", "target", "cap", "providers", "orderer"),
    [
        # January–June: target 6 × 100 = 600; the gain cap 50 € scaled to 600/1200 of the period = 25 €
        (None, dt.date(2026, 6, 1), "500", "600.00", "25.00", "25.00", "75.00"),
        (None, dt.date(2026, 6, 30), "590", "600.00", "25.00", "5.00", "5.00"),  # any day of the month
        # data from May only: May–June target 200, cap 50 × 200/1200 = 8.33
        (dt.date(2026, 5, 1), dt.date(2026, 6, 1), "180", "200.00", "8.33", "8.33", "11.67"),
    ],
)
def test_gain_pain_to_date(alliance, since, through, actual, target, cap, providers, orderer):
    result = alliance.gain_pain("P2", D(actual), through=through, since=since)
    assert (result.target, result.providers_cap, result.providers, result.orderer) == (
        D(target), D(cap), D(providers), D(orderer),
    )
    assert result.adjusted_target == D("1200.00") and result.through == dt.date(2026, 6, 1)


def test_gain_pain_refuses_float_money_and_months_outside_the_period(alliance):
    with pytest.raises(TypeError, match="Decimal"):
        alliance.gain_pain("P2", 1100.0)
    with pytest.raises(ValueError, match="not in period P2"):
        alliance.gain_pain("P2", D("1"), through=dt.date(2025, 6, 1))
    with pytest.raises(KeyError, match="P9"):
        alliance.gain_pain("P9", D("1"))


@settings(max_examples=200, deadline=None)
@given(actual=st.decimals(min_value=-5000, max_value=5000, places=2))
def test_gain_pain_always_splits_all_of_delta_within_the_cap(alliance, actual):
    result = alliance.gain_pain("P2", actual)
    assert result.providers + result.orderer == result.delta
    assert abs(result.providers) <= result.providers_cap
    assert result.providers * result.delta >= 0  # the providers share the side Δ is on, never the other


# ------------------------------------------------------------------------------------------- KPI incentive


@pytest.mark.parametrize(
    ("kpi", "value", "score"),
    [
        ("reach", 60.0, 0.5),  # (60 − 50) / (70 − 50)
        ("reach", 50.0, 0.0),  # at the floor
        ("reach", 70.0, 1.0),  # at the target
        ("reach", 40.0, 0.0),  # below the floor: clamped to 0
        ("reach", 95.0, 1.0),  # above the target: clamped to 1
        ("t3_median_physician", 10.5, 0.5),  # lower is better: floor 14, target 7 → (10.5 − 14) / (7 − 14)
        ("t3_median_physician", 20.0, 0.0),  # worse than the floor
        ("t3_median_physician", 3.0, 1.0),  # better than the target
        ("reach", None, None),  # not delivered / withheld by disclosure control
        ("reach", float("nan"), None),  # a NULL read by pandas
    ],
)
def test_score(alliance, kpi, value, score):
    assert alliance.score(kpi, value) == score


def test_score_of_a_kpi_outside_the_incentive(alliance):
    with pytest.raises(KeyError, match="no_show_rate"):
        alliance.score("no_show_rate", 5.0)


@pytest.mark.parametrize(
    ("values", "weighted", "unscored", "amount"),
    [
        ({"reach": 60.0, "t3_median_physician": 10.5}, 0.5, 0.0, "500.00"),  # 1000 × (0.6 × 0.5 + 0.4 × 0.5)
        ({"reach": 80.0, "t3_median_physician": 7.0}, 1.0, 0.0, "1000.00"),
        ({"reach": 40.0, "t3_median_physician": 20.0}, 0.0, 0.0, "0.00"),
        # reach withheld: its 0.6 earns nothing, and is not shared out to t3 (1000 × 0.4 × 1, not 1000)
        ({"reach": None, "t3_median_physician": 7.0}, 0.4, 0.6, "400.00"),
        ({"t3_median_physician": 7.0, "no_show_rate": 1.0}, 0.4, 0.6, "400.00"),  # absent = no value; others ignored
    ],
)
def test_kpi_pool(alliance, values, weighted, unscored, amount):
    pool = alliance.kpi_pool(values)
    assert (pool.weighted_score, pool.unscored_weight, pool.amount_eur) == (weighted, unscored, D(amount))
    assert [(s.kpi_id, s.weight) for s in pool.scores] == [("reach", 0.6), ("t3_median_physician", 0.4)]


def test_kpi_pool_of_a_month(alliance):
    pool = alliance.kpi_pool({"reach": None, "t3_median_physician": 7.0}, month=dt.date(2026, 10, 1))
    assert (pool.month_pool_eur, pool.month_amount_eur) == (D("83.33"), D("33.33"))  # 1000 / 12; × 0.4


@settings(max_examples=200, deadline=None)
@given(value=st.floats(min_value=-1e6, max_value=1e6), other=st.floats(min_value=-1e6, max_value=1e6))
def test_score_is_within_0_and_1_and_follows_the_direction(alliance, value, other):
    low, high = sorted((value, other))
    assert 0.0 <= alliance.score("reach", value) <= 1.0
    assert alliance.score("reach", low) <= alliance.score("reach", high)  # higher is better
    assert alliance.score("t3_median_physician", low) >= alliance.score("t3_median_physician", high)  # lower


# ------------------------------------------------------------------------------------------- refusals


def _bad_weight_sum():
    return changed(**{"incentive.kpis.t3_median_physician.weight": 0.3})


@pytest.mark.parametrize(
    ("doc", "key", "problem", "fix"),
    [
        pytest.param(_bad_weight_sum(), "incentive.kpis", "the weights sum to 0.9, not 1", "add up to 1 (add 0.1)",
                     id="weights-not-summing-to-1"),
        pytest.param(changed(**{"periods.1.start": "2025-12-01"}), "periods[1].start",
                     "periods P1 (2025-01-01..2025-12-31) and P2 (2025-12-01..2026-12-31) overlap",
                     "let P2 start on 2026-01-01", id="overlapping-periods"),
        pytest.param(changed(**{"periods.1.start": "2026-02-01"}), "periods[1].start",
                     "gap 2026-01-01..2026-01-31 between periods P1 and P2", "add a period covering the gap",
                     id="gapped-periods"),
        pytest.param(changed(**{"periods.1.id": "P1"}), "periods[1].id", "also the id of periods[0]",
                     "its own id", id="duplicate-period-id"),
        pytest.param(changed(**{"incentive.kpis": {"rech": {"floor": 50, "target": 70, "weight": 1}}}),
                     "incentive.kpis.rech", "no KPI 'rech' in the KPI ids given (did you mean reach", "use a KPI id",
                     id="unknown-kpi"),
        pytest.param(changed(**{"incentive.kpis.reach.target": 50}), "incentive.kpis.reach.target",
                     "equals the floor (50)", "set the target above the floor", id="floor-equals-target"),
        pytest.param(changed(**{"gain_pain.gain.providers": 1.5}), "gain_pain.gain.providers", "outside 0..1",
                     "between 0 and 1", id="share-outside-0-1"),
        pytest.param(changed(**{"gain_pain.pain.orderer": 0.6}), "gain_pain.pain",
                     "providers 0.5 + orderer 0.6 = 1.1, not 1", "orderer: 0.5", id="shares-not-summing-to-1"),
        pytest.param(changed(**{"gain_pain.gain.providers_cap": {"eur": -5}}), "gain_pain.gain.providers_cap.eur",
                     "cannot be negative", "positive amount", id="negative-cap-eur"),
        pytest.param(changed(**{"gain_pain.pain.providers_cap": {"fraction_of_target": -0.1}}),
                     "gain_pain.pain.providers_cap.fraction_of_target", "cannot be negative", "between 0 and 1",
                     id="negative-cap-fraction"),
        pytest.param(changed(**{"gain_pain.pain.providers_cap": {"fraction_of_target": 3}}),
                     "gain_pain.pain.providers_cap.fraction_of_target", "more than the whole target",
                     "0.03 = 3 %, not 3", id="cap-fraction-as-percent"),
        pytest.param(changed(**{"gain_pain.pain.providers_cap": {"eur": 5, "fraction_of_target": 0.1}}),
                     "gain_pain.pain.providers_cap", "gives 2 of eur and fraction_of_target", "exactly one",
                     id="two-caps"),
        pytest.param(changed(**{"incentive.pool_eur": DELETE}), "incentive.pool_eur", "is missing",
                     "add it, e.g. `pool_eur: 300000.00`", id="missing-key"),
        pytest.param(changed(**{"periods.0.target_cost": DELETE}), "periods[0].target_cost", "is missing",
                     "add it, e.g. `target_cost:", id="missing-period-key"),
        pytest.param(changed(**{"incentive.kpis.reach": {"floor": 50, "target": 70, "wieght": 0.6}}),
                     "incentive.kpis.reach.wieght", "unknown key 'wieght' (did you mean 'weight'?)",
                     "correct or remove it", id="unknown-key-typo"),
        pytest.param(changed(montly_profile="even_by_day"), "montly_profile",
                     "unknown key 'montly_profile' (did you mean 'monthly_profile'?)", "correct or remove it",
                     id="unknown-top-level-key"),
        pytest.param(changed(**{"periods.0.start": "2025-13-01"}), "periods[0].start", "'2025-13-01' is not a date",
                     "YYYY-MM-DD", id="bad-date"),
        pytest.param(changed(**{"periods.0.end": "31.12.2025"}), "periods[0].end", "'31.12.2025' is not a date",
                     "YYYY-MM-DD", id="finnish-date"),
        pytest.param(changed(**{"periods.0.start": "2025-01-15"}), "periods[0].start",
                     "not on the first day of a month", "start it on 2025-01-01", id="period-not-whole-months"),
        pytest.param(changed(**{"periods.0.end": "2024-12-31"}), "periods[0].end", "ends (2024-12-31) before",
                     "swap start and end", id="period-ends-before-start"),
        pytest.param(changed(version="1.1"), "changes", "no change log entry for version 1.1",
                     'add `- {version: "1.1"', id="version-without-change-log"),
        pytest.param(changed(changed="2026-02-01"), "changed", "the change log dates version 1.0 2026-01-02",
                     "make `changed` the date", id="changed-date-disagrees"),
        pytest.param(changed(example="yes"), "example", "'yes' is not true or false", "example: false",
                     id="example-not-a-boolean"),
        pytest.param(changed(**{"periods.0.target_cost": "1000.005"}), "periods[0].target_cost",
                     "more than two decimals", "round it to cents", id="money-below-cents"),
        pytest.param(changed(**{"incentive.kpis.reach.weight": -0.1, "incentive.kpis.t3_median_physician.weight": 1.1}),
                     "incentive.kpis.reach.weight", "outside 0..1", "between 0 and 1", id="negative-weight"),
        pytest.param(changed(monthly_profile="seasonal"), "monthly_profile", "not a monthly profile",
                     "even_by_month, even_by_day", id="unknown-profile"),
        pytest.param(changed(**{"periods.1.adjustments.0.amount": -1500}), "periods[1].adjustments",
                     "target to -500.00", "check the adjustments", id="adjusted-target-not-positive"),
    ],
)
def test_refusal_names_file_key_and_fix(tmp_path, doc, key, problem, fix):
    path = write(tmp_path, doc)
    with pytest.raises(AllianceConfigError) as caught:
        load(path, KPI_IDS)
    error = caught.value
    assert (error.file, error.key) == (str(path), key)
    assert problem in error.problem, error.problem
    assert fix in error.fix, error.fix
    assert str(error) == f"{path}: {key}: {error.problem} — fix: {error.fix}"
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("example: true\nexample: false\n", "line 2", "key 'example' is written twice"),
        ("example: [true\n", "line 2", "is not valid YAML"),
        ("- just a list\n", "(top level)", "not a mapping"),
    ],
)
def test_refusal_of_a_file_that_is_not_a_usable_document(tmp_path, text, key, problem):
    path = tmp_path / "alliance.yaml"
    path.write_text(text)
    with pytest.raises(AllianceConfigError) as caught:
        load(path, KPI_IDS)
    assert (caught.value.file, caught.value.key) == (str(path), key)
    assert problem in caught.value.problem


def test_anchors_and_merge_keys_work_and_a_merged_key_may_be_overridden(tmp_path):
    path = write(tmp_path, BASE)
    text = path.read_text().replace(
        "  gain:\n    providers: 0.5\n    orderer: 0.5\n",
        "  gain: &half\n    providers: 0.5\n    orderer: 0.5\n",
    )
    text = text.replace(
        "  pain:\n    providers: 0.5\n    orderer: 0.5\n", "  pain:\n    <<: *half\n    providers: 0.5\n"
    )
    path.write_text(text)
    assert "<<: *half" in text
    assert load(path, KPI_IDS).pain.orderer == D("0.5")


def test_an_unquoted_impossible_date_is_refused_with_its_key(tmp_path):
    """YAML itself would fail on 2025-02-30 without saying where; the loader leaves it to the refusal."""
    path = write(tmp_path, BASE)
    path.write_text(path.read_text().replace("'2025-01-01'", "2025-02-30"))
    with pytest.raises(AllianceConfigError, match=r"periods\[0\]\.start: '2025-02-30' is not a date"):
        load(path, KPI_IDS)


def test_kpi_direction_is_checked_against_the_definitions(tmp_path):
    definitions = tmp_path / "kpi_definitions.csv"
    definitions.write_text(
        "kpi_id,result_area,name,unit,direction,delivered,description\n"
        "reach,service_system,Reach,pct,higher,true,x\n"
        "t3_median_physician,service_system,T3,days,lower,true,x\n"
    )
    ok = load(write(tmp_path, BASE), definitions=definitions)
    assert set(ok.kpis) == {"reach", "t3_median_physician"}
    swapped = changed(**{"incentive.kpis.t3_median_physician": {"floor": 7, "target": 14, "weight": 0.4}})
    with pytest.raises(AllianceConfigError) as caught:
        load(write(tmp_path, swapped, "swapped.yaml"), definitions=definitions)
    assert caught.value.key == "incentive.kpis.t3_median_physician.target"
    assert "lower-is-better" in caught.value.problem and "swap floor and target" in caught.value.fix
    unknown = changed(**{"incentive.kpis": {"reach_65": {"floor": 1, "target": 2, "weight": 1}}})
    with pytest.raises(AllianceConfigError, match=rf"no KPI 'reach_65' in {definitions} \(did you mean reach\?\)"):
        load(write(tmp_path, unknown, "unknown.yaml"), definitions=definitions)


def test_without_definitions_or_kpi_ids_the_error_says_what_to_do(tmp_path):
    with pytest.raises(AllianceConfigError, match="pass kpi_ids"):
        load(write(tmp_path, BASE), definitions=tmp_path / "missing.csv")


# ------------------------------------------------------------------------------------------- the shipped file


def test_the_shipped_file_is_marked_as_example_values():
    text = CONFIG.read_text(encoding="utf-8")
    assert "EXAMPLE VALUES — NOT THE TESOMA ALLIANCE'S REAL NUMBERS" in text
    alliance = load(CONFIG, BRIEF_KPI_IDS)
    assert alliance.example is True
    assert alliance.changes[0].version == alliance.version


def test_the_shipped_file_covers_the_demo_and_the_county_bench():
    alliance = load(CONFIG, BRIEF_KPI_IDS)
    assert (alliance.periods[0].start, alliance.periods[-1].end) == (dt.date(2021, 1, 1), dt.date(2027, 12, 31))
    assert alliance.period_for(dt.date(2021, 11, 1)).id == "2021"  # the bench's first month
    assert alliance.period_for(dt.date(2026, 10, 1)).id == "2026"  # the demo's month
    # near the demo's cost feed (about 1.195 M€ a month, synthetic/costs.py), so gain/pain is a real figure
    assert alliance.monthly_target(dt.date(2026, 10, 1)) == D("1206666.67")  # (14.0 M + 0.3 M + 0.18 M) / 12


@pytest.mark.skipif(not KPI_DEFINITIONS.exists(), reason="the marts' KPI seed is not there yet")
def test_the_shipped_file_names_only_kpis_of_the_marts_seed():
    assert load().kpis  # default: checked against marts/seeds/kpi_definitions.csv, directions included
