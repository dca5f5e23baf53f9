"""The synthetic residents of the Tesoma area: the people every partner's data is about.

One population is drawn per run (from the seed and the period's first day) and shared by all feeds, so
that the same person can show up at the city's health centre, at Mehiläinen and in an NGO's group, and
so that the reference population file gives denominators that match the visits.

The age structure follows the Finnish population pyramid in five-year bands (0–100). Names, addresses
and phone numbers come from :mod:`names` and :mod:`addresses`, identity codes from
:mod:`identity_codes`. Nothing here is real personal data.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, replace

from synthetic import addresses, names
from synthetic.identity_codes import IdentityCodeIssuer, with_sign
from synthetic.seeding import stream

AGE_BAND_WEIGHTS = (
    # relative size of the five-year age bands 0–4, 5–9, …, 95–99 (Finland, early 2020s)
    230,
    280,
    300,
    300,
    320,
    350,
    370,
    370,
    360,
    330,
    340,
    350,
    360,
    350,
    370,
    290,
    180,
    100,
    40,
    10,
)
CENTENARIAN_WEIGHT = 1
EMAIL_SHARE = 0.45


@dataclass(frozen=True)
class Resident:
    """A synthetic person. ``sex`` is ``"F"`` or ``"M"`` (consistent with the HETU's individual number)."""

    number: int
    hetu: str
    birth_date: dt.date
    sex: str
    first_names: str
    surname: str
    street_address: str
    postal_code: str
    home_municipality: str
    phone: str
    email: str | None

    @property
    def given_name(self) -> str:
        """The first of the given names (the one people use)."""
        return self.first_names.split()[0]

    def age_on(self, day: dt.date) -> int:
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday


@dataclass(frozen=True)
class Population:
    residents: list[Resident]
    reference_date: dt.date
    century_sign_twins: tuple[tuple[int, int], ...]
    """Pairs of resident numbers whose codes differ only in the century sign."""


def _birth_date(rng: random.Random, reference_date: dt.date) -> dt.date:
    band = rng.choices(range(len(AGE_BAND_WEIGHTS) + 1), weights=(*AGE_BAND_WEIGHTS, CENTENARIAN_WEIGHT))[0]
    age = 100 if band == len(AGE_BAND_WEIGHTS) else band * 5 + rng.randint(0, 4)
    try:
        latest = reference_date.replace(year=reference_date.year - age)
    except ValueError:  # 29 February
        latest = reference_date.replace(year=reference_date.year - age, day=28)
    return latest - dt.timedelta(days=rng.randint(0, 364))


def generate_population(residents: int, *, seed: int = 42, reference_date: dt.date) -> Population:
    """Draw ``residents`` people living in the area on ``reference_date`` (the period's first day).

    Fast on its own (no files written), so tests can examine a full-size population cheaply.
    """
    rng = stream(seed, "population")
    issuer = IdentityCodeIssuer(stream(seed, "population", "identity-codes"))
    people: list[Resident] = []
    for number in range(residents):
        birth_date = _birth_date(rng, reference_date)
        sex = "F" if rng.random() < 0.51 else "M"
        given = names.first_names(rng, sex, birth_date.year)
        family = names.surname(rng)
        code = addresses.postal_code(rng)
        people.append(
            Resident(
                number=number,
                hetu=issuer.issue(birth_date, sex),
                birth_date=birth_date,
                sex=sex,
                first_names=given,
                surname=family,
                street_address=addresses.street_address(rng, code),
                postal_code=code,
                home_municipality=addresses.home_municipality(rng),
                phone=addresses.mobile_phone(rng),
                email=addresses.email(rng, given, family) if rng.random() < EMAIL_SHARE else None,
            )
        )
    twins = _make_century_sign_twins(people, issuer, rng)
    return Population(people, reference_date, twins)


def _make_century_sign_twins(
    people: list[Resident], issuer: IdentityCodeIssuer, rng: random.Random
) -> tuple[tuple[int, int], ...]:
    """Give one person the code of another under a new century sign (same date, number and check).

    The first 1900s-born resident with a classic ``-`` code keeps it; the next 1900s-born resident of the
    same sex takes over the birth date and becomes ``…Y…``. At least one such pair exists whenever the
    population has two 1900s-born people of the same sex.
    """
    for first in people:
        if first.hetu[6] != "-" or int(first.hetu[7:10]) >= 900:
            continue
        for second in people[first.number + 1 :]:
            if second.sex == first.sex and second.birth_date.year < 2000 and second.hetu[6] == "-":
                sign = rng.choice("YXWVU")
                twin_code = with_sign(first.hetu, sign)
                if twin_code in issuer:
                    continue
                issuer.register(twin_code)
                people[second.number] = replace(second, hetu=twin_code, birth_date=first.birth_date)
                return ((first.number, second.number),)
        return ()
    return ()
