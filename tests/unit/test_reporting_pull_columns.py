"""The city's reporting database may not have the contract's newer optional columns yet: the pull reads them
as empty (as a CSV without them is read); a missing required column still stops the pull, saying which."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from connectors.city_reporting_db import extract
from synthetic.city_reporting_db import kaynnit_table

NEWER = {"ammattihenkilo_id", "hoidon_tarve_arvioitu", "kiireellisyys"}
ROW = {"kaynti_id": "K000000001", "henkilotunnus": "010101-0101", "palvelu": "TK_VO", "yhteystapa": "R10",
       "ammattiryhma": "LAAK", "toimipiste": "TESOMA_TK", "alkuaika": dt.datetime(2026, 10, 1, 8, 30),
       "tila": "toteutunut", "paivitetty": dt.datetime(2026, 10, 1, 9, 0)}


def reporting_db(tmp_path, leave_out: set[str]) -> str:
    url = f"sqlite:///{tmp_path / 'reporting.sqlite'}"
    full = kaynnit_table(sa.MetaData())
    metadata = sa.MetaData()
    table = sa.Table(full.name, metadata, *[sa.Column(c.name, c.type) for c in full.columns if c.name not in leave_out])
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{k: v for k, v in ROW.items() if k not in leave_out}])
    engine.dispose()
    return url


def test_a_table_without_the_newer_columns_still_pulls(tmp_path):
    url = reporting_db(tmp_path, NEWER)
    (batch,) = list(extract(url, None, dt.datetime(2026, 10, 2)))
    row = batch.to_pylist()[0]
    assert {name: row[name] for name in NEWER} == dict.fromkeys(NEWER)
    assert row["kaynti_id"] == "K000000001"


def test_a_missing_required_column_stops_the_pull(tmp_path):
    url = reporting_db(tmp_path, {"palvelu"})
    with pytest.raises(RuntimeError, match=r"lacks column\(s\) \['palvelu'\]"):
        list(extract(url, None, dt.datetime(2026, 10, 2)))
