"""A county-scale warehouse, generated straight into the Iceberg tables (no landing, no ingest).

The wellbeing county (Pirkanmaa-like, about 530,000 residents) is where the scorecard must still be fast:
:func:`generate_county` writes five years of every canonical table for such a county directly as the
warehouse's data files and commits them as one warehouse state, so the marts, the analysts' catalog
(``warehouse.catalog.refresh``) and ``tesoma query`` read it like any published warehouse. It is built for
benchmarks (``tesoma bench marts``) and for testing at scale; the daily deliveries of the demo world are
``synthetic.generate``'s job.

The world
---------
- **Residents**: ``residents`` people over the Tesoma area's postal codes (``synthetic.addresses``, about
  4.5 % of the county) and about 60 other Pirkanmaa-like postal codes of 17 municipalities. Each person has
  one birth year and month, sex, postal code and home municipality, a pseudonym (26 base32 characters,
  like ``transforms.pseudonymise``'s, drawn at random: no identity code exists anywhere) and a propensity to
  use services (gamma-distributed, so some people use a lot and a fifth none in a year). The age structure
  is the Finnish pyramid at ``last_month``; people born during the period appear from their birth month.
  No one dies or moves.
- **Contacts** (``service_event``): about ``contacts`` events over the months, Poisson per person and month
  (rate by age group, propensity and season). Service area by age and sex (child clinic for 0–6, maternity
  clinic for women of 18–45, …); partner by service area and the person's own primary-care provider (city
  or Mehiläinen; NGO groups for their activities, under NGO-local pseudonyms, as consented attendance is);
  unit mostly in the person's own district; professional group by service; **professional** from the unit's
  staff (pseudonym-like ids, a staff size per unit and group from the residents it serves), "their own"
  professional with p = 0.65 and anyone of the staff otherwise; contact mode (remote modes growing over
  the years), status (cancelled ~6 %, no-shows ~4 % of office and home visits), the care-need assessment
  and urgency where the partner records them (non-urgent waits 0–30 days, most within 14), diagnoses,
  fees. About 1 % of the city's visits are corrected in the next month's delivery (a new version of the
  same ``event_id``: diagnosis changed or cancelled after all), so ``service_event_current`` has work to do.
- **event_diagnosis**: one primary diagnosis row per contact with a diagnosis.
- **population**: residents per statistics year, postal code, five-year band (``0-4`` … ``95-99``,
  ``100+``) and sex, every combination listed; ages at the end of the previous year.
- **access_t3**: the city's daily T3 per unit and professional group (mean-reverting random walks).
- **activity_count**: daily youth-centre visits and opening hours, library visits, loans and hours per
  district, and the NGO groups' sessions (participants, volunteers, sessions).
- **cost_month**: the alliance's costs per partner, service area and month, scaled to the Tesoma area's
  residents (the alliance's target budget covers its area, not the county).

Deliveries: monthly bulk
------------------------
Every table gets one data file per partner and month — a *monthly bulk delivery* — in the partition
``partner=<p>/delivery_date=<the month's first day>`` (the yearly population file: 1 January), as the
``monthly`` cadence of ``config/feeds.yaml`` dates its deliveries. Each is a ledger delivery
``<feed>-<partner>-<YYYYMMDD>-1-<hash>``, recorded ``published`` with its row counts; it has no raw file
(``raw_path`` names none that exists and ``purged_at`` is set, so retention and reprocessing leave it
alone). All files of a table are added in one Iceberg commit (``fast_append``), and one warehouse state
records every table, under the warehouse lock, as ``tesoma warehouse migrate`` does.

Generated month by month with NumPy and Arrow (no Python loop over rows); the next month is drawn while
a background thread writes the last one's files, so memory stays below 1 GiB whatever the number of months.
The same arguments give the same rows (each month draws from its own seeded stream).

The world and the deliveries are apart: :func:`build_world` (people, units, staff) and
:func:`month_contacts` (a month's contacts as columns) know nothing of files, and the table functions turn
them into warehouse rows. A generator of the partners' own delivery formats at county scale (CSV, FHIR; a
later ``tesoma generate --scale county``) can draw the same world and contacts and write them per day.
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synthetic import addresses, clinical_codes, costs, population
from synthetic.schedule import public_holidays
from transforms.pseudonymise.keyed_hash import to_text

GENERATOR = "county"
SOURCE_NAME = "generated by synthetic.county (monthly bulk, no raw file)"
_EPOCH = dt.date(1970, 1, 1)

# --- where people live: postal codes, municipalities, districts ------------------------------------------

MUNICIPALITIES: dict[str, tuple[str, int]] = {
    # district: (municipality code, residents in thousands); Tampere (837) is split into districts
    "TESOMA": ("837", 24), "KESKUSTA": ("837", 70), "KALEVA": ("837", 45), "HERVANTA": ("837", 55),
    "ITA": ("837", 55), "NOKIA": ("536", 35), "YLOJARVI": ("980", 33), "KANGASALA": ("211", 33),
    "PIRKKALA": ("604", 20), "LEMPAALA": ("418", 24), "VALKEAKOSKI": ("908", 21), "SASTAMALA": ("790", 24),
    "AKAA": ("020", 17), "ORIVESI": ("562", 9), "HAMEENKYRO": ("108", 10), "MANTTA": ("508", 10),
    "IKAALINEN": ("143", 7), "PARKANO": ("581", 6), "VIRRAT": ("936", 6), "VESILAHTI": ("922", 5),
    "PALKANE": ("635", 6),
}
DISTRICT_NAMES = {
    "TESOMA": "Tesoma", "KESKUSTA": "Keskusta", "KALEVA": "Kaleva", "HERVANTA": "Hervanta", "ITA": "Itä-Tampere",
    "NOKIA": "Nokia", "YLOJARVI": "Ylöjärvi", "KANGASALA": "Kangasala", "PIRKKALA": "Pirkkala",
    "LEMPAALA": "Lempäälä", "VALKEAKOSKI": "Valkeakoski", "SASTAMALA": "Sastamala", "AKAA": "Akaa",
    "ORIVESI": "Orivesi", "HAMEENKYRO": "Hämeenkyrö", "MANTTA": "Mänttä-Vilppula", "IKAALINEN": "Ikaalinen",
    "PARKANO": "Parkano", "VIRRAT": "Virrat", "VESILAHTI": "Vesilahti", "PALKANE": "Pälkäne",
}
OTHER_POSTAL_CODES: dict[str, tuple[str, ...]] = {
    "KESKUSTA": ("33100", "33180", "33200", "33210", "33230", "33240", "33250", "33270"),
    "KALEVA": ("33500", "33520", "33530", "33540", "33560", "33580"),
    "HERVANTA": ("33700", "33710", "33720", "33730", "33800"),
    "ITA": ("33610", "33680", "33820", "33840", "33850", "33870", "33900"),
    "NOKIA": ("37100", "37120", "37130", "37140", "37150"),
    "YLOJARVI": ("33450", "33470", "33480"),
    "KANGASALA": ("36200", "36220", "36240", "36280"),
    "PIRKKALA": ("33950", "33960"),
    "LEMPAALA": ("37500", "37550", "37560"),
    "VALKEAKOSKI": ("37600", "37630"),
    "SASTAMALA": ("38200", "38210", "38250"),
    "AKAA": ("37800", "37830"),
    "ORIVESI": ("35300",), "HAMEENKYRO": ("39100",), "MANTTA": ("35800",), "IKAALINEN": ("39500",),
    "PARKANO": ("39700",), "VIRRAT": ("34800",), "VESILAHTI": ("37470",), "PALKANE": ("36600",),
}


@dataclass(frozen=True)
class PostalArea:
    code: str
    district: str
    municipality: str
    weight: float  # share of the county's residents


def postal_areas() -> list[PostalArea]:
    """The county's postal code areas: the Tesoma area's (synthetic.addresses) and the others."""
    areas = []
    tesoma_total = sum(share for _, share in addresses.POSTAL_AREAS.values())
    for code, (_, share) in addresses.POSTAL_AREAS.items():
        areas.append(PostalArea(code, "TESOMA", "837", MUNICIPALITIES["TESOMA"][1] * share / tesoma_total))
    for district, codes in OTHER_POSTAL_CODES.items():
        municipality, thousands = MUNICIPALITIES[district]
        # Unequal areas within a district, the same every run.
        raw = [1.0 + (int(c) % 7) / 6 for c in codes]
        areas += [PostalArea(c, district, municipality, thousands * r / sum(raw))
                  for c, r in zip(codes, raw, strict=True)]
    total = sum(a.weight for a in areas)
    return [PostalArea(a.code, a.district, a.municipality, a.weight / total)
            for a in sorted(areas, key=lambda a: a.code)]


# --- services, partners, units, professionals -------------------------------------------------------------

AREAS = ("primary_care", "dental_care", "maternity_clinic", "child_clinic", "social_counselling",
         "wellbeing_counselling", "ngo_activity")
PRIMARY, DENTAL, MATERNITY, CHILD, SOCIAL, WELLBEING, NGO = range(len(AREAS))

AGE_GROUPS = ("0-6", "7-17", "women 18-45", "adults 18-64", "65+")
AREA_MIX = np.array([
    # primary, dental, maternity, child, social, wellbeing, ngo — per age group (rows sum to 1)
    [0.25, 0.12, 0.00, 0.55, 0.00, 0.00, 0.08],
    [0.52, 0.35, 0.00, 0.00, 0.03, 0.05, 0.05],
    [0.52, 0.15, 0.12, 0.00, 0.06, 0.08, 0.07],
    [0.66, 0.17, 0.00, 0.00, 0.06, 0.07, 0.04],
    [0.73, 0.14, 0.00, 0.00, 0.03, 0.05, 0.05],
])
RATE_BY_AGE = ((0, 1.5), (7, 0.6), (18, 0.7), (45, 0.9), (65, 1.4), (75, 2.0))
"""(from age, relative monthly contact rate): small children and older people see services most."""
SEASON = (1.05, 1.05, 1.05, 1.0, 1.0, 0.85, 0.6, 0.9, 1.1, 1.1, 1.1, 0.85)
PROPENSITY_SHAPE = 0.4
"""Gamma shape of a person's propensity (mean 1): small values make heavy users and non-users."""

