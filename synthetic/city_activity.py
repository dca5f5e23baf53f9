"""Daily counts of the city's open services at the centre (feed ``city_activity``).

Not everything is person-level: the youth centre and the library count visitors at the door and the
library counts loans. The city reports, per day and unit, one row per measure:

======================  ========  ================  ==========================================
toimipiste              palvelu   mittari           meaning
======================  ========  ================  ==========================================
NUORISOTALO_TESOMA      NUORISO   kaynnit           youth-centre visits (door counter)
NUORISOTALO_TESOMA      NUORISO   aukiolotunnit     opening hours that day, e.g. ``6,5``
KIRJASTO_TESOMA         KIRJASTO  kaynnit           library visits
KIRJASTO_TESOMA         KIRJASTO  lainat            loans
KIRJASTO_TESOMA         KIRJASTO  aukiolotunnit     staffed or self-service opening hours
======================  ========  ================  ==========================================

The youth centre is open on working days afternoons and evenings; the library on working days and
Saturdays with staff, and as a self-service library on Sundays. On public holidays both are closed and
the day's file has only its header.
"""

from __future__ import annotations

import datetime as dt

from synthetic.fileformats import Table
from synthetic.schedule import public_holidays
from synthetic.seeding import stream

COLUMNS = ["pvm", "toimipiste", "palvelu", "mittari", "arvo"]
LIBRARY_HOURS = {0: 8.5, 1: 8.5, 2: 8.5, 3: 8.5, 4: 7.5, 5: 5.0, 6: 6.0}
YOUTH_CENTRE_HOURS = 6.5


def _hours(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def day_table(day: dt.date, residents: int, seed: int) -> Table:
    rng = stream(seed, "city_activity", day.isoformat())
    scale = residents / 16_000
    pvm = day.strftime("%d.%m.%Y")
    table = Table(list(COLUMNS))
    if day in public_holidays(day.year):
        return table
    if day.weekday() < 5:
        visits = round(rng.uniform(25, 70) * scale)
        table.rows += [
            [pvm, "NUORISOTALO_TESOMA", "NUORISO", "kaynnit", str(visits)],
            [pvm, "NUORISOTALO_TESOMA", "NUORISO", "aukiolotunnit", _hours(YOUTH_CENTRE_HOURS)],
        ]
    hours = LIBRARY_HOURS[day.weekday()]
    visits = round(rng.uniform(42, 75) * hours * scale)
    loans = round(visits * rng.uniform(0.5, 0.7))
    table.rows += [
        [pvm, "KIRJASTO_TESOMA", "KIRJASTO", "kaynnit", str(visits)],
        [pvm, "KIRJASTO_TESOMA", "KIRJASTO", "lainat", str(loans)],
        [pvm, "KIRJASTO_TESOMA", "KIRJASTO", "aukiolotunnit", _hours(hours)],
    ]
    return table
