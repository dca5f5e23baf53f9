"""The monthly HTML report: self-contained, deterministic, honest about what is missing; served by the plugin;
and `tesoma report`'s one-line errors.

The report is rendered from a publication folder made here by hand (``make_publication``): a published
kpi_monthly of three months (as disclosure control leaves it), scored with the real config/alliance.yaml by
the publication's own functions — no warehouse needed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

MONTH = dt.date(2026, 10, 1)
INCENTIVE = {"reach", "reach_0_6", "reach_7_17", "reach_65plus", "multi_area_users", "t3_median_physician",
             "wait_within_14d", "coc_physician_65plus", "digital_share", "no_show_rate"}

# month, kpi_id, result_area, unit, value, persons, status  (value None: withheld or not delivered)
ROWS = [
    (dt.date(2026, 8, 1), "reach", "service_system", "pct", 58.0, 1200, "delivered"),
    (dt.date(2026, 9, 1), "reach", "service_system", "pct", 61.5, 1230, "delivered"),
    (MONTH, "reach", "service_system", "pct", 64.2, 1285, "delivered"),
    (dt.date(2026, 8, 1), "no_show_rate", "service_system", "pct", 5.1, 900, "delivered"),
    (dt.date(2026, 9, 1), "no_show_rate", "service_system", "pct", 4.4, 905, "delivered"),
    (MONTH, "no_show_rate", "service_system", "pct", 4.9, 910, "delivered"),
    (MONTH, "coc_physician_65plus", "older_people", "index", None, 5, "delivered"),  # withheld: < 10 persons
    (dt.date(2026, 8, 1), "satisfaction", "satisfaction", "pct", None, None, "not_delivered"),
    (dt.date(2026, 9, 1), "satisfaction", "satisfaction", "pct", None, None, "not_delivered"),
    (MONTH, "satisfaction", "satisfaction", "pct", None, None, "not_delivered"),
    (dt.date(2026, 8, 1), "actual_cost", "service_system", "eur", 1_190_000.0, None, "delivered"),
    (dt.date(2026, 9, 1), "actual_cost", "service_system", "eur", 1_201_500.5, None, "delivered"),
    (MONTH, "actual_cost", "service_system", "eur", 1_187_250.0, None, "delivered"),
]


def kpi_monthly() -> pa.Table:
    names = ["month", "kpi_id", "result_area", "unit", "value", "persons", "status"]
    columns = list(zip(*ROWS, strict=True))
    types = [pa.date32(), pa.string(), pa.string(), pa.string(), pa.float64(), pa.int64(), pa.string()]
    return pa.table({n: pa.array(c, t) for n, c, t in zip(names, columns, types, strict=True)})


def terms(example: bool = True):
    from scorecard import alliance

    config = alliance.CONFIG
    if not example:
        return _with_example_false(alliance)
    return alliance.load(config, kpi_ids=None if alliance.KPI_DEFINITIONS.exists() else INCENTIVE | {"satisfaction"})


def _with_example_false(alliance):
    import dataclasses

    loaded = alliance.load(alliance.CONFIG, kpi_ids=None if alliance.KPI_DEFINITIONS.exists() else INCENTIVE)
    return dataclasses.replace(loaded, example=False)


def make_publication(folder: Path, example: bool = True, created_at: str = "2026-11-05T07:00:00+00:00") -> dict:
    """A publication folder as ``publication.publish`` leaves it (tables, manifest), without the warehouse."""
    from scorecard import publication

    folder.mkdir(parents=True, exist_ok=True)
    monthly = kpi_monthly()
    alliance_terms = terms(example)
    tables = {"kpi_monthly": monthly, "kpi_scorecard": publication.scorecard_table(monthly, alliance_terms),
              "kpi_budget": publication.budget_table(monthly, alliance_terms)}
    shas = {n: {"sha256": publication.write_table(t, folder / f"{n}.parquet", "1.0.0"), "rows": t.num_rows,
                "suppressed": None} for n, t in tables.items()}
    manifest = {
        "publication_id": "2026-10-1", "month": MONTH.isoformat(), "created_at": created_at,
        "warehouse_state": {"state_id": 42, "tag": "publication-2026-10-1", "created_at": "2026-11-04T06:00:00+00:00",
                            "delivery_id": "x", "snapshots": {"service_event": 1}},
        "deliveries": {"window": ["2025-11-01", "2026-10-31"],
                       "behind": {"city_visits/city": {"feed": "city_visits", "partner": "city", "deliveries": 365,
                                                       "first_date": "2025-11-01", "last_date": "2026-10-31",
                                                       "rows_published": 181000}},
                       "missing": {"city_access/city": ["2026-10-12"]},
                       "rejected": [{"delivery_id": "city_access-city-20261012-1-abc", "feed": "city_access",
                                     "partner": "city", "delivery_date": "2026-10-12",
                                     "reason": "wrong encoding: UTF-16"}],
                       "quarantined": [], "late": []},
        "code_version": {"git": "d8f3fa9", "package": "0.1.0", "sources_sha256": "ab" * 32},
        "disclosure_rules": {"version": "1.0.0"},
        "alliance_config": {"version": alliance_terms.version, "example": alliance_terms.example},
        "tables": shas,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    return manifest


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    from scorecard import report

    folder = tmp_path_factory.mktemp("report") / "published" / "2026-10-1"
    return report.write(folder, make_publication(folder)).read_text(encoding="utf-8")


def _row(page: str, kpi_id: str) -> str:
    (row,) = re.findall(rf"<tr><td[^>]*>[^<]*<span class='muted small'>{kpi_id}</span>.*?</tr>", page)
    return row


def test_report_fetches_nothing(page):
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "<script" not in page.lower() and "@import" not in page
    assert not re.search(r"url\(\s*['\"]?(?!#)", page)  # only references inside the page (clip paths)
    assert "<link" not in page.lower()  # no stylesheet or font from anywhere
    assert page.count("<svg") >= 3  # the two charts and sparklines are inline


def test_not_delivered_is_said_never_zero(page):
    row = _row(page, "satisfaction")
    assert "not delivered" in row
    assert not re.search(r">\s*0(?:[.,]0+)?\s*%?\s*<", row)


def test_withheld_value_is_a_dot_with_the_note(page):
    row = _row(page, "coc_physician_65plus")
    assert "class='withheld'" in row and ">·<" in row
    assert "withheld by disclosure control" in page


def test_scorecard_row_has_value_target_floor_score_and_trend(page):
    row = _row(page, "reach")
    assert "64.2 %" in row and "70.0 %" in row and "55.0 %" in row
    assert "0.61" in row  # (64.2 - 55) / (70 - 55) = 0.613
    assert "+2.7 pp" in row and 'class="good"' in row  # up from 61.5, and higher is better
    no_show = _row(page, "no_show_rate")
    assert "+0.5 pp" in no_show and 'class="bad"' in no_show  # up, lower is better


def test_report_states_provenance_and_example_warning(page):
    for text in ("warehouse state 42", "publication-2026-10-1", "d8f3fa9", "version 1.0.0", "EXAMPLE values",
                 "city_access/city", "rejected", "tesoma report --reproduce 2026-10-1", "Gain/pain providers"):
        assert text in page, text


def test_no_example_warning_for_agreed_figures(tmp_path):
    from scorecard import report

    folder = tmp_path / "p"
    page = report.write(folder, make_publication(folder, example=False)).read_text()
    assert "EXAMPLE values" not in page


def test_equal_inputs_give_equal_pages(tmp_path):
    from scorecard import report

    pages = []
    for name in ("a", "b"):
        folder = tmp_path / name
        pages.append(report.write(folder, make_publication(folder)).read_bytes())
    assert pages[0] == pages[1]
    later = tmp_path / "c"
    other = report.write(later, make_publication(later, created_at="2026-11-06T08:00:00+00:00")).read_text()
    assert other.replace("2026-11-06T08:00:00+00:00", "2026-11-05T07:00:00+00:00").encode() == pages[0]


def test_plugin_serves_published_reports_only(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from orchestration.plugin import TesomaPlugin, create_app

    monkeypatch.setenv("TESOMA_DATA_ROOT", str(tmp_path))
    client = TestClient(create_app())
    assert client.get("/reports/latest").status_code == 404  # nothing published yet
    folder = tmp_path / "published" / "2026-10-1"
    from scorecard import report

    report.write(folder, make_publication(folder))
    (tmp_path / "published" / "latest.json").write_text(json.dumps({"publication_id": "2026-10-1",
                                                                    "month": "2026-10-01"}))
    (tmp_path / "restricted").mkdir()
    (tmp_path / "restricted" / "report.html").write_text("exact figures")
    latest = client.get("/reports/latest")
    assert latest.status_code == 200 and "Tesoma alliance scorecard" in latest.text
    assert client.get("/reports/2026-10-1").text == latest.text
    assert client.get("/reports/2026-10-2").status_code == 404
    for probe in ("/reports/..%2Frestricted", "/reports/../restricted/report.html", "/reports/restricted"):
        response = client.get(probe)
        assert "exact figures" not in response.text
    (view,) = TesomaPlugin.external_views
    assert view["href"] == "/tesoma/reports/latest" and view["destination"] == "nav"


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["report"], 2, "one of the arguments --month --reproduce is required"),
    (["report", "--month", "2026-13"], 2, "'2026-13' is not a month like 2026-10"),
    (["report", "--month", "2099-01"], 1, "2099-01 is in the future"),
    (["report", "--month", "2026-10"], 1, "the warehouse is empty"),
    (["report", "--reproduce", "october"], 1, "'october' is not a publication id like 2026-10-1"),
    (["report", "--reproduce", "2026-10-1"], 1, "no publication 2026-10-1"),
])
def test_report_command_errors_are_one_line(data_root, capsys, argv, code, message):
    from tesoma.cli import main

    with pytest.raises(SystemExit) if code == 2 else _no_exit() as _:
        assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("tesoma: error: ") and message in err and err.count("\n") == 1


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_without_published_costs_the_budget_says_so(tmp_path, monkeypatch):
    from scorecard import report
    from tests.unit import test_report

    monkeypatch.setattr(test_report, "ROWS", [r for r in ROWS if r[1] != "actual_cost"])
    folder = tmp_path / "p"
    page = report.write(folder, make_publication(folder)).read_text()
    assert "No alliance-level actual cost is published" in page
    assert "Cost vs target budget" not in page  # no headline figure made up from nothing
