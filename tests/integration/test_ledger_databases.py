"""The ledger on real PostgreSQL and MariaDB (production uses PostgreSQL), and on SQLite."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from tests.conftest import require_service
from warehouse.ledger import Ledger, metadata


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
