"""Where the synthetic residents live and how they are reached.

The Tesoma wellbeing centre serves western Tampere. Residents are spread over the postal code areas
around it, Tesoma itself (33310) being the largest. Street names are Finnish street names of the kind
found there (not a register of real addresses). Phone numbers are Finnish mobile numbers in the
international form ``+358 40 1234567``; e-mail addresses use the reserved ``.example`` domain.
"""

from __future__ import annotations

import random
import unicodedata

MUNICIPALITY_TAMPERE = "837"
POSTAL_CITY = "Tampere"

POSTAL_AREAS: dict[str, tuple[str, float]] = {
    # postal code: (area name, share of the residents)
    "33310": ("Tesoma", 0.34),
    "33300": ("Lielahti", 0.10),
    "33330": ("Ikuri", 0.08),
    "33340": ("Lamminpää", 0.12),
    "33400": ("Lentävänniemi", 0.14),
    "33410": ("Haukiluoma", 0.10),
    "33420": ("Villilä", 0.12),
}

STREETS: dict[str, tuple[str, ...]] = {
    "33310": (
        "Tesoman valtatie",
        "Tesomankatu",
        "Kalkunvuorenkatu",
        "Tohlopinkatu",
        "Ristimäenkatu",
        "Kiikankatu",
        "Sääksjärvenkatu",
        "Tesomanpuisto",
    ),
    "33300": ("Lielahdenkatu", "Enqvistinkatu", "Paperitehtaankatu", "Hiedanrannankatu"),
    "33330": ("Ikurintie", "Ikurinkulma", "Jänismäenkatu"),
    "33340": ("Lamminpäänkatu", "Haapalinnankatu", "Kärppäkatu", "Näätäkatu"),
    "33400": ("Lentävänniemenkatu", "Särkänniemenkatu", "Niemenrannantie", "Rusonkatu"),
    "33410": ("Haukiluomankatu", "Myllypuronkatu", "Ylöjärventie"),
    "33420": ("Villiläntie", "Tuomiojankatu", "Pöllönkatu", "Kööpenkatu"),
}

OTHER_HOME_MUNICIPALITIES = ("211", "980", "604")
"""Kangasala, Ylöjärvi, Pirkkala: a few residents are still registered in a neighbouring municipality."""


def postal_code(rng: random.Random) -> str:
    codes = list(POSTAL_AREAS)
    return rng.choices(codes, weights=[POSTAL_AREAS[c][1] for c in codes])[0]


def street_address(rng: random.Random, code: str) -> str:
    """``Tesomankatu 12 B 34`` (apartment buildings) or ``Ikurintie 7`` (detached houses)."""
    street = rng.choice(STREETS[code])
    number = rng.randint(1, 60)
    if rng.random() < 0.7:
        return f"{street} {number} {rng.choice('ABCDE')} {rng.randint(1, 60)}"
    return f"{street} {number}"


def home_municipality(rng: random.Random) -> str:
    if rng.random() < 0.02:
        return rng.choice(OTHER_HOME_MUNICIPALITIES)
    return MUNICIPALITY_TAMPERE


def mobile_phone(rng: random.Random) -> str:
    prefix = rng.choices(("40", "50", "44", "45"), weights=(0.45, 0.35, 0.12, 0.08))[0]
    return f"+358 {prefix} {rng.randint(1_000_000, 9_999_999)}"


def email(rng: random.Random, first_names: str, surname: str) -> str:
    """``aino.makinen@posti.example``: given name and surname without diacritics."""
    local = f"{first_names.split()[0]}.{surname}".lower()
    local = unicodedata.normalize("NFKD", local).encode("ascii", "ignore").decode("ascii")
    if rng.random() < 0.3:
        local += str(rng.randint(1, 99))
    return f"{local}@{rng.choice(('posti', 'sahkoposti', 'netti'))}.example"
