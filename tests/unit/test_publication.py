"""The monthly publication: what it records, that it fails closed, that a tagged state reproduces it after a
correction, and the analysts' kpi_* views.

A small generated warehouse (3 days of October 2026, a few feeds) is built once for the module. The marts
step is a stand-in (``stand_in_marts``: two KPIs and the actual cost, computed in DuckDB from the sources
catalog of the state), so these tests do not wait for dbt and test publication itself: state, tag,
disclosure control, alliance scoring, manifest and reproduction. tests/unit/test_publication_marts.py (e2e) runs
the same with the real dbt project.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import types
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tesoma.config import PROJECT_DIR

MONTH = dt.date(2026, 10, 1)
FEEDS = ("city_visits", "costs", "population")

KPI_MONTHLY_SPEC = {
    "keys": ["month", "kpi_id"], "labels": ["result_area", "unit", "status"],
    "euros": {"columns": [], "producers": "producers", "top_two_share": "top_two_share", "alliance_level": True},
    "drop": ["top_two_share", "producers"],
    "mixed": {"value": "value", "kind_column": "unit", "persons": "persons",
              "kinds": {"pct": "rate", "days": "mean", "index": "mean", "count": "count", "eur": "euro",
                        "eur_per_resident": "euro"}},
    "person_counts": ["persons"],
}

STAND_IN_SQL = """
attach '{sources}' as warehouse (read_only);
create or replace table kpi_monthly as
with visits as (
    select date_trunc('month', event_date)::date as month, count(distinct person_id) as persons,
           100.0 * count(*) filter (where status = 'no_show') / count(*) as no_show
    from warehouse.service_event_current group by 1),
cost as (select month::date as month, sum(cost_eur)::double as cost, count(distinct partner) as producers
         from warehouse.cost_month group by 1)
select month, 'reach' as kpi_id, 'service_system' as result_area, 'pct' as unit,
       round(100.0 * persons / 2000, 1) as value, persons::bigint as persons, 'delivered' as status,
       null::int as producers, null::double as top_two_share from visits
union all
select month, 'no_show_rate', 'service_system', 'pct', round(no_show, 1), persons, 'delivered', null, null from visits
union all
select month, 'satisfaction', 'satisfaction', 'pct', null, null, 'not_delivered', null, null from visits
union all
select month, 'actual_cost', 'service_system', 'eur', cost, null, 'delivered', producers, 0.6 from cost;
"""


def stand_in_marts(calls: list) -> types.ModuleType:
    """``scorecard.marts`` with the interface's ``build`` and ``published_models``, computing a tiny
    kpi_monthly from the sources catalog it is given."""
    module = types.ModuleType("scorecard.marts")

    class MartsRun:
        def __init__(self):
            self.models, self.tests_passed, self.manifest = {"kpi_monthly": 0.1}, 0, {"stand_in": True}

    def build(sources_db: Path, marts_db: Path, work_dir: Path, *, last_month=None, full_refresh=True, select=None):
        calls.append({"sources_db": Path(sources_db), "marts_db": Path(marts_db), "last_month": last_month})
        marts_db.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(marts_db)) as con:
            con.execute(STAND_IN_SQL.format(sources=str(sources_db).replace("'", "''")))
        return MartsRun()

    module.build = build
    module.published_models = lambda manifest: {"kpi_monthly": KPI_MONTHLY_SPEC}
    module.MartsError = RuntimeError
    return module


@pytest.fixture(scope="module")
def warehouse_root(tmp_path_factory):
    from tests.conftest import processed_warehouse

    with processed_warehouse(tmp_path_factory.mktemp("publication") / "data", days=3, residents=600, seed=7,
                             feeds=FEEDS) as root:
        yield root


@pytest.fixture(scope="module")
def env(warehouse_root):
    """Settings of the module's warehouse, the stand-in marts, and the KPI ids the alliance file may name."""
    import scorecard
    from scorecard import alliance
    from tesoma.config import settings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TESOMA_DATA_ROOT", str(warehouse_root))
        calls: list = []
        fake = stand_in_marts(calls)
        patch.setitem(sys.modules, "scorecard.marts", fake)
        patch.setattr(scorecard, "marts", fake, raising=False)
        if not alliance.KPI_DEFINITIONS.exists():  # the marts' seed (another part of this issue) not there yet
            real_load = alliance.load
            ids = {"reach", "reach_0_6", "reach_7_17", "reach_65plus", "multi_area_users", "t3_median_physician",
                   "wait_within_14d", "coc_physician_65plus", "digital_share", "no_show_rate"}
            patch.setattr(alliance, "load", lambda path=alliance.CONFIG, kpi_ids=None, **kw: real_load(
                path, kpi_ids or ids, **kw))
        yield types.SimpleNamespace(settings=settings(), root=warehouse_root, calls=calls)


@pytest.fixture(scope="module")
def published(env):
    from scorecard import publication

    lines: list[str] = []
    pub = publication.publish(env.settings, MONTH, echo=lines.append)
    return types.SimpleNamespace(pub=pub, lines=lines, env=env, sources_call=env.calls[-1])


