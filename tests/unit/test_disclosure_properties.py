"""Properties of disclosure control that hold for every table (Hypothesis).

Over random tables with additive relations — one dimension (with a nested subtotal), and two dimensions
with row AND column totals — after :func:`scorecard.disclosure.protect`:

- no published person count is 1–7, and every published count is a multiple of 5;
- no withheld cell can be recovered from the published totals. Checked by brute force, not by the module's
  own audit: over every assignment of multiples of 5 in 0..max to the withheld cells that agrees with every
  published total, each withheld cell takes at least two values. max is 5 above the largest true cell: an
  attacker bounds the cells only by what is published, and a bound at exactly the truth would itself give a
  withheld grand total away;
- rates are withheld exactly when their persons are fewer than 10; euro figures follow producers and
  dominance; an unclassified column is refused; the rule version is on every row.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scorecard.disclosure import DisclosureError, Rules, protect

RULES = Rules(version="9.9.9")
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
QUICK = settings(max_examples=100, deadline=None)

# Small counts are what disclosure control is about: draw them often.
cells = st.one_of(st.integers(0, 9), st.integers(0, 60))


def rounded(x: int) -> int:
    return (x + 2) // 5 * 5


# ---------------------------------------------------------------------------------------- brute force


def pinned_cells(withheld: list, equations: list[list[tuple[object, int]]], known: dict, truth: dict,
                 top: int) -> list:
    """Withheld cells that take a single value over all integer solutions (in units of 5, 0..top).

    ``equations``: each a list of (cell, coefficient) summing to 0; ``known``: published cell → value/5.
    For each withheld cell, searches for a solution where it differs from the truth (bounds propagation and
    branching: complete, so "no solution" is a proof).
    """
    variables = list(withheld)
    eqs = []
    for eq in equations:
        const = sum(c * known[cell] for cell, c in eq if cell in known)
        terms = [(variables.index(cell), c) for cell, c in eq if cell not in known]
        if terms:
            eqs.append((terms, const))
        else:
            assert const == 0, "the published totals must add up"

    def feasible(lo: list[int], hi: list[int]) -> bool:
        lo, hi = lo[:], hi[:]
        if any(a > b for a, b in zip(lo, hi, strict=True)):
            return False
        while True:
            changed = False
            for terms, const in eqs:
                # sum(c * x) = -const; for each x: c*x = -const - sum(others)
                mins = [c * (lo[i] if c > 0 else hi[i]) for i, c in terms]
                maxs = [c * (hi[i] if c > 0 else lo[i]) for i, c in terms]
                smin, smax = sum(mins), sum(maxs)
                if smin > -const or smax < -const:
                    return False
                for k, (i, c) in enumerate(terms):
                    low = -const - (smax - maxs[k])
                    high = -const - (smin - mins[k])
                    new_lo, new_hi = (low, high) if c > 0 else (-high, -low)
                    if new_lo > lo[i]:
                        lo[i], changed = new_lo, True
                    if new_hi < hi[i]:
                        hi[i], changed = new_hi, True
                    if lo[i] > hi[i]:
                        return False
            if not changed:
                break
        open_ = [i for i in range(len(lo)) if lo[i] < hi[i]]
        if not open_:
            return True
        i = min(open_, key=lambda j: hi[j] - lo[j])
        mid = (lo[i] + hi[i]) // 2
        left_hi = hi[:]
        left_hi[i] = mid
        right_lo = lo[:]
        right_lo[i] = mid + 1
        return feasible(lo, left_hi) or feasible(right_lo, hi)

    pinned = []
    for k, cell in enumerate(variables):
        lo, hi = [0] * len(variables), [top] * len(variables)
        t = truth[cell]
        below = t > 0 and feasible(lo, [*hi[:k], t - 1, *hi[k + 1:]])
        if not below and not feasible([*lo[:k], t + 1, *lo[k + 1:]], hi):
            pinned.append(cell)
    return pinned


def check_published(got, column: str, table: pd.DataFrame) -> None:
    values = got.table[column]
    shown = values.dropna().astype(int)
    assert not ((shown >= 1) & (shown <= 7)).any(), "a published count of 1–7"
    assert (shown % 5 == 0).all(), "a published count not a multiple of 5"
    small = table[column].between(1, 7)
    assert values[small].isna().all(), "a small count was published"
    assert set(got.table["disclosure_rules"]) == {"9.9.9"}
    assert (got.table["disclosure_note"][values.isna()] != "").all(), "a withheld cell without a reason"


# ------------------------------------------------------------------------------------------ one dimension


@st.composite
def age_tables(draw):
    n = draw(st.integers(2, 6))
    parts = [f"p{i}" for i in range(n)]
    counts = draw(st.lists(cells, min_size=n, max_size=n))
    nested = n >= 3 and draw(st.booleans())  # a subtotal of the last two parts, like 65+ = 65-74 + 75+
    groups = ["all", *parts]
    values = [sum(counts), *counts]
    if nested:
        groups.append("sub")
        values.append(counts[-1] + counts[-2])
    table = pd.DataFrame({"month": "2026-10-01", "group_value": groups, "users": values})
    relations = [{"dimension": "group_value", "total": "all", "parts": parts}]
    if nested:
        relations.append({"dimension": "group_value", "total": "sub", "parts": parts[-2:]})
    return table, relations


@FAST
@given(age_tables())
def test_one_dimension_nothing_small_and_nothing_recoverable(case):
    table, relations = case
    spec = {"keys": ["month", "group_value"], "person_counts": ["users"], "totals": relations}
    got = protect(table, spec, RULES, "kpi_reach")
    check_published(got, "users", table)
    truth = {g: rounded(v) // 5 for g, v in zip(table["group_value"], table["users"], strict=True)}
    for rel in relations:  # the totals are the sums of the rounded cells
        truth[rel["total"]] = sum(truth[p] for p in rel["parts"])
    published = dict(zip(table["group_value"], got.table["users"], strict=True))
    known = {g: int(v) // 5 for g, v in published.items() if not pd.isna(v)}
    assert all(known[g] == truth[g] for g in known)
    withheld = [g for g in published if g not in known]
    equations = [[(rel["total"], -1), *[(p, 1) for p in rel["parts"]]] for rel in relations]
    top = max(truth.values()) + 1
    assert pinned_cells(withheld, equations, known, truth, top) == []


# ----------------------------------------------------------------------------------------- two dimensions


@st.composite
def two_way_tables(draw):
    rows = [f"r{i}" for i in range(draw(st.integers(2, 4)))]
    cols = [f"c{j}" for j in range(draw(st.integers(2, 4)))]
    interior = {(r, c): draw(cells) for r in rows for c in cols}
    records = [(r, c, v) for (r, c), v in interior.items()]
    records += [(r, "all", sum(interior[r, c] for c in cols)) for r in rows]
    records += [("all", c, sum(interior[r, c] for r in rows)) for c in cols]
    records.append(("all", "all", sum(interior.values())))
    table = pd.DataFrame(records, columns=["area", "age", "users"]).assign(month="2026-10-01")
    return table[["month", "area", "age", "users"]], rows, cols


@FAST
@given(two_way_tables())
def test_two_dimensions_nothing_recoverable_from_row_and_column_totals(case):
    table, rows, cols = case
    spec = {"keys": ["month", "area", "age"], "person_counts": ["users"], "totals": [
        {"dimension": "age", "total": "all", "parts": cols},
        {"dimension": "area", "total": "all", "parts": rows},
    ]}
    got = protect(table, spec, RULES, "kpi_reach")
    check_published(got, "users", table)
    truth = {(r, c): rounded(v) // 5 for r, c, v in zip(table["area"], table["age"], table["users"], strict=True)}
    for r in rows:
        truth[r, "all"] = sum(truth[r, c] for c in cols)
    for c in [*cols, "all"]:
        truth["all", c] = sum(truth[r, c] for r in rows)
    published = {(r, c): v for r, c, v in zip(table["area"], table["age"], got.table["users"], strict=True)}
    known = {k: int(v) // 5 for k, v in published.items() if not pd.isna(v)}
    assert all(known[k] == truth[k] for k in known), "totals are the sums of the rounded cells"
    withheld = [k for k in published if k not in known]
    equations = [[((r, "all"), -1), *[((r, c), 1) for c in cols]] for r in [*rows, "all"]]
    equations += [[(("all", c), -1), *[((r, c), 1) for r in rows]] for c in [*cols, "all"]]
    top = max(truth.values()) + 1
    assert pinned_cells(withheld, equations, known, truth, top) == []


def test_the_brute_force_finds_a_lone_withheld_cell():
    # The checker itself: a single withheld part is the total minus the rest.
    equations = [[("all", -1), ("a", 1), ("b", 1)]]
    assert pinned_cells(["a"], equations, {"all": 3, "b": 2}, {"a": 1, "all": 3, "b": 2}, 3) == ["a"]
    assert pinned_cells(["a", "b"], equations, {"all": 3}, {"a": 1, "all": 3, "b": 2}, 3) == []
    # Two withheld cells that can only be 0: the withheld sum 0 gives both away.
    assert pinned_cells(["a", "b"], equations, {"all": 0}, {"a": 0, "all": 0, "b": 0}, 3) == ["a", "b"]


# ------------------------------------------------------------------------------------ rates, euros, spec


@QUICK
@given(st.lists(st.tuples(st.integers(0, 30), st.floats(0, 100, allow_nan=False)), min_size=1, max_size=20))
def test_rates_are_withheld_exactly_when_their_persons_are_fewer_than_ten(rows):
    table = pd.DataFrame({"unit": range(len(rows)), "residents": [p for p, _ in rows],
                          "reach_pct": [r for _, r in rows]})
    spec = {"keys": ["unit"], "person_counts": ["residents"], "rates": {"reach_pct": "residents"}}
    got = protect(table, spec, RULES, "kpi_reach")
    withheld = got.table["reach_pct"].isna().to_numpy()
    assert (withheld == (table["residents"] < 10).to_numpy()).all()
    shown = ~withheld
    assert np.allclose(got.table["reach_pct"][shown].astype(float), table["reach_pct"][shown].round(1))


@QUICK
@given(st.lists(st.tuples(st.integers(0, 6), st.floats(0, 1), st.sampled_from(["all", "health", "dental"])),
                min_size=1, max_size=12))
def test_euros_below_alliance_level_need_three_producers_and_no_dominance(rows):
    table = pd.DataFrame({"unit": range(len(rows)), "service_area": [a for _, _, a in rows],
                          "producers": [p for p, _, _ in rows], "top_two_share": [s for _, s, _ in rows],
                          "actual_cost_eur": 1000.0})
    spec = {"keys": ["unit"], "labels": ["service_area", "producers"], "drop": ["top_two_share"],
            "euros": {"columns": ["actual_cost_eur"], "producers": "producers", "top_two_share": "top_two_share",
                      "alliance_level": {"column": "service_area", "value": "all"}}}
    got = protect(table, spec, RULES, "kpi_cost")
    allowed = (table["service_area"] == "all") | ((table["producers"] >= 3) & (table["top_two_share"] < 0.9))
    assert (got.table["actual_cost_eur"].notna() == allowed).all()
    assert "top_two_share" not in got.table


@QUICK
@given(st.text(alphabet="abcdefghij_", min_size=1, max_size=12).filter(lambda c: c not in ("month", "users")))
def test_a_column_without_a_rule_is_refused(column):
    table = pd.DataFrame({"month": ["2026-10-01"], "users": [12], column: [1]})
    with pytest.raises(DisclosureError, match=f"kpi_reach: column '{column}' has no disclosure rule"):
        protect(table, {"keys": ["month"], "person_counts": ["users"]}, RULES, "kpi_reach")


def test_every_small_count_alone_is_withheld():
    for x, expected in itertools.chain(((x, None) for x in range(1, 8)), [(0, 0), (8, 10), (12, 10), (13, 15)]):
        got = protect(pd.DataFrame({"k": [1], "users": [x]}), {"keys": ["k"], "person_counts": ["users"]}, RULES,
                      "t")
        value = got.table["users"][0]
        assert (None if pd.isna(value) else int(value)) == expected
