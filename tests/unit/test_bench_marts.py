"""`tesoma bench marts` at a tiny scale: the whole run works, and the marts' reach and continuity equal the
floor's hand-written queries value by value (the figures the bench compares at county scale)."""

from __future__ import annotations

import datetime as dt

import pytest

from scorecard import bench


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    lines: list[str] = []
    result = bench.run(tmp_path_factory.mktemp("bench"), residents=1_500, contacts=40_000, months=15,
                       last_month=dt.date(2026, 10, 1), seed=3, echo=lines.append)
    result.lines = lines
    return result


def test_every_phase_ran_and_printed_its_seconds(figures):
    phases = [row.phase.strip() for row in figures.rows]
    assert not [p for p in phases if "FAILED" in p], figures.lines
    for wanted in ("(a) sources catalog of the state", "total: tesoma report --month 2026-10",
                   "total: adding one month", "(d) floor: reach, one query", "(d) floor: continuity, one query"):
        assert wanted in phases, phases
        assert next(r for r in figures.rows if r.phase.strip() == wanted).seconds > 0
    assert any(line.startswith("phase") and "seconds" in line for line in figures.lines)


@pytest.mark.parametrize("kpi", ["reach", "continuity"])
def test_the_marts_equal_the_floor_in_every_value(figures, kpi):
    values = figures.values[kpi]
    assert values["differences"] == []
    # the chain the ratio is taken over: the KPI's model and every model it reads, down to the staging model
    # that reads the warehouse
    assert f"kpi_{kpi}" in values["models"]
    assert {"stg_contacts", "stg_area_contacts"} & set(values["models"])
    assert values["chain_s"] > 0 and values["ratio"] == pytest.approx(values["chain_s"] / values["floor_s"])


def test_the_continuity_floor_has_eligible_persons_to_compare(figures):
    """Equality of empty tables would prove nothing: the tiny county has persons with 3+ visits."""
    row = next(r for r in figures.rows if r.phase.strip() == "(d) floor: continuity, one query")
    assert int(row.note.split()[0]) > 0
