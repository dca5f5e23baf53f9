"""What the services cost, per partner and month (feed ``costs``): the alliance's target budget.

Each partner reports its monthly costs per service area to the alliance's steering group:
``landing/<partner>/costs/costs_YYYYMM.csv`` (an Excel workbook ``costs_YYYYMM.xlsx`` from
``ngo_mll``), columns ``kuukausi`` (``YYYY-MM``), ``palvelualue`` and ``kustannus_eur`` (decimal
comma, two decimals; a number cell in Excel). A month's report arrives on the first morning of the next
month; when the simulated period ends before that, the month-to-date report arrives with the period's
last daily deliveries and covers only the days simulated.

Service areas (``palvelualue``) are the Finnish names of the alliance's service areas:

=========================  ======================  ==========================================
palvelualue                service_area            reported by
=========================  ======================  ==========================================
perusterveydenhuolto       primary_care            city, mehilainen
suun terveydenhuolto       dental_care             city, mehilainen
äitiysneuvola              maternity_clinic        city
lastenneuvola              child_clinic            city
sosiaalineuvonta           social_counselling      city
hyvinvointineuvonta        wellbeing_counselling   city
nuorisopalvelut            youth_services          city
kirjasto                   library                 city
järjestötoiminta           ngo_activity            ngo_mll, ngo_setlementti
digipalvelut               digital_service         mehilainen, ngo_setlementti
=========================  ======================  ==========================================

Encodings: the city's file follows the city's CSV convention (UTF-8 with BOM or Windows-1252, CRLF);
Mehiläinen and Setlementti write UTF-8 without BOM and LF line ends.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable

from synthetic import fileformats
from synthetic.answer_key import AnswerKey, OutputFile
from synthetic.city import day_encoding
from synthetic.fileformats import Table
from synthetic.schedule import daily_arrival, months_touched
from synthetic.seeding import stream

FEED = "costs"
COLUMNS = ["kuukausi", "palvelualue", "kustannus_eur"]
MONTHLY_COST_PER_16000_EUR: dict[str, dict[str, int]] = {
    "city": {
        "perusterveydenhuolto": 420_000,
        "suun terveydenhuolto": 160_000,
        "äitiysneuvola": 38_000,
        "lastenneuvola": 52_000,
        "sosiaalineuvonta": 61_000,
        "hyvinvointineuvonta": 45_000,
        "nuorisopalvelut": 28_000,
        "kirjasto": 54_000,
    },
    "mehilainen": {"perusterveydenhuolto": 240_000, "suun terveydenhuolto": 60_000, "digipalvelut": 18_000},
    "ngo_mll": {"järjestötoiminta": 9_500},
    "ngo_setlementti": {"järjestötoiminta": 7_800, "digipalvelut": 2_100},
}


def _euros(cents: int) -> str:
    return f"{cents // 100},{cents % 100:02d}"


def deliver(
    key: AnswerKey, days: list[dt.date], residents: int, seed: int, progress: Callable[[str], None]
) -> None:
    scale = residents / 16_000
    for year, month in months_touched(days):
        covered = [d for d in days if (d.year, d.month) == (year, month)]
        share = len(covered) / calendar.monthrange(year, month)[1]
        month_text = f"{year:04d}-{month:02d}"
        arrival = daily_arrival(covered[-1])
        for partner, areas in MONTHLY_COST_PER_16000_EUR.items():
            rng = stream(seed, partner, FEED, month_text)
            amounts = [
                (area, round(base * scale * share * rng.uniform(0.95, 1.05) * 100))
                for area, base in areas.items()
            ]
            path = f"landing/{partner}/{FEED}/{FEED}_{year:04d}{month:02d}"
            if partner == "ngo_mll":
                data = fileformats.xlsx(
                    [("kustannukset", COLUMNS, [[month_text, area, cents / 100] for area, cents in amounts])]
                )
                output = OutputFile(f"{path}.xlsx", data, len(amounts))
            else:
                table = Table(list(COLUMNS), [[month_text, area, _euros(cents)] for area, cents in amounts])
                if partner == "city":
                    encoding = day_encoding(seed, FEED, covered[-1])
                    data = fileformats.delimited_text(table).encode(encoding)
                else:
                    data = fileformats.delimited_text(table, line_end="\n").encode()
                output = OutputFile(f"{path}.csv", data, len(amounts))
            key.deliver(
                partner=partner,
                feed=FEED,
                covers=month_text,
                files=[output],
                expected_at=arrival,
                complete_month=len(covered) == calendar.monthrange(year, month)[1],
            )
        progress(f"{month_text} {FEED}: {len(MONTHLY_COST_PER_16000_EUR)} partners")
