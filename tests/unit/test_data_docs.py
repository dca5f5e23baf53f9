"""GX Data Docs per delivery: recorded as counts only, rebuilt incrementally, never holding a value."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

import contracts
from connectors.base import ReadReport
from expectations import checkpoint, data_docs
from expectations.contract_suite import suite_for
from expectations.gx_runtime import gx, gxe
from expectations.runner import RuleResult, Validation, validate
from tesoma import audit
from tesoma.cli import main
from tesoma.config import settings
from tesoma.feeds import connector_for

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "city_visits" / "clean_cp1252" / "delivery.csv"
FAKE_CODE = "131052-308T"
DELIVERY = "city_visits-city-20261001-1-0123abcd"


def hetu_suite(name: str) -> gx.ExpectationSuite:
    return gx.ExpectationSuite(name=name, expectations=[
        gxe.ExpectColumnValuesToNotBeNull(column="hetu", meta={"rule": "required", "column": "hetu"}),
        gxe.ExpectColumnValuesToMatchRegex(column="hetu", regex=r"^\d{6}[-+A]\d{3}[0-9A-Y]$",
                                           meta={"rule": "pattern", "column": "hetu"}),
    ])


def distinct_values_validation() -> Validation:
    """What the runner gives for 5 rows holding 3 distinct values (one valid code, one broken code in 3
    rows, one null): GX ran on the distinct values; the rule results count rows."""
    checked = validate(pa.table({"hetu": ["010101-0101", "x" + FAKE_CODE, None]}), hetu_suite("t_docs.values.hetu"))
    return Validation(results=[RuleResult("required", "hetu", 1, False), RuleResult("pattern", "hetu", 3, False)],
                      gx_results=checked.gx_results)


def pages(site: Path) -> list[Path]:
    return sorted((site / "validations").rglob("*.html"))


def test_record_counts_rows_and_replaces_a_deliverys_results(data_root):
    s = settings()
    folder = data_docs.record(s, DELIVERY, {"t_docs.contract": distinct_values_validation()},
                              rows={"t_docs.contract": 5})
    assert folder == data_root / "quality" / "validations" / DELIVERY
    assert [p.name for p in folder.iterdir()] == ["t_docs.contract.json"]
    document = json.loads((folder / "t_docs.contract.json").read_text())
    assert document["suite_name"] == "t_docs.contract"
    assert document["meta"]["run_id"]["run_name"] == DELIVERY and document["meta"]["delivery_id"] == DELIVERY
    assert document["meta"]["active_batch_definition"]["data_asset_name"] == "city_visits"
    assert {e["expectation_config"]["meta"]["rule"]: e["result"] for e in document["results"]} == {
        "required": {"unexpected_count": 1, "element_count": 5, "unexpected_percent": 20.0},
        "pattern": {"unexpected_count": 3, "element_count": 5, "unexpected_percent": 60.0},
    }
    assert document["statistics"] == {"evaluated_expectations": 2, "successful_expectations": 0,
                                      "unsuccessful_expectations": 2, "success_percent": 0.0}

    first_run = document["meta"]["run_id"]["run_time"]
    data_docs.record(s, DELIVERY, {"t_docs.other": distinct_values_validation()})  # a re-run of the delivery
    assert [p.name for p in folder.iterdir()] == ["t_docs.other.json"]
    rerun = json.loads((folder / "t_docs.other.json").read_text())
    assert rerun["meta"]["run_id"]["run_time"] > first_run
    # without the row count, only the rule's failing rows are given
    assert [e["result"] for e in rerun["results"]] == [{"unexpected_count": 1}, {"unexpected_count": 3}]

    data_docs.record(s, DELIVERY, {})  # e.g. rejected before any check: nothing left over
    assert not folder.exists()
    with pytest.raises(ValueError):
        data_docs.record(s, "../escape", {"t_docs.contract": distinct_values_validation()})


def test_build_renders_each_delivery_once_and_drops_replaced_runs(data_root, capsys):
    s = settings()
    other = "city_visits-city-20261002-1-4567cdef"
    for delivery in (DELIVERY, other):
        data_docs.record(s, delivery, {"t_docs.contract": distinct_values_validation()}, rows={"t_docs.contract": 5})
    index = data_docs.build(s)
    site = data_root / "docs" / "data-docs"
    assert index == site / "index.html" and index.exists()
    built = pages(site)
    assert [p.name for p in built] == [f"{DELIVERY}.html", f"{other}.html"]  # page per delivery, named after it
    assert (site / "expectations" / "t_docs" / "contract.html").exists()
    assert DELIVERY in index.read_text() and other in index.read_text()
    page = built[0].read_text()
    assert "60% of 5 total rows" in page  # the rule's share of the delivery's rows

    # Nothing recorded since: nothing is built. Forced: the index is rebuilt, no page is rendered again.
    stamps = {p: p.stat().st_mtime_ns for p in built}
    index_stamp = index.stat().st_mtime_ns
    data_docs.build(s)
    assert index.stat().st_mtime_ns == index_stamp
    data_docs.build(s, force=True)
    assert index.stat().st_mtime_ns > index_stamp
    assert {p: p.stat().st_mtime_ns for p in pages(site)} == stamps
    # A re-run delivery replaces its page.
    data_docs.record(s, DELIVERY, {"t_docs.contract": distinct_values_validation()}, rows={"t_docs.contract": 5})
    data_docs.build(s)
    rebuilt = pages(site)
    assert [p.name for p in rebuilt] == [f"{DELIVERY}.html", f"{other}.html"]
    assert rebuilt[0] != built[0] and rebuilt[1] == built[1]

    assert main(["data-docs"]) == 0
    assert capsys.readouterr().out.strip() == str(index)


def test_data_docs_of_a_delivery_with_invalid_identity_codes_hold_none(data_root):
    """A real contract suite over a delivery whose identity codes break the pattern: GX's own result
    holds the codes; the recorded results and the Data Docs built from them do not, and the privacy
    audit (which now scans them) finds nothing."""
    s = settings()
    contract = contracts.load("city_visits")
    table = pa.Table.from_batches(list(connector_for("city_visits").read(GOLDEN, ReadReport()))).select(
        contract.column_names)
    broken = [f"hetu {FAKE_CODE}", f"{FAKE_CODE} "]  # detectable as identity codes, but not the format
    table = table.set_column(table.column_names.index("henkilotunnus"), "henkilotunnus", pa.array(broken))
    suite = suite_for(contract)

    raw = checkpoint.run(table.to_pandas(), suite)  # what GX itself holds: the codes
    assert FAKE_CODE in json.dumps(raw.to_json_dict())

    outcome = validate(table, suite)
    assert {r.rule: r.failed_rows for r in outcome.results if r.column == "henkilotunnus"}["pattern"] == 2
    data_docs.record(s, DELIVERY, {"city_visits.contract": outcome}, rows={"city_visits.contract": 2})
    index = data_docs.build(s)
    assert pages(index.parent)

    written = [p for p in (data_root / "docs").rglob("*") if p.is_file()] + \
              [p for p in (data_root / "quality").rglob("*") if p.is_file()]
    for path in written:
        assert FAKE_CODE.encode() not in path.read_bytes(), path
    targets = audit.default_targets(s)
    assert data_root / "docs" in targets and data_root / "quality" in targets
    findings, scanned = audit.run(s, [data_root / "docs", data_root / "quality"])
    assert findings == []
    assert scanned >= 3  # index, page, suite page, recorded result (GX's own fonts and logos are skipped)

    # The audit does read the site: a value written into it — even beside GX's assets — is found.
    leaky = index.parent / "static" / "styles" / "data_docs_custom_styles_template.css"
    leaky.write_text(leaky.read_text() + f"\n/* {FAKE_CODE} */\n")
    findings, _ = audit.run(s, [data_root / "docs"])
    assert [(f.path.name, f.kind) for f in findings] == [("data_docs_custom_styles_template.css", "identity_code")]
