"""Access to care: T3 per unit and professional group (feed ``city_access``).

T3 is the number of days from a request to the *third* next free appointment, the Finnish standard
measure of how quickly one gets to see a professional (the first two free slots are often chance
cancellations). The city computes it nightly for each unit and professional group; it drifts slowly and
is reported with half-day precision and a decimal comma (``4,0``, ``12,5``).
"""

from __future__ import annotations

import datetime as dt

from synthetic.fileformats import Table
from synthetic.seeding import stream

COLUMNS = ["pvm", "toimipiste", "ammattiryhma", "t3_vrk"]
TYPICAL_T3_DAYS = {
    # (unit, professional group): typical T3 in days
    ("TESOMA_TK", "LAAK"): 9.0,
    ("TESOMA_TK", "SH"): 2.0,
    ("TESOMA_SHT", "HLAAK"): 21.0,
    ("TESOMA_SHT", "SUUHYG"): 14.0,
    ("TESOMA_NEU", "TH"): 5.0,
    ("TESOMA_SOS", "SOSTT"): 8.0,
    ("TESOMA_SOS", "SOHJ"): 4.0,
}


def tables(days: list[dt.date], seed: int) -> dict[dt.date, Table]:
    """One table per day; each series is a mean-reverting random walk around its typical value."""
    rng = stream(seed, "city_access")
    level = dict(TYPICAL_T3_DAYS)
    result: dict[dt.date, Table] = {}
    for day in days:
        table = Table(list(COLUMNS))
        for (unit, group), typical in TYPICAL_T3_DAYS.items():
            value = level[(unit, group)] + rng.gauss(0.25 * (typical - level[(unit, group)]), 0.15 * typical)
            level[(unit, group)] = max(0.0, round(value * 2) / 2)
            table.rows.append(
                [day.strftime("%d.%m.%Y"), unit, group, f"{level[(unit, group)]:.1f}".replace(".", ",")]
            )
        result[day] = table
    return result
