"""The county-scale generator (synthetic.county) at a tiny scale: a proper warehouse state, every column."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import pyarrow.parquet as pq
import pytest

from synthetic.county import generate_county, months_ending
from warehouse import catalog, readers, states
from warehouse.iceberg import Place, warehouse_schema
from warehouse.layout import Layout
from warehouse.ledger import Ledger
from warehouse.schemas import TABLES

RESIDENTS, MONTHS, CONTACTS = 2_000, 3, 6_000
HETU = re.compile(r"^\d{6}[-+A-FYXWVU]\d{3}[0-9A-Y]$")


def _generate(root, seed=7):
    return generate_county(root, residents=RESIDENTS, months=MONTHS, last_month=dt.date(2026, 10, 1), seed=seed,
                           contacts=CONTACTS, echo=lambda line: None)


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    root = tmp_path_factory.mktemp("county") / "data"
    figures = _generate(root)
    catalog.refresh(Layout(root), f"sqlite:///{root / 'ledger.sqlite'}")
    con = duckdb.connect(str(Layout(root).catalog), read_only=True)
    yield root, figures, con
    con.close()


def test_the_warehouse_state_records_every_table_and_the_catalog_reads_it(county):
    root, figures, con = county
    head = states.head(Ledger(f"sqlite:///{root / 'ledger.sqlite'}").engine)
    assert head.state_id == figures["state_id"]
    assert set(head.snapshots) == set(TABLES)
    assert con.execute("select state_id from warehouse_state").fetchone() == (head.state_id,)
    for table, rows in figures["rows"].items():
        assert con.execute(f"select count(*) from {table}").fetchone() == (rows,)


def test_every_schema_column_is_there_with_its_type(county):
    root, _, _ = county
    files = readers.files_for(Place.for_root(root, f"sqlite:///{root / 'ledger.sqlite'}"),
                              states.head(Ledger(f"sqlite:///{root / 'ledger.sqlite'}").engine))
    for table in TABLES:
        schema = pq.read_schema(files[table][0])
        expected = warehouse_schema(table)
        assert schema.names == expected.names, table
        for field in expected:
            assert schema.field(field.name).type == field.type, (table, field.name)


def test_counts_are_as_asked(county):
    _, figures, con = county
    assert figures["residents"] == RESIDENTS
    # Poisson draws: the contacts are near the number asked, each one event with one current version.
    assert abs(figures["contacts"] - CONTACTS) < 0.1 * CONTACTS
    assert con.execute("select count(*), count(distinct event_id) from service_event_current").fetchone() == (
        figures["contacts"], figures["contacts"])
    months = con.execute("select count(distinct date_trunc('month', event_date)) from service_event").fetchone()[0]
    assert months == MONTHS
    assert con.execute("select min(event_date), max(event_date) from service_event").fetchone() == (
        dt.date(2026, 8, 1), dt.date(2026, 10, 31))
    residents = con.execute("select sum(residents) from population where year = 2026").fetchone()[0]
    assert RESIDENTS * 0.9 < residents <= RESIDENTS
    # One file per partner and month (the population: per year), partitioned by the month's first day.
    assert con.execute("select count(distinct delivery_date), min(delivery_date) from service_event").fetchone() == (
        MONTHS, dt.date(2026, 8, 1))


def test_pseudonyms_are_never_identity_codes_and_people_are_consistent(county):
    _, _, con = county
    ids = [r[0] for r in con.execute("select distinct person_id from service_event").fetchall()]
    assert ids and not any(HETU.match(i.upper()) for i in ids)
    assert all(re.fullmatch(r"[a-z2-7]{26}", i) for i in ids)
    # Birth year, sex and home of a person are the same in every contact (no one here is 90 or over).
    assert con.execute("""
        select count(*) from (select person_id from service_event where age_at_event < 90 group by person_id
        having count(distinct birth_year) > 1 or count(distinct sex) > 1 or count(distinct home_postal_code) > 1)
    """).fetchone() == (0,)
    professionals = {r[0] for r in con.execute(
        "select distinct professional_id from service_event where professional_id is not null").fetchall()}
    assert professionals and not professionals & set(ids)


def test_the_figures_the_kpis_need_are_realistic(county):
    _, _, con = county
    partners = {r[0] for r in con.execute("select distinct partner from service_event").fetchall()}
    assert {"city", "mehilainen"} < partners and any(p.startswith("ngo_") for p in partners)
    statuses = dict(con.execute("select status, count(*) from service_event_current group by all").fetchall())
    assert set(statuses) == {"completed", "cancelled", "no_show"}
    waits = con.execute("""
        select max(date_diff('day', assessment_time, event_start)),
               avg((date_diff('day', assessment_time, event_start) <= 14)::int),
               bool_and(assessment_time <= event_start)
        from service_event_current where urgency = 'non_urgent'
    """).fetchone()
    assert waits[0] <= 30 and waits[1] > 0.8 and waits[2]
    # Residents see "their" physician more often than chance: the most-seen one's share, per person.
    usual = con.execute("""
        select avg(top / n) from (
            select person_id, count(*) n, max(c) top from (
                select person_id, professional_id, count(*) over (partition by person_id, professional_id) c
                from service_event_current where professional_group = 'physician' and partner = 'city')
            group by person_id having count(*) >= 3)
    """).fetchone()[0]
    assert 0.5 < usual < 0.95
    digital = con.execute("select avg((contact_mode in ('R52', 'R55', 'R71'))::int) from service_event_current "
                          "where contact_mode is not null").fetchone()[0]
    assert 0.1 < digital < 0.5


def test_the_same_seed_gives_the_same_rows_and_another_seed_other_rows(county, tmp_path):
    _, _, con = county
    first = con.execute("select event_id, person_id, event_start, professional_id from service_event order by 1"
                        ).fetchall()
    again = tmp_path / "again"
    _generate(again)
    catalog.refresh(Layout(again), f"sqlite:///{again / 'ledger.sqlite'}")
    with duckdb.connect(str(Layout(again).catalog), read_only=True) as other:
        assert other.execute("select event_id, person_id, event_start, professional_id from service_event "
                             "order by 1").fetchall() == first
    other_seed = tmp_path / "other"
    _generate(other_seed, seed=8)
    catalog.refresh(Layout(other_seed), f"sqlite:///{other_seed / 'ledger.sqlite'}")
    with duckdb.connect(str(Layout(other_seed).catalog), read_only=True) as other:
        assert other.execute("select event_id from service_event order by 1 limit 5").fetchall() != first[:5]


def test_a_data_root_with_a_warehouse_is_refused(county):
    root, _, _ = county
    from warehouse.iceberg import WarehouseError

    with pytest.raises(WarehouseError, match="already holds a warehouse"):
        _generate(root)


def test_months_end_with_the_month_asked():
    assert months_ending(dt.date(2026, 2, 1), 3) == [dt.date(2025, 12, 1), dt.date(2026, 1, 1), dt.date(2026, 2, 1)]