def test_manifest_names_state_tag_deliveries_versions_and_table_hashes(published):
    from scorecard import publication
    from warehouse import states
    from warehouse.ledger import Ledger

    pub, env = published.pub, published.env
    assert pub.publication_id.startswith("2026-10-")
    manifest = json.loads((pub.folder / "manifest.json").read_text())
    engine = Ledger(env.settings.ledger_url).engine
    head = states.head(engine)
    assert manifest["warehouse_state"]["state_id"] == head.state_id
    assert manifest["warehouse_state"]["tag"] == f"publication-{pub.publication_id}"
    assert states.resolve(engine, f"publication-{pub.publication_id}").state_id == head.state_id
    assert manifest["warehouse_state"]["snapshots"] == head.snapshots
    behind = manifest["deliveries"]["behind"]
    assert behind["city_visits/city"]["deliveries"] == 3
    assert behind["city_visits/city"]["first_date"] == "2026-10-01"
    assert {v["feed"] for v in behind.values()} == set(FEEDS)
    # the other daily feeds carried but not processed here show as missing dates of the month
    assert "city_activity/city" in manifest["deliveries"]["missing"]
    assert manifest["deliveries"]["missing"]["city_visits/city"][0] == "2026-10-04"
    assert manifest["disclosure_rules"]["version"] == "1.0.0"
    assert manifest["alliance_config"]["version"] == "2026.1" and manifest["alliance_config"]["example"] is True
    code = manifest["code_version"]
    assert len(code["sources_sha256"]) == 64 and (code["git"] or code["package"])
    for name, table in manifest["tables"].items():
        assert publication.file_sha256(pub.folder / f"{name}.parquet") == table["sha256"]
    assert set(manifest["tables"]) == {"kpi_monthly", "kpi_scorecard", "kpi_budget"}
    stored, used = pub.folder / "config" / "alliance.yaml", PROJECT_DIR / "config" / "alliance.yaml"
    assert stored.read_bytes() == used.read_bytes()
    assert (pub.folder / "report.html").exists()
    latest = json.loads((env.root / "published" / "latest.json").read_text())
    assert latest["publication_id"] == pub.publication_id
    assert published.sources_call["last_month"] == MONTH
    assert published.sources_call["sources_db"] == env.root / "restricted" / "sources" / f"state-{head.state_id}.duckdb"


def test_published_tables_went_through_disclosure_control(published):
    pub = published.pub
    monthly = pq.read_table(pub.folder / "kpi_monthly.parquet")
    assert monthly.schema.metadata[b"tesoma.disclosure_rules"] == b"1.0.0"
    assert "top_two_share" not in monthly.column_names and "disclosure_note" in monthly.column_names
    rows = {r["kpi_id"]: r for r in monthly.to_pylist() if r["month"] == MONTH}
    assert rows["reach"]["persons"] % 5 == 0  # counts rounded to 5
    assert rows["satisfaction"]["value"] is None and rows["satisfaction"]["status"] == "not_delivered"
    scorecard = {r["kpi_id"]: r for r in pub.table("kpi_scorecard").to_pylist() if r["month"] == MONTH}
    assert scorecard["satisfaction"]["status"] == "not_delivered" and scorecard["satisfaction"]["score"] is None
    reach = scorecard["reach"]
    assert (reach["target"], reach["floor"], reach["weight"]) == (70.0, 55.0, 0.15)
    expected = min(1.0, max(0.0, (rows["reach"]["value"] - 55.0) / 15.0))
    assert reach["score"] == pytest.approx(expected)  # recomputable from the published value
    budget = pub.table("kpi_budget")
    assert str(budget.schema.field("actual").type) == "decimal128(18, 2)"
    october = [r for r in budget.to_pylist() if r["month"] == MONTH][0]
    assert october["period"] == "2026" and october["actual"] is not None


def test_a_second_publication_of_the_month_gets_the_next_number(published):
    from scorecard import publication

    again = publication.publish(published.env.settings, MONTH, echo=lambda _l: None)
    first, second = publication.parse_id(published.pub.publication_id), publication.parse_id(again.publication_id)
    assert second[1] == first[1] + 1
    assert again.tables == published.pub.tables  # same state, same code, same configs: same bytes


def test_a_failure_leaves_nothing_half_written(env, monkeypatch):
    from scorecard import disclosure, publication

    before = sorted(p.name for p in (env.root / "published").iterdir()) if (env.root / "published").exists() else []
    latest_before = (env.root / "published" / "latest.json").read_bytes() if before else None

    def refuse(*args, **kwargs):
        raise disclosure.DisclosureError("kpi_monthly: column 'x' has no disclosure rule")

    monkeypatch.setattr(disclosure, "protect", refuse)
    with pytest.raises(disclosure.DisclosureError):
        publication.publish(env.settings, MONTH, echo=lambda _l: None)
    after = sorted(p.name for p in (env.root / "published").iterdir())
    assert after == before or after == sorted(set(before) | {"latest.json"})
    assert not [n for n in after if n.startswith(".")]
    if latest_before is not None:
        assert (env.root / "published" / "latest.json").read_bytes() == latest_before


