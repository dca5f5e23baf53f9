"""The care-need assessment's contract rules: a bad urgency code and an assessment after the visit are row
problems with advice a partner can act on, the same in the pre-flight check, the Arrow rules and the
pipeline's Great Expectations run."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pyarrow as pa

import contracts
from connectors.base import ReadReport
from expectations.arrow_rules import row_failures
from expectations.contract_suite import suite_for
from expectations.runner import validate, validate_contract
from tesoma.check import check_file
from tesoma.feeds import connector_for

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "city_visits" / "staff_and_assessment" / "delivery.csv"


def test_check_says_why_the_assessment_and_urgency_are_wrong(tmp_path):
    path = tmp_path / "city_visits_20261001.csv"
    shutil.copy(GOLDEN, path)
    problems, _warnings, rows = check_file("city_visits", path)
    assert rows == 5
    assert [(p.row, p.column, p.rule) for p in problems] == [
        (5, "hoidon_tarve_arvioitu", "not_after"), (5, "kiireellisyys", "allowed_values")]
    after, code = problems
    assert "at or before alkuaika" in after.advice
    assert code.advice == "use one of the agreed codes: K, E"


def test_the_rule_compares_within_each_row_and_lets_blanks_pass():
    contract = contracts.load("city_visits")
    table = pa.Table.from_batches(list(connector_for("city_visits").read(GOLDEN, ReadReport())))
    table = table.select(contract.column_names)
    visit = dt.datetime(2026, 10, 1, 9, 0)
    table = table.set_column(table.column_names.index("alkuaika"), "alkuaika",
                             pa.array([visit] * 5, pa.timestamp("s")))
    assessed = [visit, visit + dt.timedelta(minutes=1), None, visit - dt.timedelta(days=30), None]
    table = table.set_column(table.column_names.index("hoidon_tarve_arvioitu"), "hoidon_tarve_arvioitu",
                             pa.array(assessed, pa.timestamp("s")))
    arrow = row_failures(table, contract)
    about_assessment = {row: reasons for row, reasons in arrow.items() if "hoidon_tarve_arvioitu: not_after" in reasons}
    assert list(about_assessment) == [1]  # the same minute as the visit is fine, a blank too
    gx = validate(table, suite_for(contract)).row_failures
    assert arrow == {k: sorted(v, key=v.index) for k, v in gx.items()}
    assert validate_contract(table, contract).row_failures == gx
