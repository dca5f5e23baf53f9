"""``tesoma bench backfill`` at a tiny scale runs to the end and prints every figure: Airflow's wall clock and
deliveries per second, the per-task overhead, the floor, the ratio with its goal, the five-year goal
(extrapolated, and labelled so), and the ledger and publish costs at the end of the run.

Needs PostgreSQL on 127.0.0.1:5432 for Airflow's metadata and the two ledgers (skipped when it is down,
failed under CI=true); starts one Airflow stack (LocalExecutor) and drops its databases afterwards.
"""

from __future__ import annotations

import re

import pytest

from tesoma.cli import main
from tests.integration.test_airflow_postgres import databases  # noqa: F401  (a fixture: skips without PostgreSQL)

SECONDS = r"\s+\d+\.\d"


@pytest.mark.integration
@pytest.mark.xdist_group("services")
@pytest.mark.timeout(240)
def test_bench_backfill_runs_and_prints_every_figure(databases, tmp_path, capsys):  # noqa: F811
    assert main(["bench", "backfill", "--dir", str(tmp_path), "--residents", "200", "--months", "1",
                 "--feeds", "city_visits"]) == 0
    out = capsys.readouterr().out
    print(out)
    def row(phase: str) -> str:
        found = [line for line in out.splitlines() if line.strip().startswith(phase)]
        assert found, f"no row {phase!r} in:\n{out}"
        return found[0]

    airflow = row("backfill through Airflow")
    assert re.search(SECONDS, airflow) and re.search(r"\d+ deliveries \(\d+ published.*\), [\d.]+ deliveries/s, exit 0",
                                                     airflow), airflow
    assert re.search(r"\d+ tasks \(\d+ process_batch\) ran [\d.]+ s", row("per-task overhead"))
    assert re.search(r"\d+ deliveries, [\d.]+ deliveries/s, \d+ batches", row("floor: `tesoma run`"))
    assert re.search(r"≤ 1\.5×\s+(met|NOT MET)\s+[\d.]+×", row("Airflow / floor"))
    five = row("five years, county scale (EXTRAPOLATED)")
    assert "≤ 1800 s" in five and "× 60/1 month(s), from 200 residents, feeds city_visits only" in five
    assert re.search(SECONDS, row("of which process_batch tasks"))
    assert re.search(r"[\d,]+ deliveries in the ledger", row("end of run: `tesoma status`"))
    assert re.search(SECONDS, row("end of run: one date's deliveries"))
    assert "published" in row("end of run: one more publish")
    # the deliveries are kept for --reuse; both data roots hold the same deliveries, published
    assert "(`--reuse` keeps them)" in out