PARTNERS = ("city", "mehilainen", "ngo_mll", "ngo_setlementti")
CITY, MEHILAINEN, MLL, SETLEMENTTI = range(len(PARTNERS))
FEEDS = {"city": "city_visits", "mehilainen": "mehilainen_fhir", "ngo_mll": "ngo_attendance",
         "ngo_setlementti": "ngo_attendance"}
MEHILAINEN_SHARE = 0.3  # of residents whose own primary-care provider is Mehiläinen
OWN_PROVIDER = 0.85     # primary care at one's own provider
OWN_DISTRICT = 0.9      # a unit in one's own district (else anywhere, by size)
OWN_PROFESSIONAL = 0.65 # "their" physician / nurse / … of the unit's staff

GROUPS = ("physician", "nurse", "public_health_nurse", "dentist", "dental_hygienist", "social_worker",
          "social_instructor", "physiotherapist", "psychologist")
PHYSICIAN, NURSE, PHN, DENTIST, HYGIENIST, SOCIAL_WORKER, INSTRUCTOR, PHYSIO, PSYCHOLOGIST = range(len(GROUPS))
CITY_GROUP_CODES = ("LAAK", "SH", "TH", "HLAAK", "SUUHYG", "SOSTT", "SOHJ", None, None)
SNOMED_GROUP_CODES = ("309343006", "106292003", None, "106289002", None, None, None, "36682004", "59944000")
STAFF_PER_10000 = (4.0, 6.0, 4.0, 3.0, 2.0, 1.5, 1.5, 1.0, 1.0)
"""Staff of a unit per 10,000 residents it serves, by professional group."""

CITY_GROUP_MIX = {  # service area → {professional group: share}
    PRIMARY: {PHYSICIAN: 0.55, NURSE: 0.45}, DENTAL: {DENTIST: 0.65, HYGIENIST: 0.35},
    MATERNITY: {PHN: 0.9, PHYSICIAN: 0.1}, CHILD: {PHN: 0.9, PHYSICIAN: 0.1},
    SOCIAL: {SOCIAL_WORKER: 0.6, INSTRUCTOR: 0.4}, WELLBEING: {NURSE: 0.4, PHN: 0.2, INSTRUCTOR: 0.4},
}
MEHILAINEN_GROUP_MIX = {PRIMARY: {PHYSICIAN: 0.55, NURSE: 0.33, PHYSIO: 0.08, PSYCHOLOGIST: 0.04},
                        DENTAL: {DENTIST: 1.0}}
CITY_SERVICE_CODES = ("TK_VO", "SHT", "AITNEU", "LANEU", "SOSNEU", "HYVNEU", None)
CITY_UNIT_SUFFIX = ("TK", "SHT", "NEU", "NEU", "SOS", "SOS", None)
MEHILAINEN_SERVICE_BY_GROUP = {PHYSICIAN: "GP", NURSE: "GP", DENTIST: "DENTAL", PHYSIO: "PHYSIO",
                               PSYCHOLOGIST: "MENTAL"}
MEHILAINEN_CLINICS = {  # clinic: the districts it serves
    "Tesoma": ("TESOMA", "YLOJARVI", "NOKIA", "HAMEENKYRO"), "Tampere": ("KESKUSTA", "KALEVA", "ITA"),
    "Hervanta": ("HERVANTA", "PIRKKALA", "LEMPAALA", "VESILAHTI"), "Kangasala": ("KANGASALA", "ORIVESI", "PALKANE"),
    "Valkeakoski": ("VALKEAKOSKI", "AKAA"), "Sastamala": ("SASTAMALA",),
    "Pohjoinen": ("IKAALINEN", "PARKANO", "VIRRAT", "MANTTA"),
}

MODES = ("R10", "R20", "R52", "R55", "R60", "R71", "R80")
R10, R20, R52, R55, R60, R71, R80 = range(len(MODES))
MODE_LABELS = ("Office visit", "Home visit", "Real-time remote contact (video)", "Electronic service",
               "Consultation", "Phone", "Letter or electronic message")
DURATION_MIN = {R10: (15, 60), R20: (45, 90), R52: (15, 30), R55: (5, 15), R60: (10, 30), R71: (10, 20),
                R80: (10, 10)}
CITY_MODE_MIX = {
    PRIMARY: {R10: 0.70, R71: 0.17, R52: 0.05, R55: 0.03, R80: 0.03, R20: 0.02},
    DENTAL: {R10: 0.97, R71: 0.03}, MATERNITY: {R10: 0.85, R71: 0.10, R20: 0.05},
    CHILD: {R10: 0.85, R20: 0.10, R71: 0.05}, SOCIAL: {R10: 0.60, R71: 0.25, R52: 0.10, R20: 0.05},
    WELLBEING: {R10: 0.65, R52: 0.15, R71: 0.12, R55: 0.05, R60: 0.03},
}
MEHILAINEN_MODE_MIX = {PRIMARY: {R10: 0.72, R52: 0.25, R20: 0.03}, DENTAL: {R10: 1.0}}
REMOTE_GROWTH = 0.10
"""Share of office visits that have become video or e-service contacts by the last month (0 at the first)."""

STATUS = ("completed", "cancelled", "no_show")
COMPLETED, CANCELLED, NO_SHOW = range(len(STATUS))
CITY_STATUS_SOURCE = ("toteutunut", "peruttu", "ei saapunut")
FHIR_STATUS_SOURCE = ("finished", "cancelled", None)

ASSESSED = {CITY: {PRIMARY: 0.85, DENTAL: 0.85, SOCIAL: 0.7, WELLBEING: 0.7}, MEHILAINEN: {PRIMARY: 0.8, DENTAL: 0.8}}
"""Share of contacts with a recorded care-need assessment, by partner and service area (clinic check-ups are
booked at the previous visit: no assessment)."""
URGENT = {PRIMARY: 0.25, DENTAL: 0.15, SOCIAL: 0.05, WELLBEING: 0.02}
URGENCY = ("urgent", "non_urgent")
CITY_URGENCY_SOURCE = ("K", "E")
FHIR_URGENCY_SOURCE = ("UR", "R")