@pytest.mark.parametrize(("month", "message"), [
    (dt.date(2099, 1, 1), "is in the future"),
    (dt.date(2026, 3, 1), "no data for 2026-03"),
])
def test_months_it_cannot_publish_are_refused_in_one_line(env, month, message):
    from scorecard import publication

    with pytest.raises(publication.PublicationError, match=message) as caught:
        publication.publish(env.settings, month, echo=lambda _l: None)
    assert "\n" not in str(caught.value)


def test_an_empty_warehouse_is_refused(tmp_path, monkeypatch):
    from scorecard import publication
    from tesoma.config import settings

    monkeypatch.setenv("TESOMA_DATA_ROOT", str(tmp_path))
    monkeypatch.delenv("TESOMA_LEDGER_URL", raising=False)
    with pytest.raises(publication.PublicationError, match="the warehouse is empty"):
        publication.publish(settings(), dt.date(2026, 10, 1), echo=lambda _l: None)


def test_incomplete_month_is_listed(env):
    from scorecard import publication

    with pytest.raises(publication.PublicationError, match=r"2026-10 is not complete: .*city_visits/city: 28 date"):
        publication.check_month_published(env.settings, MONTH)


def test_kpi_views_show_the_latest_publication(published):
    from warehouse import catalog
    from warehouse.layout import Layout

    con = duckdb.connect()
    views = catalog.published_views(con, Layout(published.env.root))
    assert {"kpi_monthly", "kpi_scorecard", "kpi_budget"} <= set(views)
    latest = json.loads((published.env.root / "published" / "latest.json").read_text())["publication_id"]
    (comment,) = con.execute("select comment from duckdb_views() where view_name = 'kpi_scorecard'").fetchone()
    assert latest in comment
    assert con.execute("select count(*) from kpi_scorecard where kpi_id = 'satisfaction' and value is null"
                       ).fetchone()[0] >= 1


def test_the_analysts_catalog_gets_the_kpi_views_on_refresh(published):
    import warehouse
    from warehouse import catalog
    from warehouse.layout import Layout

    views = catalog.refresh(Layout(published.env.root), published.env.settings.ledger_url)
    assert {"service_event_current", "kpi_monthly", "kpi_scorecard", "kpi_budget"} <= set(views)
    with warehouse.connect(published.env.root) as con:
        statuses = dict(con.execute("select kpi_id, status from kpi_scorecard where month = ?", [MONTH]).fetchall())
    assert statuses["satisfaction"] == "not_delivered"


def test_no_kpi_views_before_the_first_publication(tmp_path):
    from warehouse import catalog
    from warehouse.layout import Layout

    assert catalog.published_views(duckdb.connect(), Layout(tmp_path)) == []


def test_reproduce_after_a_correction_gives_identical_tables_and_a_new_publication_differs(published):
    """A correction of 2 October is published after the publication: reproduce rebuilds the publication from its
    tag — every table identical — while a new publication sees the corrected figures."""
    from scorecard import publication
    from tesoma import steps

    env, pub = published.env, published.pub
    landing = env.root / "landing" / "city" / "city_visits"
    original = sorted(landing.glob("*20261002*"))[0]
    # The city corrects 2 October: every visit of the day is sent again as a no-show (a second file, sequence 2).
    raw = original.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "cp1252"
    lines = raw.decode(encoding).splitlines()
    status = lines[0].split(";").index("tila")
    corrected = [lines[0]] + [";".join(c if i != status else "ei saapunut" for i, c in enumerate(row.split(";")))
                              for row in lines[1:]]
    correction = original.with_name(f"{original.stem}_2.csv")
    correction.write_bytes(("\r\n".join(corrected) + "\r\n").encode(encoding))
    results = steps.process_date("city_visits", dt.date(2026, 10, 2))
    assert any(r.get("state") == "published" for r in results), results

    lines_out: list[str] = []
    result = publication.reproduce(env.settings, pub.publication_id, echo=lines_out.append)
    assert result.identical, result.tables
    assert any("every table identical" in line for line in lines_out)

    newer = publication.publish(env.settings, MONTH, echo=lambda _l: None)
    assert newer.manifest["warehouse_state"]["state_id"] > pub.manifest["warehouse_state"]["state_id"]
    assert newer.tables["kpi_monthly"] != pub.tables["kpi_monthly"]
    old = {r["kpi_id"]: r["value"] for r in pub.table("kpi_monthly").to_pylist() if r["month"] == MONTH}
    new = {r["kpi_id"]: r["value"] for r in newer.table("kpi_monthly").to_pylist() if r["month"] == MONTH}
    assert new["no_show_rate"] > old["no_show_rate"]
