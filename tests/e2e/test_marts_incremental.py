"""Adding a month to the marts (an incremental build of last_month only) gives the same scorecard as
building every month afresh."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from scorecard import marts
from tests.unit.test_marts import write_sources

pytestmark = pytest.mark.e2e

TABLES = ["kpi_monthly", "kpi_reach", "kpi_integration", "kpi_continuity", "kpi_contacts", "kpi_waiting",
          "kpi_transitions", "kpi_cost"]


def _tables(path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.execute(f"select * from {t} order by all").fetchall() for t in TABLES}
    finally:
        con.close()


def test_adding_march_equals_building_through_march(tmp_path):
    sources = write_sources(tmp_path / "sources.duckdb")
    marts.build(sources, tmp_path / "fresh.duckdb", tmp_path / "dbt-fresh", last_month=dt.date(2026, 3, 1))
    marts.build(sources, tmp_path / "grown.duckdb", tmp_path / "dbt-grown", last_month=dt.date(2026, 2, 1))
    run = marts.build(sources, tmp_path / "grown.duckdb", tmp_path / "dbt-grown", last_month=dt.date(2026, 3, 1),
                      full_refresh=False)
    assert run.models["kpi_reach"] >= 0
    assert _tables(tmp_path / "grown.duckdb") == _tables(tmp_path / "fresh.duckdb")
