"""A long process opening the ledger and the Iceberg catalog thousands of times (``tesoma run --from …
--to …`` over five years) keeps one connection pool per database server, not one per opening: at county
scale the pools piled up until PostgreSQL refused new clients. SQLite files get an engine per use."""

from __future__ import annotations

import sqlalchemy as sa

from orchestration.stack import temporary_database
from tests.conftest import require_service
from warehouse import engines, iceberg
from warehouse.ledger import Ledger


def connections(url: str) -> int:
    name = sa.make_url(url).database
    with sa.create_engine(url).connect() as conn:
        return conn.execute(sa.text("select count(*) from pg_stat_activity where datname = :d"), {"d": name}).scalar()


def test_many_openings_share_one_pool(tmp_path):
    require_service("PostgreSQL", "127.0.0.1", 5432)
    with temporary_database(prefix="engine_reuse_") as url:
        kept = []
        for _ in range(150):  # more than PostgreSQL's 100 connections, if each held one
            ledger = Ledger(url)
            ledger.all()
            kept.append(ledger)  # alive, as objects held by a long process are
            place = iceberg.Place(catalog_url=url, warehouse=(tmp_path / "wh").as_uri(), ledger_url=url)
            kept.append(iceberg.open_catalog(place).list_namespaces())
        assert len({id(k.engine) for k in kept if isinstance(k, Ledger)}) == 1
        assert connections(url) <= 12  # this check's own, the shared pool's few


def test_sqlite_files_get_an_engine_each(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    assert not engines.shared(url)
    assert Ledger(url).engine is not Ledger(url).engine
