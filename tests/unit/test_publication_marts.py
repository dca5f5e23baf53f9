"""The publication with the real marts (dbt): a generated warehouse of every feed → `tesoma report` → the
report, the kpi_* views and a reproduction. One dbt build per publication (10-20 s each): marked e2e.

What it checks is what a steering group member would: every KPI of the definitions is on the scorecard for
the month, the KPIs without a feed say "not delivered" (NULL, never 0), every published count is a multiple
of 5 and none is 1–7, and `--reproduce` finds every table identical.
"""

from __future__ import annotations

import csv
import datetime as dt

import pyarrow.parquet as pq
import pytest

# One worker runs them all: the published warehouse is built once, not once per worker (~30 s each).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("publication_marts")]

MONTH = dt.date(2026, 10, 1)


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from scorecard import publication
    from tesoma.cli import main
    from tests.conftest import processed_warehouse

    root = tmp_path_factory.mktemp("publication-marts") / "data"
    with processed_warehouse(root, days=4, residents=2000, seed=11):
        assert main(["report", "--month", "2026-10"]) == 0
        yield publication.latest(root)


def test_every_kpi_is_on_the_scorecard_and_missing_ones_are_not_delivered(published):
    from scorecard.report import KPI_DEFINITIONS

    with KPI_DEFINITIONS.open(encoding="utf-8") as f:
        definitions = {row["kpi_id"]: row for row in csv.DictReader(f)}
    rows = {r["kpi_id"]: r for r in published.table("kpi_scorecard").to_pylist() if r["month"] == MONTH}
    assert set(rows) == set(definitions)
    for kpi_id, d in definitions.items():
        if d["delivered"].strip().lower() == "false":
            assert rows[kpi_id]["status"] == "not_delivered" and rows[kpi_id]["value"] is None, kpi_id
    page = published.report.read_text(encoding="utf-8")
    assert page.count("not delivered") >= 2


def test_published_counts_are_rounded_and_never_small(published):
    for name in published.manifest["tables"]:
        data = pq.read_table(published.folder / f"{name}.parquet")
        assert data.schema.metadata[b"tesoma.disclosure_rules"] == b"1.0.0"
        for column in ("persons", "users", "residents", "contacts", "eligible_persons"):
            if column in data.column_names:
                values = [v for v in data[column].to_pylist() if v is not None]
                assert all(v % 5 == 0 for v in values), (name, column)
                assert not any(1 <= v <= 7 for v in values), (name, column)


def test_reproduce_finds_every_table_identical(published, capsys):
    from tesoma.cli import main

    assert main(["report", "--reproduce", published.publication_id]) == 0
    out = capsys.readouterr().out
    assert "every table identical" in out


def test_kpi_views_in_the_analysts_catalog(published):
    import warehouse

    with warehouse.connect(published.folder.parent.parent) as con:
        (count,) = con.execute("select count(*) from kpi_scorecard where month = ?", [MONTH]).fetchone()
    assert count > 0
