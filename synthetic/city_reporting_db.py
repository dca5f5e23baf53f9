"""The city's reporting database, the second transport of ``city_visits``.

The city also lets the alliance pull visits with SQL from its reporting database (PostgreSQL in
production). Locally it is simulated as a SQLite file ``sources/city_reporting.sqlite`` with one table,
``kaynnit``: the same columns as the CSV export, with native types, and one row per visit holding its
latest version. A pull by watermark reads ``WHERE paivitetty > :last_seen``; hence the index.

Times are local Helsinki wall-clock times stored as ``YYYY-MM-DD HH:MM:SS`` text (SQLite has no
timestamp type; PostgreSQL gets ``TIMESTAMP WITHOUT TIME ZONE``). The database holds the truth: the
faults injected into CSV files never reach it.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from synthetic.city_visits import Visit

DATABASE = Path("sources") / "city_reporting.sqlite"
TABLE = "kaynnit"

_LOCAL_TIMESTAMP = sa.DateTime().with_variant(
    sqlite.DATETIME(storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"),
    "sqlite",
)


def kaynnit_table(metadata: sa.MetaData) -> sa.Table:
    """The ``kaynnit`` table definition (works for SQLite and PostgreSQL)."""
    return sa.Table(
        TABLE,
        metadata,
        sa.Column("kaynti_id", sa.String(10), primary_key=True),
        sa.Column("henkilotunnus", sa.String(11), nullable=False),
        sa.Column("sukunimi", sa.String(100)),
        sa.Column("etunimet", sa.String(100)),
        sa.Column("lahiosoite", sa.String(200)),
        sa.Column("postinumero", sa.String(5)),
        sa.Column("kotikunta", sa.String(3)),
        sa.Column("puhelin", sa.String(30)),
        sa.Column("palvelu", sa.String(10), nullable=False),
        sa.Column("yhteystapa", sa.String(3), nullable=False),
        sa.Column("ammattiryhma", sa.String(10)),
        sa.Column("toimipiste", sa.String(20), nullable=False),
        sa.Column("alkuaika", _LOCAL_TIMESTAMP, nullable=False),
        sa.Column("kesto_min", sa.Integer),
        sa.Column("tila", sa.String(20), nullable=False),
        sa.Column("diagnoosi", sa.String(10)),
        sa.Column("diagnoosi_luokitus", sa.String(10)),
        sa.Column("asiakasmaksu", sa.Numeric(8, 2, asdecimal=False)),
        sa.Column("lisatieto", sa.Text),
        sa.Column("paivitetty", _LOCAL_TIMESTAMP, nullable=False),
        sa.Column("ammattihenkilo_id", sa.String(10)),
        sa.Column("hoidon_tarve_arvioitu", _LOCAL_TIMESTAMP),
        sa.Column("kiireellisyys", sa.String(1)),
        sa.Index("ix_kaynnit_paivitetty", "paivitetty"),
    )


def write(path: Path, visits: list[Visit]) -> int:
    """Create the database afresh at ``path`` holding ``visits`` (latest versions). Returns the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        metadata = sa.MetaData()
        table = kaynnit_table(metadata)
        metadata.create_all(engine)
        with engine.begin() as connection:
            rows = [visit.database_row() for visit in visits]
            if rows:
                connection.execute(table.insert(), rows)
    finally:
        engine.dispose()
    return len(visits)
