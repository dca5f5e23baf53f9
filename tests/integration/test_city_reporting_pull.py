"""city_visits pulled from the city's reporting database: SQLite, and real PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from connectors import city_reporting_db
from synthetic import generate
from synthetic.city_reporting_db import kaynnit_table
from tesoma import steps
from tests.conftest import require_service
from warehouse import states
from warehouse.ledger import Ledger
from warehouse.readers import read_table

START = dt.date(2026, 10, 1)
DAYS = 3


def _databases():
    return [
        pytest.param(None, id="sqlite"),
        pytest.param(("PostgreSQL", 5432, "postgresql+psycopg://postgres@127.0.0.1:5432/test"), id="postgresql"),
        pytest.param(("MariaDB", 3306, "mysql+pymysql://root@127.0.0.1:3306/test"), id="mariadb"),
    ]


@pytest.fixture(params=_databases())
def reporting_db(request, data_root):
    """The generated reporting database, as SQLite or copied into a real server."""
    generate(data_root, start=START, days=DAYS, residents=700, seed=9, fault_rate=0.0)
    sqlite_url = f"sqlite:///{data_root / 'sources' / 'city_reporting.sqlite'}"
    if request.param is None:
        yield sqlite_url
        return
    name, port, url = request.param
    require_service(name, "127.0.0.1", port)
    source, target = sa.create_engine(sqlite_url), sa.create_engine(url)
    metadata = sa.MetaData()
    table = kaynnit_table(metadata)
    metadata.drop_all(target)
    metadata.create_all(target)
    with source.connect() as src, target.begin() as dst:
        rows = [dict(r) for r in src.execute(sa.select(table)).mappings()]
        dst.execute(table.insert(), rows)
    yield url
    metadata.drop_all(target)
    source.dispose()
    target.dispose()


def _source_rows(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("select count(*) from kaynnit where paivitetty < :end"),
                         {"end": dt.datetime.combine(START + dt.timedelta(days=DAYS), dt.time(0))}).scalar_one()
    engine.dispose()
    return n


@pytest.mark.integration
def test_incremental_pull_by_watermark(reporting_db, data_root):
    pulled = 0
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        results = steps.process_date("city_visits", day, pull=True)
        assert len(results) == 1 and results[0]["state"] == "published"
        assert results[0]["rows_read"] == results[0]["rows_published"] + results[0]["rows_quarantined"]
        pulled += results[0]["rows_read"]
    assert pulled == _source_rows(reporting_db)  # every row exactly once over the days

    ledger = Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}")
    assert ledger.watermark("city_visits", steps.REPORTING_SOURCE) == dt.datetime.combine(
        START + dt.timedelta(days=DAYS), dt.time(0))
    # Re-running a day pulls nothing new and changes nothing: no new warehouse state, the same rows.
    state, before = states.head(ledger.engine), read_table(data_root, "service_event")
    again = steps.process_date("city_visits", START, pull=True)
    assert [r["delivery_id"] for r in again] == [d.delivery_id for d in ledger.for_date("city_visits", START)]
    assert states.head(ledger.engine) == state
    assert read_table(data_root, "service_event").equals(before)


@pytest.mark.integration
def test_extract_streams_in_bounded_batches(reporting_db):
    until = dt.datetime.combine(START + dt.timedelta(days=DAYS), dt.time(0))
    sizes = [b.num_rows for b in city_reporting_db.extract(reporting_db, None, until, batch_rows=10)]
    assert len(sizes) > 2 and max(sizes) <= 10
    assert sum(sizes) == _source_rows(reporting_db)


@pytest.mark.integration
def test_csv_drop_and_pull_give_the_same_events(data_root):
    """The same visits through both transports of the one contract give the same canonical rows."""
    generate(data_root, start=START, days=1, residents=500, seed=4, fault_rate=0.0)
    steps.process_date("city_visits", START)
    dropped = read_table(data_root, "service_event", partner="city", delivery_date=START)
    steps.pull("city_visits", START)  # a pull of the same day, published as a later sequence
    ledger = Ledger(f"sqlite:///{data_root / 'ledger.sqlite'}")
    pulled_id = ledger.for_date("city_visits", START)[-1].delivery_id
    steps.ingest(pulled_id)
    steps.publish(pulled_id)
    assert ledger.get(pulled_id).state == "published"
    pulled = read_table(data_root, "service_event", partner="city", delivery_date=START)
    assert set(pulled["delivery_id"].to_pylist()) == {pulled_id}  # the pull replaced the dropped file's rows
    columns = ["event_id", "person_id", "service_area", "event_start", "status", "client_fee_eur", "age_at_event"]
    key = [("event_id", "ascending")]
    # On the first day every visit's latest version was updated that same day, so the sets agree.
    assert dropped.select(columns).sort_by(key).equals(pulled.select(columns).sort_by(key))
