"""The ledger on real PostgreSQL and MariaDB (production uses PostgreSQL), and on SQLite."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from tests.conftest import require_service
from warehouse.ledger import Ledger, metadata

# Every test here drops and creates the ledger's tables in the servers' shared `test` database: two at once
# (pytest -n 2) raced — one test's CREATE met the other's table. One worker runs them all, one at a time.
pytestmark = pytest.mark.xdist_group("ledger_databases")


def _urls():
    return [
        pytest.param(("PostgreSQL", 5432, "postgresql+psycopg://postgres@127.0.0.1:5432/test"), id="postgresql"),
        pytest.param(("MariaDB", 3306, "mysql+pymysql://root@127.0.0.1:3306/test"), id="mariadb"),
        pytest.param(("SQLite", None, None), id="sqlite"),
    ]


@pytest.fixture(params=_urls())
def ledger(request, tmp_path):
    name, port, url = request.param
    if port is not None:
        require_service(name, "127.0.0.1", port)
    else:
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    ledger = Ledger(url)
    yield ledger
    metadata.drop_all(ledger.engine)
    ledger.engine.dispose()


@pytest.mark.integration
def test_landing_is_idempotent_and_accounting_is_kept(ledger):
    sha = uuid.uuid4().hex + uuid.uuid4().hex
    args = dict(partner="city", feed="city_visits", delivery_date=dt.date(2026, 10, 1), sequence=1,
                source_name="city_visits_20261001.csv", sha256=sha, raw_path=f"raw/city/city_visits/{sha}.csv",
                size_bytes=123, arrived_at=dt.datetime(2026, 10, 2, 4, tzinfo=dt.UTC))
    first, created = ledger.record_landed(**args)
    again, created_again = ledger.record_landed(**args)
    assert created and not created_again
    assert again.delivery_id == first.delivery_id

    ledger.update(first.delivery_id, state="published", rows_read=10, rows_published=8, rows_quarantined=2)
    ledger.replace_quality_results(first.delivery_id, [
        {"stage": "contract", "rule": "required", "column_name": "alkuaika", "failed_rows": 2, "severity": "error"}])
    ledger.replace_quality_results(first.delivery_id, [
        {"stage": "contract", "rule": "required", "column_name": "alkuaika", "failed_rows": 2, "severity": "error"}])
    got = ledger.get(first.delivery_id)
    assert got.rows_read == got.rows_published + got.rows_quarantined
    assert len(ledger.quality_results(first.delivery_id)) == 1
    with ledger.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from deliveries")).scalar_one() == 1


@pytest.mark.integration
@pytest.mark.parametrize("service", _urls())
def test_a_ledger_keyed_by_content_alone_is_upgraded(service, tmp_path):
    """An earlier ledger's deliveries were unique by (feed, sha256): upgraded in place, rows kept."""
    import warehouse.ledger as ledger_module

    name, port, url = service
    if port is not None:
        require_service(name, "127.0.0.1", port)
    else:
        url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = sa.create_engine(url)
    metadata.drop_all(engine)
    old = sa.MetaData()
    sa.Table("deliveries", old, *(c.copy() for c in metadata.tables["deliveries"].columns),
             sa.UniqueConstraint("feed", "sha256", name="uq_delivery_content"))
    old.create_all(engine)
    now = dt.datetime(2026, 10, 9, 6, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(old.tables["deliveries"].insert().values(
            delivery_id="old-1", partner="ngo_setlementti", feed="ngo_activity", delivery_date=dt.date(2026, 10, 8),
            sequence=1, source_name="ngo_activity_20261008.csv", sha256="e" * 64, raw_path="raw/x.csv", size_bytes=0,
            landed_at=now, state="published", updated_at=now))
    engine.dispose()
    ledger_module._prepared_urls.discard(url)
    try:
        ledger = Ledger(url)
        _, created = ledger.record_landed(
            partner="ngo_mll", feed="ngo_activity", delivery_date=dt.date(2026, 10, 8), sequence=1,
            source_name="ngo_activity_20261008.xlsx", sha256="e" * 64, raw_path="raw/y.xlsx", size_bytes=0,
            arrived_at=None)
        assert created
        assert len(ledger.all()) == 2 and "old-1" in {d.delivery_id for d in ledger.all()}
        names = {c["name"] for c in sa.inspect(ledger.engine).get_unique_constraints("deliveries")}
        assert "uq_delivery_content" not in names
    finally:
        metadata.drop_all(sa.create_engine(url))
