"""`tesoma check`: the partner's pre-flight check says what the pipeline would say, and writes nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import contracts
from connectors.base import ReadReport
from expectations.arrow_rules import row_failures
from expectations.contract_suite import suite_for
from expectations.runner import validate, validate_contract
from synthetic import generate
from tesoma.feeds import connector_for

DAY = dt.date(2026, 10, 1)
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "city_visits"


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def tesoma(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("tesoma")), *args], env=env, capture_output=True,
                          text=True, cwd=env["HOME"])


@pytest.mark.e2e
def test_check_matches_the_pipeline_and_writes_nothing(tmp_path, data_root):
    from tesoma import steps
    from warehouse.ledger import Ledger

    generate(data_root, start=DAY, days=4, residents=1500, seed=21, fault_rate=0.4)  # many faults
    quiet = tmp_path / "quiet"
    (quiet / "tmp").mkdir(parents=True)
    env = {**os.environ, "HOME": str(quiet), "TMPDIR": str(quiet / "tmp"), "TESOMA_DATA_ROOT": str(quiet / "data")}
    env.pop("TESOMA_PSEUDONYM_KEY", None)
    ledger = Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}")
    landing = data_root / "landing" / "city" / "city_visits"
    # one more day, exported in an encoding the contract does not allow
    (landing / "city_visits_20261005.csv").write_bytes(
        (landing / "city_visits_20261001.csv").read_bytes().decode("cp1252", errors="replace").encode("utf-16"))
    compared = {"rows": 0, "rejected": 0}
    for path in sorted((data_root / "landing" / "city" / "city_visits").glob("*.csv")):
        landing_before = tree(data_root)
        result = tesoma("check", "--feed", "city_visits", str(path), env=env)
        assert tree(quiet) == {"tmp"}, "check wrote files"
        assert tree(data_root) == landing_before

        day = dt.datetime.strptime(path.stem.split("_")[2], "%Y%m%d").date()
        steps.land("city_visits", day)
        (delivery,) = [d for d in ledger.for_date("city_visits", day) if d.source_name == path.name]
        steps.ingest(delivery.delivery_id)
        report = json.loads((data_root / "quarantine" / "city" / delivery.delivery_id / "report.json").read_text()) \
            if (data_root / "quarantine" / "city" / delivery.delivery_id).exists() else {"problems": []}
        if report.get("state") == "rejected":
            assert f"file: {report['rule']} — " in result.stdout
            compared["rejected"] += 1
            continue
        printed = {line.split(": ", 1)[1].split(" — ")[0] for line in result.stdout.splitlines() if ": row " in line}
        expected = {f"row {row}, column {p['column']}: {p['rule']}" if p["column"] else f"row {row}: {p['rule']}"
                    for p in report["problems"] for row in p["row_numbers"]}
        assert printed == expected, path.name
        assert result.returncode == (1 if expected else 0)
        compared["rows"] += len(expected)
    assert compared["rows"] > 0, compared
    assert compared["rejected"] > 0, compared  # both kinds were really compared


@pytest.mark.e2e
def test_check_exit_codes_and_messages(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path)}
    clean = tmp_path / "city_visits_20261001.csv"
    clean.write_bytes((GOLDEN / "clean_cp1252" / "delivery.csv").read_bytes())
    ok = tesoma("check", "--feed", "city_visits", str(clean), env=env)
    assert ok.returncode == 0, ok.stdout
    assert "would be accepted" in ok.stdout

    wrong = tesoma("check", "--feed", "city_visits", str(GOLDEN / "wrong_delimiter" / "delivery.csv"), env=env)
    assert wrong.returncode == 1
    assert "separated by ','" in wrong.stdout and "file_name" in wrong.stdout

    unknown = tesoma("check", "--feed", "nope", str(clean), env=env)
    assert unknown.returncode == 2 and "known:" in unknown.stdout


@pytest.mark.e2e
def test_arrow_rules_agree_with_great_expectations(data_root):
    generate(data_root, start=DAY, days=3, residents=2000, seed=13, fault_rate=1.0)
    contract = contracts.load("city_visits")
    for path in sorted((data_root / "landing" / "city" / "city_visits").glob("*.csv")):
        try:
            table = pa.Table.from_batches(list(connector_for("city_visits").read(path, ReadReport())))
        except Exception:  # a rejected file has no rows to compare
            continue
        table = table.select(contract.column_names)
        gx = validate(table, suite_for(contract)).row_failures
        assert row_failures(table, contract) == {k: sorted(v, key=v.index) for k, v in gx.items()}, path.name
        # and the pipeline's split run (row rules on rows, value rules on distinct values) agrees too
        assert validate_contract(table, contract).row_failures == gx, path.name


@pytest.mark.parametrize(("name", "why"), [
    ("city_visits_20261399.csv", "not a real date"),
    ("city_visits_20261001_99999.csv", "correction number"),
    ("city_visits_２０２６１００１.csv", "ASCII"),
    ("visits-2026-10-01.csv", "agreed pattern"),
])
def test_the_pre_flight_check_judges_the_name_as_landing_does(tmp_path, name, why):
    """A name landing would list as "not a delivery" is a problem before sending, with the same reason."""
    from tesoma.check import check_file

    good = GOLDEN / "clean_cp1252" / "delivery.csv"
    path = tmp_path / name
    path.write_bytes(good.read_bytes())
    problems, _, rows = check_file("city_visits", path)
    naming = [p for p in problems if p.rule == "file_name"]
    assert rows and len(naming) == 1 and why in naming[0].advice


def test_an_agreed_name_passes_the_name_check(tmp_path):
    from tesoma.check import check_file

    path = tmp_path / "city_visits_20261001_2.csv"
    path.write_bytes((GOLDEN / "clean_cp1252" / "delivery.csv").read_bytes())
    problems, _, _ = check_file("city_visits", path)
    assert not [p for p in problems if p.rule == "file_name"]
