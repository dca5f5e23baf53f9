"""Reference population: residents per postal code, five-year age band and sex (feed ``population``).

Rates need denominators. Statistics Finland publishes residents by postal code area ("Paavo"); the
alliance receives a yearly file in that spirit, ``landing/reference/population/population_YYYY.csv``
(UTF-8, ``;``, CRLF), computed here from the synthetic residents so that numerators and denominators
match. Columns: ``vuosi``, ``postinumero``, ``postinumeroalue`` (area name), ``ikaryhma`` (``0-4``,
``5-9``, …, ``95-99``, ``100-``), ``sukupuoli`` (``mies``/``nainen``), ``asukkaat``. Every
combination is listed, zeros included.

As in official statistics, a resident counts where their home municipality is: the few residents whose
home municipality (``kotikunta``) is not Tampere are not in the file. Ages are as of the file's arrival
day: the period's first day for the first year, 1 January for any later year the period reaches.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from synthetic import fileformats
from synthetic.addresses import MUNICIPALITY_TAMPERE, POSTAL_AREAS
from synthetic.answer_key import AnswerKey, OutputFile
from synthetic.fileformats import Table
from synthetic.population import Population
from synthetic.schedule import daily_arrival

PARTNER = "reference"
FEED = "population"
COLUMNS = ["vuosi", "postinumero", "postinumeroalue", "ikaryhma", "sukupuoli", "asukkaat"]
AGE_BANDS = [f"{low}-{low + 4}" for low in range(0, 100, 5)] + ["100-"]
SEXES = {"M": "mies", "F": "nainen"}


def age_band(age: int) -> str:
    return AGE_BANDS[min(age // 5, len(AGE_BANDS) - 1)]


def table(population: Population, as_of: dt.date) -> Table:
    counts: dict[tuple[str, str, str], int] = {}
    for resident in population.residents:
        if resident.home_municipality != MUNICIPALITY_TAMPERE:
            continue
        cell = (resident.postal_code, age_band(resident.age_on(as_of)), resident.sex)
        counts[cell] = counts.get(cell, 0) + 1
    rows = [
        [
            str(as_of.year),
            code,
            POSTAL_AREAS[code][0],
            band,
            SEXES[sex],
            str(counts.get((code, band, sex), 0)),
        ]
        for code in sorted(POSTAL_AREAS)
        for band in AGE_BANDS
        for sex in ("M", "F")
    ]
    return Table(list(COLUMNS), rows)


def deliver(
    key: AnswerKey, population: Population, days: list[dt.date], progress: Callable[[str], None]
) -> None:
    for year in sorted({d.year for d in days}):
        as_of = max(days[0], dt.date(year, 1, 1))
        population_table = table(population, as_of)
        data = fileformats.delimited_text(population_table).encode("utf-8")
        path = f"landing/{PARTNER}/{FEED}/{FEED}_{year}.csv"
        key.deliver(
            partner=PARTNER,
            feed=FEED,
            covers=str(year),
            expected_at=daily_arrival(as_of - dt.timedelta(days=1)),
            files=[OutputFile(path, data, len(population_table.rows))],
            as_of=as_of.isoformat(),
        )
        progress(f"{year} {FEED}: {len(population_table.rows)} rows")
