"""The NGOs' deliveries: group activities at the centre (feed ``ngo_activity``).

Two third-sector partners run groups at the centre. They report what they do the way small
organisations do, each in its own format:

- **ngo_mll** (the local association of Mannerheimin Lastensuojeluliitto, families with children)
  sends an Excel workbook ``ngo_activity_YYYYMMDD.xlsx`` with the sheet ``toiminta`` (sessions) and
  the sheet ``osallistujat`` (attendance);
- **ngo_setlementti** (Tampereen Setlementti: youth work, peer support, digital help) sends
  ``ngo_activity_YYYYMMDD.csv`` (sessions) and ``ngo_activity_YYYYMMDD_osallistujat.csv``
  (attendance), UTF-8 without a byte-order mark, ``;``-separated, LF line ends.

Both deliver on the days they had sessions, the next morning. Session rows are aggregates (how many
took part, how many volunteers ran the group). Attendance rows exist only for members who consented
to their participation being shared with the alliance: a member number local to the NGO, the consent
flag, birth year and postal code, never an identity code. Walk-in participants are only counted.

The column names differ between the two (``Päivämäärä`` vs ``pvm``, ``Osallistujia`` vs
``osallistujat_lkm``): the contract accepts both through aliases. Activity types (``toimintamuoto``):
``perhekahvila`` family café, ``nuorten ryhmä`` youth group, ``vertaistuki`` peer support,
``digituki`` digital help.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

from synthetic import fileformats
from synthetic.answer_key import AnswerKey, OutputFile
from synthetic.fileformats import Table
from synthetic.population import Population, Resident
from synthetic.schedule import daily_arrival, public_holidays
from synthetic.seeding import stream

FEED = "ngo_activity"
CONSENT_SHARE = 0.45
MEMBER_SHARE = 0.7
"""Share of a session's participants who are registered members (the rest are walk-ins)."""
SESSION_HELD = 0.92


@dataclass(frozen=True)
class Group:
    name: str
    activity: str
    weekdays: tuple[int, ...]
    ages: tuple[int, int]
    participants: tuple[int, int]


@dataclass(frozen=True)
class Organisation:
    partner: str
    groups: tuple[Group, ...]
    session_header: tuple[str, ...]
    attendance_header: tuple[str, ...]
    consent_value: str


MLL = Organisation(
    "ngo_mll",
    (
        Group("Perhekahvila Tesoma", "perhekahvila", (1, 3), (20, 45), (8, 25)),
        Group("Vauvaperheiden vertaisryhmä", "vertaistuki", (2,), (20, 42), (4, 12)),
        Group("Isä–lapsi-kerho", "perhekahvila", (5,), (25, 50), (4, 14)),
    ),
    ("Päivämäärä", "Toimintamuoto", "Ryhmä", "Osallistujia", "Vapaaehtoisia"),
    ("Päivämäärä", "Ryhmä", "Jäsennumero", "Suostumus", "Syntymävuosi", "Postinumero"),
    "kyllä",
)
SETLEMENTTI = Organisation(
    "ngo_setlementti",
    (
        Group("Digitupa", "digituki", (0, 2), (60, 95), (4, 15)),
        Group("Nuorten olohuone", "nuorten ryhmä", (1, 4), (13, 19), (6, 20)),
        Group("Omaishoitajien vertaisryhmä", "vertaistuki", (3,), (45, 90), (4, 12)),
    ),
    ("pvm", "toimintamuoto", "ryhma", "osallistujat_lkm", "vapaaehtoiset_lkm"),
    ("pvm", "ryhma", "jasennumero", "suostumus", "syntymavuosi", "postinumero"),
    "1",
)
ORGANISATIONS = (MLL, SETLEMENTTI)


@dataclass(frozen=True)
class Member:
    resident: Resident
    number: str
    consented: bool


