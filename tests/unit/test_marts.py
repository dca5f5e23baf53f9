"""The marts (dbt project ``marts/``) built through ``scorecard.marts.build`` on a tiny sources catalog whose
KPIs can be worked out by hand. One dbt build per session (~15 s); every other test reads its result."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from scorecard import marts

AREA = "33310"
OUTSIDE = "33100"

SERVICE_EVENT_COLUMNS = """
    event_id varchar, person_id varchar, person_id_kind varchar, partner varchar, feed varchar,
    service_area varchar, contact_mode varchar, professional_group varchar, professional_id varchar,
    unit_code varchar, event_start timestamptz, event_date date, status varchar, birth_year smallint,
    age_at_event smallint, sex varchar, home_municipality varchar, home_postal_code varchar,
    assessment_time timestamptz, urgency varchar, source_updated_at timestamptz, delivery_id varchar,
    delivery_date date
"""

# person, day, partner, service_area, contact_mode, professional_group, professional_id, status, age,
# postal code, assessment day, urgency
CONTACTS = [
    # A, aged 5, Tesoma: primary care (city) then dental care (Mehiläinen) 26 days later
    ("A", "2026-01-10", "city", "primary_care", "R10", "physician", "P1", "completed", 5, AREA, None, None),
    ("A", "2026-02-05", "mehilainen", "dental_care", "R10", "dentist", "D1", "completed", 5, AREA, None, None),
    # B, aged 70, Tesoma: four physician visits P1, P1, P2, P1
    ("B", "2026-01-05", "city", "primary_care", "R10", "physician", "P1", "completed", 70, AREA, None, None),
    ("B", "2026-01-20", "city", "primary_care", "R10", "physician", "P1", "completed", 70, AREA, None, None),
    ("B", "2026-02-03", "city", "primary_care", "R10", "physician", "P2", "completed", 70, AREA, "2026-01-20",
     "non_urgent"),
    ("B", "2026-03-01", "city", "primary_care", "R10", "physician", "P1", "completed", 70, AREA, "2026-02-25",
     "non_urgent"),
    # C, aged 40, lives outside the area: counts in contacts, not in reach
    ("C", "2026-03-10", "city", "primary_care", "R71", "nurse", "N1", "completed", 40, OUTSIDE, None, None),
    # D, aged 30, Tesoma: a no-show only, so not a user
    ("D", "2026-03-12", "city", "primary_care", "R10", "nurse", "N1", "no_show", 30, AREA, None, None),
    # E, aged 80, Tesoma: one contact in March 2025, in the windows up to February 2026
    ("E", "2025-03-15", "city", "primary_care", "R20", "nurse", "N2", "completed", 80, AREA, None, None),
]
BANDS = [f"{lo}-{lo + 4}" for lo in range(0, 100, 5)] + ["100+"]


def write_sources(path: Path, *, duplicate_population_row: bool = False) -> Path:
    """A sources catalog like warehouse.catalog.build_views makes: the tables and service_event_current."""
    con = duckdb.connect(str(path))
    con.execute(f"create table service_event ({SERVICE_EVENT_COLUMNS})")
    for i, (person, day, partner, area, mode, group, professional, status, age, postal, assessed, urgency) in \
            enumerate(CONTACTS):
        day = dt.date.fromisoformat(day)
        start = dt.datetime.combine(day, dt.time(9, 0), dt.UTC)
        assessed_at = dt.datetime.combine(dt.date.fromisoformat(assessed), dt.time(8, 0), dt.UTC) if assessed else None
        con.execute("insert into service_event values (?, ?, 'hetu', ?, 'feed', ?, ?, ?, ?, 'U1', ?, ?, ?, ?, ?, "
                    "'female', '837', ?, ?, ?, ?, 'delivery-2', ?)",
                    [f"e{i}", f"person-{person}", partner, area, mode, group, professional, start, day, status,
                     day.year - age, age, postal, assessed_at, urgency, start, day])
    # An earlier version of B's last visit said no-show: the current view must show the completed one.
    con.execute("insert into service_event select * replace ('no_show' as status, 'delivery-1' as delivery_id, "
                "source_updated_at - interval 1 day as source_updated_at) from service_event where event_id = 'e5'")
    con.execute("""create view service_event_current as select * exclude (_version) from (
        select *, row_number() over (partition by event_id order by source_updated_at desc, delivery_date desc,
        delivery_id desc) as _version from service_event) where _version = 1""")
    con.execute("create table population (year smallint, postal_code varchar, age_band varchar, sex varchar, "
                "residents integer, delivery_id varchar)")
    for year in (2025, 2026):
        for band in BANDS:
            con.execute("insert into population values (?, ?, ?, 'male', 10, 'p')", [year, AREA, band])
            con.execute("insert into population values (?, ?, ?, 'male', 1000, 'p')", [year, OUTSIDE, band])
    if duplicate_population_row:
        con.execute("insert into population select * from population limit 1")
    con.execute("create table access_t3 (partner varchar, measure_date date, unit_code varchar, "
                "professional_group varchar, t3_days double, delivery_id varchar)")
    con.execute("insert into access_t3 values ('city', '2026-03-02', 'U1', 'physician', 4, 'a'), "
                "('city', '2026-03-03', 'U1', 'physician', 6, 'a'), ('city', '2026-03-04', 'U2', 'physician', 20, 'a'),"
                "('city', '2026-03-02', 'U1', 'nurse', 1, 'a')")
    con.execute("create table activity_count (partner varchar, feed varchar, activity_date date, service_area varchar, "
                "unit_code varchar, activity_type varchar, measure varchar, value double, delivery_id varchar)")
    con.execute("insert into activity_count values ('city', 'f', '2026-03-02', 'youth_services', 'Y1', 'open_house', "
                "'visits', 40, 'a'), "
                "('city', 'f', '2026-03-03', 'youth_services', 'Y1', 'open_house', 'visits', 2, 'a'),"
                "('ngo_mll', 'f', '2026-03-05', 'ngo_activity', 'G1', 'family_cafe', 'participants', 12, 'a')")
    con.execute("create table cost_month (partner varchar, month date, service_area varchar, cost_eur decimal(14, 2), "
                "delivery_id varchar)")
    con.execute("insert into cost_month values ('city', '2026-03-01', 'primary_care', 6000, 'c'), "
                "('mehilainen', '2026-03-01', 'primary_care', 3000, 'c'), "
                "('ngo_mll', '2026-03-01', 'primary_care', 1000, 'c'),"
                "('mehilainen', '2026-03-01', 'dental_care', 500, 'c')")
    con.close()
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("marts")
    sources = write_sources(base / "sources.duckdb")
    run = marts.build(sources, base / "marts.duckdb", base / "dbt", last_month=dt.date(2026, 3, 1))
    con = duckdb.connect(str(base / "marts.duckdb"), read_only=True)
    yield run, con
    con.close()


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_build_runs_every_model_and_test(built):
    run, _ = built
    assert {"stg_contacts", "int_user_windows", "int_continuity_windows", "kpi_reach", "kpi_monthly"} <= set(run.models)
    # generic, singular and unit tests (every KPI formula has given → expected rows in marts/models/**/*.yml)
    assert run.tests_passed >= 100


def test_reach_in_march_2026(built):
    _, con = built
    # A (0-6) and B (65-74) are resident users; C lives elsewhere, D only missed an appointment, E's only
    # contact (March 2025) left the window. 210 residents; 0-6 is 10 + 2/5 × 10 = 14, 65+ is 80.
    assert rows(con, "select breakdown, group_value, users, residents, reach_pct from kpi_reach "
                     "where month = '2026-03-01' and users > 0 order by breakdown, group_value") == [
        ("age_group", "0-6", 1, 14, 7.14),
        ("age_group", "65+", 1, 80, 1.25),
        ("age_group", "65-74", 1, 20, 5.0),
        ("age_group", "all", 2, 210, 0.95),
        ("all", "all", 2, 210, 0.95),
        ("service_area", "dental_care", 1, 210, 0.48),
        ("service_area", "primary_care", 2, 210, 0.95),
    ]


def test_reach_window_keeps_a_contact_for_12_months(built):
    _, con = built
    # E (75+) had one contact in March 2025: a user up to February 2026, not in March 2026.
    assert rows(con, "select month, users from kpi_reach where breakdown = 'age_group' and group_value = '75+' "
                     "and month >= '2026-01-01' order by month") == [
        (dt.date(2026, 1, 1), 1), (dt.date(2026, 2, 1), 1), (dt.date(2026, 3, 1), 0)]


def test_continuity_of_b(built):
    _, con = built
    # B's physician visits P1, P1, P2 | P1: February N=3, March N=4 (see docs/kpis.md, worked example).
    assert rows(con, "select month, eligible_persons, coc_mean, upc_mean, secon_mean from kpi_continuity "
                     "where professional_group = 'physician' and age_group = '65+' order by month") == [
        (dt.date(2026, 2, 1), 1, 0.3333, 0.6667, 0.5),
        (dt.date(2026, 3, 1), 1, 0.5, 0.75, 0.3333),
    ]


def test_scorecard_has_every_kpi_every_month_and_not_delivered_is_null(built):
    _, con = built
    kpis = rows(con, "select count(*) from kpi_definitions")[0][0]
    months = rows(con, "select count(distinct month) from kpi_monthly")[0][0]
    assert rows(con, "select count(*) from kpi_monthly")[0][0] == kpis * months
    assert rows(con, "select distinct kpi_id, value, status from kpi_monthly where status = 'not_delivered' "
                     "order by 1") == [("satisfaction", None, "not_delivered"),
                                       ("specialised_care_use", None, "not_delivered")]
    march = dict(rows(con, "select kpi_id, value from kpi_monthly where month = '2026-03-01'"))
    assert march["reach"] == 0.95
    assert march["coc_physician"] == 0.5
    assert march["wait_within_7d"] == 100.0  # B waited 4 days
    assert march["no_show_rate"] == 33.33  # D's no-show of 3 contacts (B's current version is completed)
    assert march["cost_per_resident"] == 50.0  # 10 500 € / 210 residents
    assert march["youth_visits"] == 42.0


def test_every_column_of_a_published_table_is_classified(built):
    run, con = built
    published = marts.published_models(run.manifest)
    models = {node["name"] for node in run.manifest["nodes"].values() if node["resource_type"] == "model"}
    assert set(published) == {name for name in models if name.startswith("kpi_")}
    for name, spec in published.items():
        classified = set(spec.get("keys", [])) | set(spec.get("labels", [])) | set(spec.get("person_counts", [])) \
            | set(spec.get("counts", [])) | set(spec.get("rates", {})) | set(spec.get("means", {})) \
            | set(spec.get("euros", {}).get("columns", [])) | set(spec.get("drop", [])) \
            | ({spec["mixed"]["value"]} if "mixed" in spec else set())
        columns = {c for (c,) in rows(con, "select column_name from information_schema.columns "
                                           f"where table_name = '{name}'")}
        assert columns - classified == set(), f"{name}: unclassified columns"


def test_published_tables_pass_disclosure_control(built):
    from scorecard import disclosure

    run, con = built
    rules = disclosure.load_rules()
    for name, spec in marts.published_models(run.manifest).items():
        protected = disclosure.protect(con.execute(f"select * from {name}").df(), spec, rules, name)
        assert len(protected.table) == rows(con, f"select count(*) from {name}")[0][0]


def test_a_failing_test_names_itself(tmp_path):
    sources = write_sources(tmp_path / "sources.duckdb", duplicate_population_row=True)
    with pytest.raises(marts.MartsError, match="unique_combination_of_columns_stg_population"):
        marts.build(sources, tmp_path / "marts.duckdb", tmp_path / "dbt", select="stg_population")


def test_missing_sources_are_named(tmp_path):
    with pytest.raises(marts.MartsError, match="no sources catalog"):
        marts.build(tmp_path / "nowhere.duckdb", tmp_path / "marts.duckdb", tmp_path / "dbt")


def test_every_model_documents_its_grain_and_every_column(built):
    run, con = built
    for node in run.manifest["nodes"].values():
        if node["resource_type"] != "model":
            continue
        built_columns = {c for (c,) in rows(con, "select column_name from information_schema.columns "
                                                 f"where table_name = '{node['name']}'")}
        documented = {name for name, column in node["columns"].items() if column.get("description")}
        assert "Grain" in node["description"], node["name"]
        assert built_columns - documented == set(), node["name"]