NGO_GROUPS = {  # partner: ((group, activity type, ages), ...)
    "ngo_mll": (("Perhekahvila", "family_cafe", (0, 6)), ("Vauvaperheiden vertaisryhmä", "peer_support", (18, 45))),
    "ngo_setlementti": (("Nuorten olohuone", "youth_group", (7, 17)),
                        ("Omaishoitajien vertaisryhmä", "peer_support", (46, 64)),
                        ("Digitupa", "digital_help", (65, 120))),
}
UPDATE_SHARE = 0.01
NO_SHOW_FEE, PHYSICIAN_FEE = 5150, 2090
DENTAL_FEES = np.array([1380, 2280, 3660, 5120, 7960])
DIAGNOSIS_SYSTEMS = ("ICPC-2", "ICD-10")
DIAGNOSIS_SOURCE_SYSTEMS = ("ICPC2", "ICD10", "http://hl7.org/fhir/sid/icd-10")


# --- the world: residents, units and staff, drawn once ----------------------------------------------------

@dataclass
class World:
    areas: list[PostalArea]
    districts: list[str]
    birth_year: np.ndarray   # int16 per person
    birth_month: np.ndarray  # int8, 1..12
    female: np.ndarray       # bool
    area: np.ndarray         # int16 index into areas
    district: np.ndarray     # int16 index into districts
    propensity: np.ndarray   # float32
    own_provider: np.ndarray # int8: CITY or MEHILAINEN
    bond: np.ndarray         # uint32: which of a unit's staff is "theirs"
    person_id: pa.StringArray
    ngo_person_id: dict[str, pa.StringArray]
    units: list[tuple[str, str]]       # (partner, unit code)
    city_unit: np.ndarray              # [district, service area] → unit index (-1 none)
    mehilainen_unit: np.ndarray        # [district] → unit index
    ngo_unit: dict[str, np.ndarray]    # partner → [district, group] → unit index
    staff_offset: np.ndarray           # [unit, group] → first staff index (-1: no such staff)
    staff_size: np.ndarray             # [unit, group]
    staff_id: pa.StringArray
    district_residents: np.ndarray


def _age_band_draw(rng: np.random.Generator, n: int) -> np.ndarray:
    weights = np.array([*population.AGE_BAND_WEIGHTS, population.CENTENARIAN_WEIGHT], float)
    band = rng.choice(len(weights), size=n, p=weights / weights.sum())
    return np.where(band == len(weights) - 1, 100, band * 5 + rng.integers(0, 5, n))


def pseudonyms(rng: np.random.Generator, n: int) -> pa.StringArray:
    """``n`` random 26-character base32 texts, shaped like the pipeline's keyed pseudonyms."""
    return to_text(rng.bytes(16 * n))


def build_world(residents: int, last_month: dt.date, seed: int) -> World:
    rng = np.random.default_rng([seed, 1])
    areas = postal_areas()
    districts = list(MUNICIPALITIES)
    district_of_area = np.array([districts.index(a.district) for a in areas], np.int16)
    area = rng.choice(len(areas), size=residents, p=np.array([a.weight for a in areas])).astype(np.int16)
    district = district_of_area[area]
    age = _age_band_draw(rng, residents)
    birth_month = rng.integers(1, 13, residents).astype(np.int8)
    # Not yet had this year's birthday at the last month: born a year earlier.
    birth_year = (last_month.year - age - (birth_month > last_month.month)).astype(np.int16)
    district_residents = np.bincount(district, minlength=len(districts))

    units: list[tuple[str, str]] = []
    city_unit = np.full((len(districts), len(AREAS)), -1, np.int32)
    for d, name in enumerate(districts):
        for a, suffix in enumerate(CITY_UNIT_SUFFIX):
            if suffix is None:
                continue
            code = f"{name}_{suffix}"
            if ("city", code) not in units:
                units.append(("city", code))
            city_unit[d, a] = units.index(("city", code))
    mehilainen_unit = np.full(len(districts), -1, np.int32)
    served = {}
    for clinic, served_districts in MEHILAINEN_CLINICS.items():
        units.append(("mehilainen", f"Mehiläinen {clinic}"))
        for name in served_districts:
            mehilainen_unit[districts.index(name)] = len(units) - 1
        served[len(units) - 1] = sum(district_residents[districts.index(n)] for n in served_districts)
    ngo_unit = {}
    for partner, groups in NGO_GROUPS.items():
        table = np.full((len(districts), len(groups)), -1, np.int32)
        for d, name in enumerate(districts):
            for g, (group, _, _) in enumerate(groups):
                units.append((partner, f"{group} {DISTRICT_NAMES[name]}"))
                table[d, g] = len(units) - 1
        ngo_unit[partner] = table

    # Staff per unit and group, from the residents the unit serves.
    size = np.zeros((len(units), len(GROUPS)), np.int32)
    for u, (partner, code) in enumerate(units):
        if partner == "city":
            d = districts.index(code.rsplit("_", 1)[0])
            people = district_residents[d] * (1 - MEHILAINEN_SHARE * (code.endswith("_TK") or code.endswith("_SHT")))
        elif partner == "mehilainen":
            people = served[u] * MEHILAINEN_SHARE
        else:
            continue
        size[u] = np.maximum(1, np.round(people / 10_000 * np.array(STAFF_PER_10000))).astype(np.int32)
    offset = np.cumsum(size.ravel()) - size.ravel()
    staff_rng = np.random.default_rng([seed, 2])
    return World(
        areas=areas, districts=districts, birth_year=birth_year, birth_month=birth_month,
        female=rng.random(residents) < 0.51, area=area, district=district,
        propensity=rng.gamma(PROPENSITY_SHAPE, 1 / PROPENSITY_SHAPE, residents).astype(np.float32),
        own_provider=np.where(rng.random(residents) < MEHILAINEN_SHARE, MEHILAINEN, CITY).astype(np.int8),
        bond=rng.integers(0, 2**32, residents, dtype=np.uint64).astype(np.uint32),
        person_id=pseudonyms(np.random.default_rng([seed, 3]), residents),
        ngo_person_id={p: pseudonyms(np.random.default_rng([seed, 4, i]), residents)
                       for i, p in enumerate(NGO_GROUPS)},
        units=units, city_unit=city_unit, mehilainen_unit=mehilainen_unit, ngo_unit=ngo_unit,
        staff_offset=offset.reshape(size.shape).astype(np.int64), staff_size=size,
        staff_id=pseudonyms(staff_rng, int(size.sum())), district_residents=district_residents,
    )


# --- helpers: vectorised draws and Arrow columns ----------------------------------------------------------

