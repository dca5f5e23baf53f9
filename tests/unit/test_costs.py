"""The costs feed: monthly costs per partner and service area → cost_month. Harmonise given→expected,
workbook and CSV amounts as exact decimals, and a generated month through the pipeline's steps."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from openpyxl import Workbook, load_workbook

import contracts
from connectors.base import ReadReport
from synthetic import generate
from tesoma import steps
from tesoma.feeds import connector_for
from tesoma.mappings import load_maps
from transforms.harmonise import Context, costs
from warehouse.readers import read_table
from warehouse.schemas import COST_MONTH

MAPPINGS = Path(__file__).resolve().parents[2] / "config" / "mappings"
MONTH = dt.date(2026, 10, 1)
COLUMNS = ["kuukausi", "palvelualue", "kustannus_eur"]


def read(path: Path) -> tuple[pa.Table, ReadReport]:
    report = ReadReport()
    return pa.Table.from_batches(list(connector_for("costs").read(path, report))), report


def test_costs_become_cost_month_rows():
    given = pa.table({
        "kuukausi": pa.array([MONTH, MONTH], pa.date32()),
        "palvelualue": ["järjestötoiminta", "digipalvelut"],
        "kustannus_eur": pa.array([Decimal("7212.77"), Decimal("-20.10")], pa.decimal128(14, 2)),
    })
    maps = load_maps(MAPPINGS, costs.MAPPINGS, "ngo_setlementti")
    tables, report = costs.harmonise(given, maps, Context("ngo_setlementti", "costs", "d1"))
    out = tables["cost_month"]
    assert out.schema == COST_MONTH
    assert out.to_pylist() == [
        {"partner": "ngo_setlementti", "month": MONTH, "service_area": "ngo_activity",
         "service_area_source": "järjestötoiminta", "cost_eur": Decimal("7212.77"), "delivery_id": "d1"},
        {"partner": "ngo_setlementti", "month": MONTH, "service_area": "digital_service",
         "service_area_source": "digipalvelut", "cost_eur": Decimal("-20.10"), "delivery_id": "d1"},
    ]
    assert not report.unmapped


def test_every_agreed_service_area_is_mapped():
    allowed = set(contracts.load("costs").column("palvelualue").allowed or ())
    mapping = load_maps(MAPPINGS, costs.MAPPINGS, "city")["service_area"].mapping
    assert set(mapping) == allowed
    assert set(mapping.values()) == {"primary_care", "dental_care", "maternity_clinic", "child_clinic",
                                     "social_counselling", "wellbeing_counselling", "youth_services", "library",
                                     "ngo_activity", "digital_service"}


def test_amounts_are_exact_decimals_from_a_workbook_and_from_text(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.title = "Kustannukset"
    for row in ([" Kuukausi ", "PALVELUALUE", "kustannus_eur"],
                ["2026-10", "järjestötoiminta", 3021.05],
                [dt.datetime(2026, 10, 1), "digipalvelut", "150,1"],  # Excel turned the month into a date
                ["2026-10", "kirjasto", 0.1 + 0.2]):
        sheet.append(row)
    book.save(tmp_path / "costs_202610.xlsx")
    (tmp_path / "costs_202610.csv").write_bytes(
        "\ufeffkuukausi;palvelualue;kustannus_eur\r\n2026-10;äitiysneuvola;37222,4\r\n".encode())

    from_xlsx, report = read(tmp_path / "costs_202610.xlsx")
    assert from_xlsx.column("kustannus_eur").type == pa.decimal128(14, 2)
    assert from_xlsx.column("kustannus_eur").to_pylist() == [Decimal("3021.05"), Decimal("150.10"), Decimal("0.30")]
    assert from_xlsx.column("kuukausi").to_pylist() == [MONTH] * 3
    assert from_xlsx.column("_errors").null_count == 3 and report.warnings == []
    from_csv, _ = read(tmp_path / "costs_202610.csv")
    assert from_csv.select(COLUMNS).to_pylist() == [
        {"kuukausi": MONTH, "palvelualue": "äitiysneuvola", "kustannus_eur": Decimal("37222.40")}]


def _source_amounts(path: Path) -> list[Decimal]:
    """The amounts as delivered, read independently of the connectors."""
    if path.suffix == ".xlsx":
        rows = list(load_workbook(path, read_only=True).active.iter_rows(values_only=True))[1:]
        return [Decimal(str(r[2])).quantize(Decimal("0.01")) for r in rows]
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # with or without a byte-order mark
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    return [Decimal(r[2].replace(",", ".")) for r in list(csv.reader(io.StringIO(text), delimiter=";"))[1:]]


@pytest.fixture
def generated_month(data_root) -> dict:
    return generate(data_root, start=MONTH, days=2, residents=800, seed=1, fault_rate=0)["feeds"]["costs"]


def test_a_generated_month_of_costs_is_published_whole(data_root, generated_month):
    results = steps.process_date("costs", MONTH)
    by_partner = {r["delivery_id"].split("-")[1]: r for r in results}
    assert set(by_partner) == {"city", "mehilainen", "ngo_mll", "ngo_setlementti"}
    for r in results:
        assert r["state"] == "published" and r["rows_read"] == r["rows_published"] + r["rows_quarantined"]
        assert r["rows_quarantined"] == 0

    expected = Counter()
    for delivery in generated_month["deliveries"]:
        for f in delivery["files"]:
            expected[delivery["partner"]] += sum(_source_amounts(data_root / f["path"]))
    table = read_table(data_root, "cost_month")
    published = Counter()
    for row in table.to_pylist():
        published[row["partner"]] += row["cost_eur"]
    assert published == expected
    assert table["service_area"].null_count == 0 and set(table["month"].to_pylist()) == {MONTH}


def test_a_cost_report_with_a_bad_row_is_rejected_whole(data_root):
    folder = data_root / "landing" / "mehilainen" / "costs"
    folder.mkdir(parents=True)
    (folder / "costs_202610.csv").write_text(
        "kuukausi;palvelualue;kustannus_eur\n2026-10;perusterveydenhuolto;80646,05\n"
        "2026-10;työterveys;1200,00\n", encoding="utf-8")
    [result] = steps.process_date("costs", MONTH)
    assert (result["state"], result["reason"], result["rows_read"], result["rows_quarantined"]) == (
        "rejected", "quality_threshold", 2, 2)
    report = (data_root / "quarantine" / "mehilainen" / result["delivery_id"] / "report.md").read_text(encoding="utf-8")
    assert "palvelualue | allowed_values" in report