def _members(org: Organisation, group: Group, population: Population, seed: int) -> list[Member]:
    rng = stream(seed, org.partner, "members", group.name)
    day = population.reference_date
    eligible = [r for r in population.residents if group.ages[0] <= r.age_on(day) <= group.ages[1]]
    chosen = rng.sample(eligible, min(len(eligible), group.participants[1] * 3))
    if org is MLL:
        return [
            Member(r, str(rng.randint(1_000_000, 9_999_999)), rng.random() < CONSENT_SHARE) for r in chosen
        ]
    return [Member(r, f"S-{rng.randint(10_000, 99_999)}", rng.random() < CONSENT_SHARE) for r in chosen]


def _session(rng: random.Random, group: Group, members: list[Member]) -> tuple[int, int, list[Member]]:
    count = rng.randint(*group.participants)
    from_members = min(len(members), round(count * MEMBER_SHARE))
    attending = rng.sample(members, from_members)
    volunteers = rng.randint(1, 4)
    return count, volunteers, [m for m in attending if m.consented]


def deliver(
    key: AnswerKey,
    population: Population,
    days: list[dt.date],
    seed: int,
    progress: Callable[[str], None],
) -> None:
    for org in ORGANISATIONS:
        members = {g.name: _members(org, g, population, seed) for g in org.groups}
        rng = stream(seed, org.partner, "sessions")
        for day in days:
            sessions, attendance = [], []
            for group in org.groups:
                if day.weekday() not in group.weekdays or day in public_holidays(day.year):
                    continue
                if rng.random() >= SESSION_HELD:
                    continue
                count, volunteers, listed = _session(rng, group, members[group.name])
                sessions.append((group, count, volunteers))
                attendance += [(group, m) for m in sorted(listed, key=lambda m: m.number)]
            if not sessions:
                continue
            files = _files(org, day, sessions, attendance)
            key.deliver(
                partner=org.partner,
                feed=FEED,
                covers=day.isoformat(),
                files=files,
                expected_at=daily_arrival(day),
                sessions=len(sessions),
                attendance_rows=len(attendance),
            )
            progress(
                f"{day.isoformat()} {org.partner} {FEED}: {len(sessions)} sessions, "
                f"{len(attendance)} consented attendance rows"
            )


def _files(org: Organisation, day: dt.date, sessions: list, attendance: list) -> list[OutputFile]:
    folder = f"landing/{org.partner}/{FEED}"
    stem = f"{FEED}_{day:%Y%m%d}"
    if org is MLL:
        session_rows = [[day, g.activity, g.name, count, volunteers] for g, count, volunteers in sessions]
        attendance_rows = [
            [day, g.name, m.number, org.consent_value, m.resident.birth_date.year, m.resident.postal_code]
            for g, m in attendance
        ]
        data = fileformats.xlsx(
            [
                ("toiminta", list(org.session_header), session_rows),
                ("osallistujat", list(org.attendance_header), attendance_rows),
            ]
        )
        return [OutputFile(f"{folder}/{stem}.xlsx", data, len(session_rows) + len(attendance_rows))]
    pvm = day.strftime("%d.%m.%Y")
    session_table = Table(
        list(org.session_header),
        [[pvm, g.activity, g.name, str(count), str(volunteers)] for g, count, volunteers in sessions],
    )
    attendance_table = Table(
        list(org.attendance_header),
        [
            [
                pvm,
                g.name,
                m.number,
                org.consent_value,
                str(m.resident.birth_date.year),
                m.resident.postal_code,
            ]
            for g, m in attendance
        ],
    )
    return [
        OutputFile(
            f"{folder}/{stem}.csv",
            fileformats.delimited_text(session_table, line_end="\n").encode(),
            len(session_table.rows),
        ),
        OutputFile(
            f"{folder}/{stem}_osallistujat.csv",
            fileformats.delimited_text(attendance_table, line_end="\n").encode(),
            len(attendance_table.rows),
        ),
    ]