def _categorical(rng: np.random.Generator, probabilities: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One draw per row from the distribution ``probabilities[rows]`` (a 2-D table of rows summing to 1)."""
    cumulative = np.cumsum(probabilities, axis=1)[rows]
    u = rng.random(len(rows))[:, None] * cumulative[:, -1:]
    return np.minimum((u >= cumulative).sum(axis=1), probabilities.shape[1] - 1)


def _mix_table(mixes: dict[int, dict[int, float]], keys: int, values: int) -> np.ndarray:
    table = np.zeros((keys, values))
    table[:, 0] = 1.0  # rows without a mix are never drawn from
    for key, mix in mixes.items():
        table[key] = 0.0
        for value, share in mix.items():
            table[key, value] = share
    return table


def _text(values: tuple | list, index: np.ndarray) -> pa.Array:
    """``values[index]`` as Arrow strings; null where ``index`` < 0 or the value is None."""
    dictionary = pa.array(list(values), pa.string())
    return pc.take(dictionary, pa.array(index.astype(np.int32), mask=index < 0))


def _constant(value: str | None, n: int) -> pa.Array:
    return pa.nulls(n, pa.string()) if value is None else pc.take(pa.array([value]), pa.array(np.zeros(n, np.int32)))


def _timestamps(us: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    return pa.array(us.astype(np.int64), pa.timestamp("us", tz="UTC"), mask=None if valid is None else ~valid)


def _dates(days: np.ndarray) -> pa.Array:
    return pa.array(days.astype(np.int32), pa.int32()).view(pa.date32())


def _euros(cents: np.ndarray, valid: np.ndarray, type_: pa.DataType) -> pa.Array:
    """Integer cents as an Arrow decimal of scale 2, built from its 128-bit little-endian words."""
    words = np.zeros((len(cents), 2), np.int64)
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)
    validity = pa.array(valid).buffers()[1] if not valid.all() else None
    return pa.Array.from_buffers(type_, len(cents), [validity, pa.py_buffer(words.tobytes())],
                                 null_count=int((~valid).sum()))


def _utc_offset_hours(days: np.ndarray) -> np.ndarray:
    """Helsinki's UTC offset on each local date (days since 1970), for daytime hours: 3 in summer time."""
    years = np.unique(days.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970)
    offset = np.full(len(days), 2, np.int8)
    for year in years:
        start = _last_sunday(year, 3)
        end = _last_sunday(year, 10)
        offset[(days >= start) & (days < end)] = 3
    return offset


def _last_sunday(year: int, month: int) -> int:
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return (last - dt.timedelta(days=(last.weekday() + 1) % 7) - _EPOCH).days


def _delivery_id(feed: str, partner: str, day: dt.date, seed: int) -> str:
    digest = hashlib.sha256(f"{GENERATOR}|{seed}|{feed}|{partner}|{day.isoformat()}".encode()).hexdigest()
    return f"{feed}-{partner}-{day:%Y%m%d}-1-{digest[:8]}"


def months_ending(last_month: dt.date, months: int) -> list[dt.date]:
    """The first days of ``months`` months, the last being ``last_month``'s, oldest first."""
    index = last_month.year * 12 + last_month.month - 1
    return [dt.date((index - k) // 12, (index - k) % 12 + 1, 1) for k in range(months - 1, -1, -1)]


# --- the contacts of one month ----------------------------------------------------------------------------

def _age_group(age: np.ndarray, female: np.ndarray) -> np.ndarray:
    return np.select([age <= 6, age <= 17, female & (age <= 45), age <= 64], [0, 1, 2, 3], 4)


def _age_rate(age: np.ndarray) -> np.ndarray:
    rate = np.zeros(len(age), np.float32)
    for low, value in RATE_BY_AGE:
        rate[age >= low] = value
    return rate


def _alive(world: World, month: dt.date) -> np.ndarray:
    return (world.birth_year < month.year) | ((world.birth_year == month.year) & (world.birth_month <= month.month))


def _monthly_weight(world: World, month: dt.date) -> np.ndarray:
    age = month.year - world.birth_year.astype(np.int32)
    return np.where(_alive(world, month), _age_rate(age) * world.propensity * SEASON[month.month - 1], 0.0)


@dataclass
class MonthContacts:
    """A month's contacts as column arrays (one entry per event), before they become partner files."""

    columns: dict[str, object]
    partner: np.ndarray


def _day_weights(month: dt.date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(local days since 1970, weight of a day for appointments, working-day flag) of the month's days."""
    count = calendar.monthrange(month.year, month.month)[1]
    days = [month + dt.timedelta(days=i) for i in range(count)]
    holidays = public_holidays(month.year)
    working = np.array([d.weekday() < 5 and d not in holidays for d in days])
    first = (month - _EPOCH).days
    return np.arange(first, first + count), np.where(working, 1.0, 0.08), working


def month_contacts(world: World, month: dt.date, base_rate: float, progress: float, seed: int) -> MonthContacts:
    """The contacts of ``month`` (``progress``: 0 at the period's first month, 1 at its last)."""
    rng = np.random.default_rng([seed, 10, month.year, month.month])
    counts = rng.poisson(_monthly_weight(world, month) * base_rate)
    person = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    n = len(person)
    age = (month.year - world.birth_year[person]).astype(np.int16)
    female = world.female[person]
    district = world.district[person]

    area = _categorical(rng, AREA_MIX, _age_group(age, female))
    # Partner: primary care mostly at one's own provider; dental at the city's or Mehiläinen's; NGO groups.
    partner = np.full(n, CITY, np.int8)
    own = world.own_provider[person]
    other = np.where(own == CITY, MEHILAINEN, CITY)
    partner = np.where(area == PRIMARY, np.where(rng.random(n) < OWN_PROVIDER, own, other), partner)
    partner = np.where(area == DENTAL, np.where(rng.random(n) < 0.25, MEHILAINEN, CITY), partner)
    ngo = area == NGO
    families = (age <= 6) | (female & (age >= 18) & (age <= 45))
    partner = np.where(ngo, np.where(families, MLL, SETLEMENTTI), partner).astype(np.int8)

    # Unit: the own district's (else any district, by its residents), by partner and service area.
    moved = rng.random(n) >= OWN_DISTRICT
    district = np.where(moved, rng.choice(len(world.districts), size=n,
                                          p=world.district_residents / world.district_residents.sum()), district)
    unit = np.where(partner == CITY, world.city_unit[district, area], world.mehilainen_unit[district])
    for p in (MLL, SETLEMENTTI):
        groups = NGO_GROUPS[PARTNERS[p]]
        rows = np.flatnonzero(partner == p)
        choice = np.zeros(len(rows), np.int64)
        for g, (_, _, (low, high)) in enumerate(groups):
            choice[(age[rows] >= low) & (age[rows] <= high)] = g
        unit[rows] = world.ngo_unit[PARTNERS[p]][district[rows], choice]

    city = partner == CITY
    meh = partner == MEHILAINEN
    group = np.full(n, -1, np.int64)
    group[city] = _categorical(rng, _mix_table(CITY_GROUP_MIX, len(AREAS), len(GROUPS)), area[city])
    group[meh] = _categorical(rng, _mix_table(MEHILAINEN_GROUP_MIX, len(AREAS), len(GROUPS)), area[meh])
    staffed = group >= 0

    # Professional: "their own" of the unit's staff with p = OWN_PROFESSIONAL, anyone of it otherwise.
    size = np.where(staffed, world.staff_size[unit, np.maximum(group, 0)], 1).astype(np.int64)
    mixed = (world.bond[person].astype(np.uint64) * np.uint64(2654435761)
             + (unit * 31 + np.maximum(group, 0)).astype(np.uint64) * np.uint64(40503)) % np.uint64(2**32)
    theirs = (mixed % size.astype(np.uint64)).astype(np.int64)
    anyone = (rng.random(n) * size).astype(np.int64)
    staff_no = np.where(rng.random(n) < OWN_PROFESSIONAL, theirs, anyone)
    professional = np.where(staffed, world.staff_offset[unit, np.maximum(group, 0)] + staff_no, -1)

    # Contact mode, with remote contacts growing over the years.
    mode = np.full(n, -1, np.int64)
    mode[city] = _categorical(rng, _mix_table(CITY_MODE_MIX, len(AREAS), len(MODES)), area[city])
    mode[meh] = _categorical(rng, _mix_table(MEHILAINEN_MODE_MIX, len(AREAS), len(MODES)), area[meh])
    remote = (mode == R10) & (area != DENTAL) & (rng.random(n) < REMOTE_GROWTH * progress)
    mode = np.where(remote, np.where(rng.random(n) < 0.6, R52, R55), mode)

    # Day and time (local), then UTC.
    day_numbers, day_weight, working = _day_weights(month)
    day_index = rng.choice(len(day_numbers), size=n, p=day_weight / day_weight.sum())
    ngo_rows = np.flatnonzero(ngo)
    day_index[ngo_rows] = rng.choice(np.flatnonzero(working), size=len(ngo_rows))
    event_day = day_numbers[day_index]
    minute = np.where(working[day_index], 8 * 60 + 15 * rng.integers(0, 32, n), 9 * 60 + 15 * rng.integers(0, 24, n))
    start_us = ((event_day * 86400 + minute * 60 - _utc_offset_hours(event_day).astype(np.int64) * 3600)
                * 1_000_000)
    low = np.array([DURATION_MIN.get(m, (0, 0))[0] for m in range(len(MODES))])
    high = np.array([DURATION_MIN.get(m, (0, 0))[1] for m in range(len(MODES))])
    m0 = np.maximum(mode, 0)
    duration = low[m0] + 5 * ((rng.random(n) * ((high[m0] - low[m0]) // 5 + 1)).astype(np.int64))

    # Status: cancellations, and no-shows of office and home visits (Mehiläinen's export has no no-shows).
    roll = rng.random(n)
    status = np.where(roll < 0.06, CANCELLED,
                      np.where((roll < 0.10) & city & ((mode == R10) | (mode == R20)), NO_SHOW, COMPLETED))
    status = np.where(ngo, COMPLETED, np.where(meh & (roll < 0.05), CANCELLED, np.where(meh, COMPLETED, status)))

    # Care-need assessment and urgency; non-urgent waits of 0-30 days, most within 14 (dental: longer).
    assessed = np.zeros(n, bool)
    urgent = np.zeros(n, bool)
    for p, shares in ASSESSED.items():
        for a, share in shares.items():
            rows = (partner == p) & (area == a)
            assessed |= rows & (rng.random(n) < share)
            urgent |= rows & (rng.random(n) < URGENT[a])
    kind = rng.random(n)
    wait = np.where(kind < 0.70, np.minimum(rng.geometric(0.22, n) - 1, 14),
                    np.where(kind < 0.94, rng.integers(7, 15, n), rng.integers(15, 31, n)))
    wait = np.where(area == DENTAL, np.minimum(wait + rng.integers(0, 6, n), 30), wait)
    wait = np.where(urgent, (rng.random(n) < 0.3).astype(np.int64), wait)
    # Assessed on the day ``wait`` days before, in office hours; the same day a little before the contact.
    assessed_day = event_day - wait
    assessed_us = np.where(
        wait == 0, start_us - rng.integers(1, 9, n) * 15 * 60_000_000,
        (assessed_day * 86400 + (8 * 60 + 15 * rng.integers(0, 32, n)) * 60
         - _utc_offset_hours(assessed_day).astype(np.int64) * 3600) * 1_000_000)
    urgency = np.where(assessed, np.where(urgent, 0, 1), -1)

    # Diagnoses of completed contacts.
    completed = status == COMPLETED
    diagnosis = np.full(n, -1, np.int64)
    system = np.full(n, -1, np.int64)
    for p, a, share, codes, sys_city in (
        (CITY, PRIMARY, 0.8, None, None), (CITY, DENTAL, 0.3, clinical_codes.DENTAL_ICD10, 1),
        (CITY, MATERNITY, 0.2, clinical_codes.MATERNITY, 1), (MEHILAINEN, PRIMARY, 0.75, clinical_codes.ICD10, 1),
        (MEHILAINEN, DENTAL, 0.3, clinical_codes.DENTAL_ICD10, 1),
    ):
        rows = np.flatnonzero((partner == p) & (area == a) & completed & (rng.random(n) < share))
        if codes is None:  # the city's primary care: ICPC-2 or ICD-10, half and half
            icpc = rng.random(len(rows)) < 0.5
            system[rows] = np.where(icpc, 0, 1)
            diagnosis[rows] = np.where(icpc, _pick(rng, clinical_codes.ICPC2, len(rows)),
                                       _pick(rng, clinical_codes.ICD10, len(rows)))
        else:
            system[rows] = sys_city
            diagnosis[rows] = _pick(rng, codes, len(rows))

    # Fees (cents): the city's adult physician visits, dental care and no-shows; none for children.
    adult = age >= 18
    fee = np.zeros(n, np.int64)
    fee = np.where(city & adult & (status == NO_SHOW), NO_SHOW_FEE, fee)
    fee = np.where(city & adult & completed & (area == PRIMARY) & (group == PHYSICIAN)
                   & np.isin(mode, (R10, R20, R52)), PHYSICIAN_FEE, fee)
    fee = np.where(city & adult & completed & (area == DENTAL) & (mode == R10),
                   DENTAL_FEES[rng.integers(0, len(DENTAL_FEES), n)], fee)

    updated_us = np.where(status == CANCELLED, start_us - rng.integers(60, 48 * 60, n) * 60_000_000,
                          start_us + (duration + 5 * rng.integers(1, 19, n)) * 60_000_000)
    columns = {
        "event_id": pseudonyms(rng, n), "person": person, "age": age, "female": female, "area": area,
        "unit": unit, "group": group, "professional": professional, "mode": mode, "day": event_day,
        "start_us": start_us, "duration": duration, "status": status, "assessed_us": assessed_us,
        "urgency": urgency, "diagnosis": diagnosis, "system": system, "fee": fee, "updated_us": updated_us,
    }
    return MonthContacts(columns, partner)


ALL_CODES = sorted({c for t in (clinical_codes.ICPC2, clinical_codes.ICD10, clinical_codes.DENTAL_ICD10,
                                clinical_codes.MATERNITY) for c in t})


def _pick(rng: np.random.Generator, codes: dict[str, tuple[str, int]], n: int) -> np.ndarray:
    """Indices into ALL_CODES, drawn by the codes' relative frequencies."""
    keys = list(codes)
    weights = np.array([codes[k][1] for k in keys], float)
    drawn = rng.choice(len(keys), size=n, p=weights / weights.sum())
    return np.array([ALL_CODES.index(k) for k in keys])[drawn]


def service_event_table(world: World, contacts: MonthContacts, p: int, delivery_id: str, schema: pa.Schema,
                        year: int) -> pa.Table:
    """The service_event rows of partner ``p`` in a month's contacts, in the warehouse schema."""
    rows = np.flatnonzero(contacts.partner == p)
    c = {k: (v.take(pa.array(rows)) if isinstance(v, pa.Array) else v[rows]) for k, v in contacts.columns.items()}
    # Order by start time (then person): files read by month and day skip by their statistics.
    order = np.lexsort((c["person"], c["start_us"]))
    c = {k: (v.take(pa.array(order)) if isinstance(v, pa.Array) else v[order]) for k, v in c.items()}
    n = len(rows)
    name = PARTNERS[p]
    city, ngo = p == CITY, p in (MLL, SETLEMENTTI)
    person = c["person"]
    age = c["age"].astype(np.int16)
    has_time = np.full(n, not ngo)
    birth_year = np.where(age >= 90, year - 90, world.birth_year[person]).astype(np.int16)
    area = c["area"]
    group = c["group"]
    mode = c["mode"]
    status = c["status"]
    urgency = c["urgency"]
    diagnosis, system = c["diagnosis"], c["system"]
    # NGO attendance comes under the NGO's own member pseudonyms (partner_local), as in ngo_attendance.
    person_id = (world.ngo_person_id[name] if ngo else world.person_id).take(pa.array(person))
    postal = np.array([a.code for a in world.areas])
    municipality = np.array([a.municipality for a in world.areas])
    area_of_person = world.area[person]
    units = [u for _, u in world.units]
    if city:
        service_source = _text(CITY_SERVICE_CODES, area)
        group_source = _text(CITY_GROUP_CODES, group)
        status_source = _text(CITY_STATUS_SOURCE, status)
        urgency_source = _text(CITY_URGENCY_SOURCE, urgency)
    elif p == MEHILAINEN:
        codes = tuple(MEHILAINEN_SERVICE_BY_GROUP.get(g) for g in range(len(GROUPS)))
        service_source = _text(codes, group)
        group_source = _text(SNOMED_GROUP_CODES, group)
        status_source = _text(FHIR_STATUS_SOURCE, status)
        urgency_source = _text(FHIR_URGENCY_SOURCE, urgency)
    else:
        service_source = group_source = status_source = urgency_source = pa.nulls(n, pa.string())
    values = {
        "event_id": c["event_id"],
        "person_id": person_id,
        "person_id_kind": _constant("partner_local" if ngo else "hetu", n),
        "partner": _constant(name, n),
        "feed": _constant(FEEDS[name], n),
        "service_area": _text(AREAS, area),
        "service_code_source": service_source,
        "contact_mode": _text(MODES, mode),
        "contact_mode_label": _text(MODE_LABELS, mode),
        "professional_group": _text(GROUPS, group),
        "professional_group_source": group_source,
        "unit_code": _text(units, c["unit"]),
        "event_start": _timestamps(c["start_us"], has_time),
        "event_date": _dates(c["day"]),
        "duration_min": pa.array(c["duration"].astype(np.int32), mask=~has_time),
        "status": _text(STATUS, status),
        "status_source": status_source,
        "diagnosis_code": _text(ALL_CODES, diagnosis),
        "diagnosis_system": _text(DIAGNOSIS_SYSTEMS, system),
        "diagnosis_code_source": _text(ALL_CODES, diagnosis),
        "birth_year": pa.array(birth_year),
        "age_at_event": pa.array(np.minimum(age, 90).astype(np.int16)),
        "sex": pa.nulls(n, pa.string()) if ngo else _text(("male", "female"), c["female"].astype(np.int64)),
        "home_municipality": pa.nulls(n, pa.string()) if ngo else _text(list(municipality), area_of_person),
        "home_postal_code": _text(list(postal), area_of_person),
        "client_fee_eur": _euros(c["fee"], np.full(n, city), schema.field("client_fee_eur").type),
        "source_updated_at": _timestamps(c["updated_us"], has_time),
        "delivery_id": _constant(delivery_id, n),
        "professional_id": pc.take(world.staff_id, pa.array(c["professional"], mask=c["professional"] < 0)),
        "assessment_time": _timestamps(c["assessed_us"], urgency >= 0),
        "urgency": _text(URGENCY, urgency),
        "urgency_source": urgency_source,
    }
    return _in_schema(values, schema, "service_event")


def event_diagnosis_table(events: pa.Table, schema: pa.Schema) -> pa.Table:
    """One primary-diagnosis row per event with a diagnosis."""
    with_code = events.filter(pc.is_valid(events["diagnosis_code"]))
    n = with_code.num_rows
    system = with_code["diagnosis_system"]
    source = pc.if_else(pc.equal(with_code["feed"], "mehilainen_fhir"), pa.scalar(DIAGNOSIS_SOURCE_SYSTEMS[2]),
                        pc.if_else(pc.equal(system, "ICPC-2"), pa.scalar("ICPC2"), pa.scalar("ICD10")))
    values = {name: with_code[name] for name in ("event_id", "person_id", "partner", "feed", "diagnosis_code",
                                                 "diagnosis_system", "diagnosis_code_source", "delivery_id",
                                                 "delivery_date")}
    values.update(diagnosis_system_source=source, is_primary=pa.array(np.ones(n, bool)))
    return _in_schema(values, schema, "event_diagnosis")


def corrections(events: pa.Table, rng: np.random.Generator, next_month: dt.date, delivery_id: str) -> pa.Table:
    """New versions of about 1 % of a month's city visits, delivered with the next month: a diagnosis
    corrected, or the visit cancelled after all."""
    completed = np.flatnonzero(pc.equal(events["status"], "completed").to_numpy(zero_copy_only=False))
    picked = np.sort(rng.choice(completed, size=int(len(completed) * UPDATE_SHARE), replace=False))
    versions = events.take(pa.array(picked))
    n = versions.num_rows
    cancel = rng.random(n) < 0.3
    first_day = (next_month - _EPOCH).days
    updated = (first_day * 86400 + 6 * 3600 + rng.integers(0, 10 * 3600, n)) * 1_000_000
    replaced = {
        "status": pc.if_else(pa.array(cancel), pa.scalar("cancelled"), versions["status"]),
        "status_source": pc.if_else(pa.array(cancel), pa.scalar("peruttu"), versions["status_source"]),
        "diagnosis_code": pc.if_else(pa.array(cancel), pa.scalar(None, pa.string()),
                                     _text(ALL_CODES, _pick(rng, clinical_codes.ICD10, n))),
        "source_updated_at": _timestamps(updated),
        "delivery_id": _constant(delivery_id, n),
        "delivery_date": _dates(np.full(n, first_day)),
    }
    replaced["diagnosis_code_source"] = replaced["diagnosis_code"]
    replaced["diagnosis_system"] = pc.if_else(pc.is_valid(replaced["diagnosis_code"]), pa.scalar("ICD-10"),
                                              pa.scalar(None, pa.string()))
    replaced["client_fee_eur"] = pc.if_else(pa.array(cancel), pa.scalar(None, versions.schema.field(
        "client_fee_eur").type), versions["client_fee_eur"])
    for column, value in replaced.items():
        versions = versions.set_column(versions.schema.get_field_index(column), versions.schema.field(column), value)
    return versions


def _in_schema(values: dict[str, pa.Array], schema: pa.Schema, table: str) -> pa.Table:
    """The columns of ``schema`` from ``values`` (extra values are left out: a column the schema does not
    have yet); a schema column without a value is a bug here, named."""
    missing = [f.name for f in schema if f.name not in values]
    if missing:
        raise KeyError(f"synthetic/county.py makes no {', '.join(missing)} for {table}: add them to its "
                       "generator (warehouse/schemas.py has them)")
    return pa.Table.from_arrays([_typed(values[f.name], f.type) for f in schema], schema=schema)


def _typed(value, type_: pa.DataType):
    if isinstance(value, pa.Array | pa.ChunkedArray):
        return value if value.type == type_ else value.cast(type_)
    return pa.array(value, type_)


# --- the other tables -------------------------------------------------------------------------------------

def population_table(world: World, year: int, delivery_id: str) -> dict:
    """Residents per postal code, five-year band and sex at the end of ``year - 1``, every cell listed."""
    age = (year - 1) - world.birth_year.astype(np.int32)
    present = age >= 0
    band = np.minimum(age // 5, 20)
    cells = (world.area.astype(np.int64) * 21 + band) * 2 + world.female
    counts = np.bincount(cells[present], minlength=len(world.areas) * 21 * 2)
    labels = [f"{low}-{low + 4}" for low in range(0, 100, 5)] + ["100+"]
    index = np.arange(len(counts))
    values = {
        "year": pa.array(np.full(len(counts), year, np.int16)),
        "postal_code": _text([a.code for a in world.areas], index // 42),
        "age_band": _text(labels, (index // 2) % 21),
        "sex": _text(("male", "female"), index % 2),
        "residents": pa.array(counts.astype(np.int32)),
        "delivery_id": _constant(delivery_id, len(counts)),
    }
    return values


TYPICAL_T3_DAYS = {PHYSICIAN: 9.0, NURSE: 2.0, PHN: 5.0, DENTIST: 21.0, HYGIENIST: 14.0, SOCIAL_WORKER: 8.0,
                   INSTRUCTOR: 4.0}
T3_GROUPS = {"TK": (PHYSICIAN, NURSE), "SHT": (DENTIST, HYGIENIST), "NEU": (PHN,), "SOS": (SOCIAL_WORKER, INSTRUCTOR)}


def access_series(world: World) -> list[tuple[int, int, float]]:
    """(unit, professional group, typical T3 days) of every series the city measures (feed city_access:
    Mehiläinen reports no T3). Units differ a little from each other, the same every run."""
    series = []
    for u, (partner, code) in enumerate(world.units):
        if partner == "city":
            series += [(u, g, TYPICAL_T3_DAYS[g] * (0.8 + 0.1 * ((u * 7 + g) % 5)))
                       for g in T3_GROUPS[code.rsplit("_", 1)[1]]]
    return series


class AccessWalk:
    """The T3 series as mean-reverting random walks (half-day precision), carried from month to month."""

    def __init__(self, world: World, seed: int):
        self.series = access_series(world)
        self.typical = np.array([t for _, _, t in self.series])
        self.level = self.typical.copy()
        self.seed = seed

    def month(self, month: dt.date) -> tuple[np.ndarray, np.ndarray]:
        """(day index per row, T3 per row) for every day of the month and series, days first."""
        rng = np.random.default_rng([self.seed, 20, month.year, month.month])
        days = calendar.monthrange(month.year, month.month)[1]
        out = np.empty((days, len(self.series)))
        for d in range(days):
            step = rng.normal(0.25 * (self.typical - self.level), 0.15 * self.typical)
            self.level = np.maximum(0.0, np.round((self.level + step) * 2) / 2)
            out[d] = self.level
        return np.repeat(np.arange(days), len(self.series)), out.ravel()


def access_values(world: World, walk: AccessWalk, month: dt.date, delivery_id: str) -> dict:
    """The city's daily T3 of every unit and group in ``month``."""
    day, t3 = walk.month(month)
    series = np.tile(np.arange(len(walk.series)), len(day) // len(walk.series))
    unit = np.array([u for u, _, _ in walk.series])[series]
    group = np.array([g for _, g, _ in walk.series])[series]
    n = len(day)
    return {
        "partner": _constant("city", n), "measure_date": _dates((month - _EPOCH).days + day),
        "unit_code": _text([u for _, u in world.units], unit), "professional_group": _text(GROUPS, group),
        "professional_group_source": _text(CITY_GROUP_CODES, group), "t3_days": pa.array(t3),
        "delivery_id": _constant(delivery_id, n),
    }


LIBRARY_HOURS = np.array([8.5, 8.5, 8.5, 8.5, 7.5, 5.0, 6.0])


def activity_values(world: World, month: dt.date, p: int, delivery_id: str, seed: int) -> dict:
    """Daily counts: the city's youth centres and libraries per district, the NGOs' group sessions."""
    rng = np.random.default_rng([seed, 30, p, month.year, month.month])
    day_numbers, _, _ = _day_weights(month)
    holidays = public_holidays(month.year)
    weekday = np.array([(month + dt.timedelta(days=int(i))).weekday() for i in range(len(day_numbers))])
    open_day = np.array([month + dt.timedelta(days=int(i)) not in holidays for i in range(len(day_numbers))])
    scale = world.district_residents / 16_000
    rows: list[tuple] = []  # (day index array, unit, service area, activity type, measure, source, values)
    if p == CITY:
        for d, name in enumerate(world.districts):
            youth = np.flatnonzero(open_day & (weekday < 5))
            visits = np.round(rng.uniform(25, 70, len(youth)) * scale[d])
            rows += [(youth, f"NUORISOTALO_{name}", "youth_services", "kaynnit", "visits", visits),
                     (youth, f"NUORISOTALO_{name}", "youth_services", "aukiolotunnit", "opening_hours",
                      np.full(len(youth), 6.5))]
            library = np.flatnonzero(open_day)
            hours = LIBRARY_HOURS[weekday[library]]
            visits = np.round(rng.uniform(42, 75, len(library)) * hours * scale[d])
            rows += [(library, f"KIRJASTO_{name}", "library", "kaynnit", "visits", visits),
                     (library, f"KIRJASTO_{name}", "library", "lainat", "loans",
                      np.round(visits * rng.uniform(0.5, 0.7, len(library)))),
                     (library, f"KIRJASTO_{name}", "library", "aukiolotunnit", "opening_hours", hours)]
        activity_types = None
    else:
        partner = PARTNERS[p]
        activity_types = {}
        for d, name in enumerate(world.districts):
            for g, (group, activity, _) in enumerate(NGO_GROUPS[partner]):
                weekdays = (1, 3) if g == 0 else (g + 1,)
                held = np.flatnonzero(open_day & np.isin(weekday, weekdays) & (rng.random(len(weekday)) < 0.92))
                unit = f"{group} {DISTRICT_NAMES[name]}"
                activity_types[unit] = activity
                participants = np.round(rng.uniform(4, 20, len(held)) * max(scale[d], 0.3) ** 0.5)
                rows += [(held, unit, "ngo_activity", "osallistujat_lkm", "participants", participants),
                         (held, unit, "ngo_activity", "vapaaehtoiset_lkm", "volunteers",
                          rng.integers(1, 4, len(held)).astype(float)),
                         (held, unit, "ngo_activity", None, "sessions", np.ones(len(held)))]
    day = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0, np.int64)
    counts = [len(r[0]) for r in rows]
    n = len(day)

    def spread(i: int) -> list:
        return [v for r, c in zip(rows, counts, strict=True) for v in [r[i]] * c]

    return {
        "partner": _constant(PARTNERS[p], n), "feed": _constant("city_activity" if p == CITY else "ngo_activity", n),
        "activity_date": _dates(day_numbers[day]), "service_area": pa.array(spread(2), pa.string()),
        "unit_code": pa.array(spread(1), pa.string()),
        "activity_type": (pa.nulls(n, pa.string()) if activity_types is None
                          else pa.array([activity_types[u] for u in spread(1)], pa.string())),
        "measure": pa.array(spread(4), pa.string()), "measure_source": pa.array(spread(3), pa.string()),
        "value": pa.array(np.concatenate([r[5] for r in rows]) if rows else np.zeros(0)),
        "delivery_id": _constant(delivery_id, n),
    }


COST_AREAS = {  # Finnish cost area → service area (config/mappings/cost_service_areas.csv)
    "perusterveydenhuolto": "primary_care", "suun terveydenhuolto": "dental_care", "äitiysneuvola": "maternity_clinic",
    "lastenneuvola": "child_clinic", "sosiaalineuvonta": "social_counselling",
    "hyvinvointineuvonta": "wellbeing_counselling", "nuorisopalvelut": "youth_services", "kirjasto": "library",
    "järjestötoiminta": "ngo_activity", "digipalvelut": "digital_service",
}
COST_GROWTH_PER_YEAR = 0.03


def cost_values(world: World, month: dt.date, p: int, first_month: dt.date, delivery_id: str, seed: int,
                type_: pa.DataType) -> dict:
    """The alliance's monthly cost of partner ``p`` per service area, for the Tesoma area's residents."""
    rng = np.random.default_rng([seed, 40, p, month.year, month.month])
    areas = costs.MONTHLY_COST_PER_16000_EUR[PARTNERS[p]]
    residents = world.district_residents[world.districts.index("TESOMA")]
    years = (month.year - first_month.year) + (month.month - first_month.month) / 12
    growth = (1 + COST_GROWTH_PER_YEAR) ** years
    cents = np.array([round(base * residents / 16_000 * growth * rng.uniform(0.95, 1.05) * 100)
                      for base in areas.values()], np.int64)
    n = len(cents)
    return {
        "partner": _constant(PARTNERS[p], n), "month": _dates(np.full(n, (month - _EPOCH).days)),
        "service_area": pa.array([COST_AREAS[a] for a in areas], pa.string()),
        "service_area_source": pa.array(list(areas), pa.string()),
        "cost_eur": _euros(cents, np.ones(n, bool), type_), "delivery_id": _constant(delivery_id, n),
    }


# --- writing and committing -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Written:
    """One data file of a monthly bulk delivery, written in its partition's folder."""

    table: str
    partner: str
    feed: str
    delivery_date: dt.date
    delivery_id: str
    uri: str
    path: Path
    rows: int


class _Writer:
    """Writes each table's files into its Iceberg location, and remembers them for the commit.

    Files are written by one background thread while the next month is drawn (Parquet encoding and zstd
    release the interpreter lock, so the two share the machine's cores); :meth:`settle` waits for what is
    queued, which :func:`generate_county` calls once a month, so at most a month's tables are held twice."""

    def __init__(self, tables: dict, seed: int):
        self.tables = tables  # table name → pyiceberg table (created empty)
        self.seed = seed
        self.files: list[Written] = []
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="county-writer")
        self.queued: list = []

    def settle(self) -> None:
        """Wait until every queued file is written (raising a writer's error here)."""
        queued, self.queued = self.queued, []
        for future in queued:
            future.result()

    def close(self) -> None:
        try:
            self.settle()
        finally:
            self.pool.shutdown()

    def write(self, table: str, data: pa.Table | dict, partner: str, feed: str, delivery_date: dt.date,
              delivery_id: str) -> Written:
        from warehouse.commits import local_path
        from warehouse.iceberg import warehouse_schema
        from warehouse.publish import write_parquet

        schema = warehouse_schema(table)
        if isinstance(data, dict):
            n = len(next(iter(data.values())))
            day = pa.array(np.full(n, (delivery_date - _EPOCH).days, np.int32)).view(pa.date32())
            data = _in_schema({**data, "delivery_date": day, "partner": data.get("partner", _constant(partner, n))},
                              schema, table)
        location = self.tables[table].location().rstrip("/")
        digest = hashlib.sha256(f"{self.seed}|{delivery_id}|{table}|{data.num_rows}".encode()).hexdigest()[:16]
        uri = (f"{location}/data/partner={partner}/delivery_date={delivery_date.isoformat()}/"
               f"{delivery_id}-{digest}.parquet")
        path = local_path(uri)
        self.queued.append(self.pool.submit(write_parquet, data, path))
        written = Written(table, partner, feed, delivery_date, delivery_id, uri, path, data.num_rows)
        self.files.append(written)
        return written


def _with_partition(table: pa.Table, delivery_date: dt.date, schema: pa.Schema) -> pa.Table:
    n = table.num_rows
    values = {name: table[name] for name in table.column_names}
    values["delivery_date"] = pa.array(np.full(n, (delivery_date - _EPOCH).days, np.int32)).view(pa.date32())
    return _in_schema(values, schema, "service_event")


def generate_county(root: Path, *, residents: int = 530_000, months: int = 60,
                    last_month: dt.date = dt.date(2026, 10, 1), seed: int = 42, contacts: int = 25_000_000,
                    echo: Callable[[str], None] = print) -> dict:
    """Generate a county-scale warehouse under the data root ``root`` (an empty one) and record it as its
    warehouse state; returns figures: rows per table, files, contacts, persons, seconds, state id.

    ``contacts`` is the expected number of contacts over the ``months`` (the Poisson draws give a little
    more or less); the corrections come on top of it. See the module's docstring for the world.
    """
    from warehouse import states
    from warehouse.iceberg import Place, WarehouseError, load_table, open_catalog
    from warehouse.ledger import Ledger
    from warehouse.schemas import TABLES

    started = time.perf_counter()
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    # A self-contained data root, whatever TESOMA_* this shell points at: its own ledger and catalog.
    files = root / "warehouse" / "iceberg"
    place = Place(f"sqlite:///{files / 'catalog.sqlite'}", files.as_uri(), f"sqlite:///{root / 'ledger.sqlite'}")
    engine = Ledger(place.ledger_url).engine
    if states.head(engine).snapshots:
        raise WarehouseError(f"{root} already holds a warehouse: generate the county into an empty data root "
                             "(or delete this one)")
    last_month = last_month.replace(day=1)
    month_list = months_ending(last_month, months)
    world = build_world(residents, last_month, seed)
    weight = sum(float(_monthly_weight(world, m).sum()) for m in month_list)
    base_rate = contacts / weight
    echo(f"county: {residents:,} residents in {len(world.areas)} postal code areas ({len(world.districts)} "
         f"districts), {months} months {month_list[0]:%Y-%m} … {last_month:%Y-%m}, about {contacts:,} contacts "
         f"→ {root}")

    tables = {t: load_table(open_catalog(place), t, create=True) for t in TABLES}
    writer = _Writer(tables, seed)
    try:
        total_contacts = _write_months(world, month_list, base_rate, writer, seed, started, echo)
        for year in sorted({m.year for m in month_list}):
            day = dt.date(year, 1, 1)
            delivery_id = _delivery_id("population", "reference", day, seed)
            writer.write("population", population_table(world, year, delivery_id), "reference", "population", day,
                         delivery_id)
    finally:
        writer.close()
    written_s = time.perf_counter() - started

    state = _commit(tables, writer.files, engine, seed)
    rows: dict[str, int] = {}
    for f in writer.files:
        rows[f.table] = rows.get(f.table, 0) + f.rows
    figures = {"residents": residents, "months": months, "first_month": month_list[0], "last_month": last_month,
               "contacts": total_contacts, "rows": rows, "files": len(writer.files), "state_id": state.state_id,
               "bytes": sum(f.path.stat().st_size for f in writer.files), "write_s": written_s,
               "seconds": time.perf_counter() - started}
    echo(f"county: {total_contacts:,} contacts ({rows['service_event']:,} service_event rows with the corrections), "
         f"{len(writer.files):,} files, {figures['bytes'] / 2**30:.2f} GiB; written in {written_s:.0f} s, "
         f"committed as warehouse state {state.state_id} in {figures['seconds'] - written_s:.1f} s")
    return figures


def _write_months(world: World, month_list: list[dt.date], base_rate: float, writer: _Writer, seed: int,
                  started: float, echo: Callable[[str], None]) -> int:
    """Every month's files of every table but the population; returns the number of contacts."""
    from warehouse.iceberg import warehouse_schema
    from warehouse.schemas import TABLES

    months = len(month_list)
    event_schema = warehouse_schema("service_event")
    diagnosis_schema = warehouse_schema("event_diagnosis")
    walk = AccessWalk(world, seed)
    pending: pa.Table | None = None  # the city's corrections of the previous month
    total_contacts = 0
    for index, month in enumerate(month_list):
        writer.settle()  # last month's files are written: hold no more than one month in memory twice
        progress = index / max(1, months - 1)
        contacts_of_month = month_contacts(world, month, base_rate, progress, seed)
        total_contacts += len(contacts_of_month.partner)
        for p, name in enumerate(PARTNERS):
            feed = FEEDS[name]
            delivery_id = _delivery_id(feed, name, month, seed)
            events = service_event_table(world, contacts_of_month, p, delivery_id, TABLES["service_event"],
                                         month.year)
            events = _with_partition(events, month, event_schema)
            next_pending = None
            if p == CITY:
                if index + 1 < len(month_list):
                    next_month = month_list[index + 1]
                    next_pending = corrections(events, np.random.default_rng([seed, 50, month.year, month.month]),
                                               next_month, _delivery_id(feed, name, next_month, seed))
                if pending is not None:
                    events = pa.concat_tables([events, pending])
                pending = next_pending
            writer.write("service_event", events, name, feed, month, delivery_id)
            diagnoses = event_diagnosis_table(events, diagnosis_schema)
            if diagnoses.num_rows:
                writer.write("event_diagnosis", diagnoses, name, feed, month, delivery_id)
        delivery_id = _delivery_id("city_access", "city", month, seed)
        writer.write("access_t3", access_values(world, walk, month, delivery_id), "city", "city_access", month,
                     delivery_id)
        for p in (CITY, MLL, SETLEMENTTI):
            feed = "city_activity" if p == CITY else "ngo_activity"
            delivery_id = _delivery_id(feed, PARTNERS[p], month, seed)
            writer.write("activity_count", activity_values(world, month, p, delivery_id, seed), PARTNERS[p], feed,
                         month, delivery_id)
        for p in range(len(PARTNERS)):
            delivery_id = _delivery_id("costs", PARTNERS[p], month, seed)
            writer.write("cost_month", cost_values(world, month, p, month_list[0], delivery_id, seed,
                                                   TABLES["cost_month"].field("cost_eur").type),
                         PARTNERS[p], "costs", month, delivery_id)
        if (index + 1) % 12 == 0 or index + 1 == months:
            echo(f"  {month:%Y-%m}: {index + 1} months, {total_contacts:,} contacts, "
                 f"{time.perf_counter() - started:.0f} s")
    return total_contacts


def _commit(tables: dict, files: list[Written], engine, seed: int):
    """One Iceberg commit per table adding all its files, the deliveries and one warehouse state, in the
    ledger transaction of the warehouse lock."""
    from warehouse import commits, states
    from warehouse.ledger import deliveries

    now = dt.datetime.now(dt.UTC)
    by_delivery: dict[str, list[Written]] = {}
    for f in files:
        by_delivery.setdefault(f.delivery_id, []).append(f)
    with states.Publishing(engine, "synthetic.county") as session:
        snapshots = {}
        for table, tbl in tables.items():
            mine = [f for f in files if f.table == table]
            if not mine:
                continue
            tbl = commits.roll_back_to(tbl, session.head.snapshots.get(table))  # a killed earlier run's commit
            with commits.lean_transaction(tbl) as tx:
                metadata = tx.table_metadata
                data_files = [commits.data_file(tbl, metadata, f.uri) for f in mine]  # reads each footer
                summary = {"tesoma.generator": GENERATOR, "tesoma.partitions": str(len(mine))}
                with tx.update_snapshot(snapshot_properties=summary).fast_append() as append:
                    for data_file in data_files:
                        append.append_data_file(data_file)
            snapshots[table] = tbl.current_snapshot().snapshot_id
        rows = []
        for delivery_id, parts in sorted(by_delivery.items()):
            first = parts[0]
            count = sum(p.rows for p in parts if p.table != "event_diagnosis")
            rows.append({
                "delivery_id": delivery_id, "partner": first.partner, "feed": first.feed,
                "delivery_date": first.delivery_date, "sequence": 1, "source_name": SOURCE_NAME,
                "sha256": hashlib.sha256(f"{GENERATOR}|{seed}|{delivery_id}".encode()).hexdigest(),
                "raw_path": f"raw/{first.partner}/{first.feed}/{delivery_id}.generated",
                "size_bytes": sum(p.path.stat().st_size for p in parts), "arrived_at": now, "landed_at": now,
                "state": "published", "rows_read": count, "rows_published": count, "rows_quarantined": 0,
                "seconds": 0.0, "purged_at": now, "updated_at": now,
            })
        for i in range(0, len(rows), 500):
            session.conn.execute(deliveries.insert(), rows[i:i + 500])
        return session.advance(snapshots, None)

