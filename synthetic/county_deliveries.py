"""The wellbeing county's deliveries: five years of every feed, as partners drop them into ``landing/``.

``tesoma generate --scale county`` (:func:`generate_county_deliveries`) writes, for a county of about
530,000 residents, what the demo generator (:func:`synthetic.generate`) writes for the Tesoma area: the
city's daily CSV drops (``city_visits``, ``city_activity``, ``city_access``) and its reporting database,
Mehiläinen's daily FHIR bulk exports, the NGOs' activity reports (workbooks and CSV), every partner's
monthly costs and the yearly reference population, with the demo's late, corrected and broken deliveries
(:class:`synthetic.faults.FaultPlan`) and its answer key ``landing/_generated.json``. Same folders, names,
formats, arrival times (mtimes) and answer-key shape: the pipeline cannot tell the two apart but by size.

The world is :mod:`synthetic.county`'s (:func:`~synthetic.county.build_world`: districts, postal codes,
units, staff, propensities; :func:`~synthetic.county.month_contacts`: a month's contacts as columns),
given what a delivery needs and the warehouse never sees: identity codes, names, addresses, phones
(:class:`People`). A month's contacts are drawn at once (NumPy); each day's files are then rendered
column-wise (:mod:`synthetic.bulk_formats`) and written before the next day's, so memory holds one month's
contacts, whatever the number of months. Deliveries with a planned fault go through the demo's own code
(:func:`synthetic.city.deliver_csv`, :func:`synthetic.fhir.deliver_day`) with their rows as Python values.

What differs from the demo's world, on purpose:

- units in every district: ``<DISTRICT>_TK``, ``_SHT``, ``_NEU``, ``_SOS`` (``TESOMA_TK`` is the demo's),
  youth centres and libraries ``NUORISOTALO_<DISTRICT>``/``KIRJASTO_<DISTRICT>``, Mehiläinen's seven clinics
  (``serviceProvider`` ``Mehiläinen <clinic>``) and the NGOs' groups per district (``Perhekahvila Hervanta``);
- the city's contact modes are the contract's five (the county's e-service and consultation contacts are
  delivered as ``R80`` and ``R71``);
- about 3 % of the city's visits get a later version (diagnosis corrected or added, or cancelled after
  all) on a working day within a week, as in the demo;
- NGO sessions are the groups' days with attendance: each attending member is one contact; consented
  members (45 %) are listed, and the participant count adds walk-ins.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from synthetic import addresses, city, city_reporting_db, city_visits, clinical_codes, costs, county, fhir, names
from synthetic import bulk_formats as bulk
from synthetic.answer_key import AnswerKey, OutputFile
from synthetic.faults import FaultPlan
from synthetic.fileformats import Table, set_arrival
from synthetic.schedule import daily_arrival, is_working_day
from transforms.pseudonymise.hetu import CHECK_CHARACTERS

DEFAULT_RESIDENTS = 530_000
DEFAULT_MONTHS = 60
DEFAULT_LAST_MONTH = dt.date(2026, 10, 1)
CONTACTS_PER_RESIDENT_MONTH = 25_000_000 / DEFAULT_RESIDENTS / DEFAULT_MONTHS
"""About 25 million contacts for 530,000 residents over five years (0.79 a resident and month)."""

_EPOCH = dt.date(1970, 1, 1)
_MINUTE_US = 60_000_000
_CITY = county.CITY
_MEH = county.MEHILAINEN
CITY_MODES = ("R10", "R20", "R52", "R80", "R71", "R71", "R80")
"""The contract's code for each of :data:`county.MODES` (R55 e-service → R80, R60 consultation → R71)."""
UPDATE_SHARE = 0.03
NOTE_SHARE = 0.18
NO_HETU_SHARE = 0.05
EMAIL_SHARE = 0.45
CONSENT_SHARE = 0.45
WALK_IN_SHARE = 0.3
"""Share of a session's participants who are walk-ins (counted, not listed)."""
NGO_ACTIVITY_SOURCE = {"family_cafe": "perhekahvila", "peer_support": "vertaistuki", "youth_group": "nuorten ryhmä",
                       "digital_help": "digituki"}
COUNTY_STREETS = (
    "Koulukatu", "Kirkkokatu", "Puistokatu", "Rantatie", "Myllytie", "Asemakatu", "Koivukuja", "Kuusitie",
    "Mäntytie", "Pajatie", "Vanhatie", "Hämeenkatu", "Satakunnankatu", "Pellavatehtaankatu", "Kalevantie",
    "Insinöörinkatu", "Teekkarinkatu", "Orivedenkatu", "Pyynikintie", "Sammonkatu", "Lempääläntie",
    "Sääksjärventie", "Nokiantie", "Harjuntie", "Kangasalantie", "Ämmäläntie", "Pirkkalaistori", "Järvenpääntie",
)
"""Street names for the county's other postal areas (the Tesoma area's own are :data:`addresses.STREETS`)."""


# --- the people: what deliveries carry and the warehouse never sees ----------------------------------------

def _fixed_texts(chars: np.ndarray) -> pa.Array:
    """Rows of a 2-D uint8 array of ASCII characters as Arrow strings (one string per row)."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()),
                                       pa.py_buffer(np.ascontiguousarray(chars).tobytes()))


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return ((np.asarray(values, np.int64)[:, None] // powers) % 10 + 48).astype(np.uint8)


def numbered(prefix: str, values: np.ndarray, width: int) -> pa.Array:
    """``prefix`` and ``values`` zero-padded to ``width`` digits: ``K000123456``."""
    head = np.frombuffer(prefix.encode(), np.uint8)
    return _fixed_texts(np.hstack([np.broadcast_to(head, (len(values), len(head))), _digits(values, width)]))


def uuid_texts(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` version-4 UUIDs drawn from ``rng``, as text."""
    raw = np.frombuffer(rng.bytes(16 * n), np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexchars = np.frombuffer(b"0123456789abcdef", np.uint8)
    nibbles = np.empty((n, 32), np.uint8)
    nibbles[:, 0::2] = hexchars[raw >> 4]
    nibbles[:, 1::2] = hexchars[raw & 15]
    out = np.full((n, 36), ord("-"), np.uint8)
    out[:, [i for i in range(36) if i not in (8, 13, 18, 23)]] = nibbles
    return _fixed_texts(out)


def _spread(i: np.ndarray, offset: int, modulus: int) -> np.ndarray:
    """Distinct numbers below ``modulus`` for distinct ``i`` (an affine map; 7,777,777 is prime to 2, 3, 5)."""
    return (i.astype(np.int64) * 7_777_777 + offset) % modulus


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()


@dataclass
class People:
    """Per resident (index = the world's person number): identity code, name, address, phone…, as Arrow
    text, and the partners' own numbers (Mehiläinen's patient id and record number, NGO member numbers)."""

    birth: np.ndarray  # datetime64[D]
    hetu: pa.Array
    surname: pa.Array
    first_names: pa.Array
    given_name: pa.Array
    given_json: pa.Array  # '"Aino","Maria"': FHIR's name.given without its brackets
    street: pa.Array
    postal: pa.Array
    municipality: pa.Array
    city_name: pa.Array
    phone: pa.Array
    email: pa.Array  # null without one
    patient_id: pa.Array
    mrn: pa.Array
    hetu_recorded: np.ndarray
    members: dict[str, pa.Array]
    consented: dict[str, np.ndarray]
    new_century_signs: int = 0


def build_people(world: county.World, first_month: dt.date, seed: int) -> People:
    """Identity codes (unique, valid check characters, about 2 % with the 2023 century signs), names by
    generation, streets of the person's postal area, phones, e-mails, and the partners' numbers."""
    rng = np.random.default_rng([seed, 70])
    n = len(world.birth_year)
    year = world.birth_year.astype(np.int64)
    month = world.birth_month.astype(np.int64)
    first = (year - 1970) * 12 + month - 1
    month_start = first.astype("datetime64[M]").astype("datetime64[D]")
    length = ((first + 1).astype("datetime64[M]").astype("datetime64[D]") - month_start).astype(np.int64)
    day = 1 + (rng.random(n) * length).astype(np.int64)
    # Born during the period: on the 1st, so no contact comes before the birth date.
    day = np.where(first >= (first_month.year - 1970) * 12 + first_month.month - 1, 1, day)
    birth = month_start + (day - 1)
    male = ~world.female

    # Individual numbers: distinct within each (birth date, sex) — 449 numbers each, odd for men.
    key = birth.astype(np.int64) * 2 + male
    order = np.lexsort((rng.random(n), key))
    sorted_key = key[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1]
    rank = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))
    if n and rank.max() >= 449:
        raise ValueError("more than 449 people of one sex born on one day: too many residents for HETUs")
    index = np.empty(n, np.int64)
    index[order] = (sorted_key % 449 + rank * 173) % 449
    number = 2 + 2 * index + male
    yy = year % 100
    nine = ((day * 100 + month) * 100 + yy) * 1000 + number
    check = np.frombuffer(CHECK_CHARACTERS.encode(), np.uint8)[nine % 31]
    new_sign = rng.random(n) < 0.02
    signs_1900 = np.frombuffer(b"YXWVU", np.uint8)[rng.integers(0, 5, n)]
    signs_2000 = np.frombuffer(b"BCDEF", np.uint8)[rng.integers(0, 5, n)]
    sign = np.where(year < 2000, np.where(new_sign, signs_1900, ord("-")),
                    np.where(new_sign, signs_2000, ord("A"))).astype(np.uint8)
    hetu = np.hstack([_digits(day, 2), _digits(month, 2), _digits(yy, 2), sign[:, None], _digits(number, 3),
                      check[:, None]])

    # Names by generation and sex; a second given name for 70 %. Built column-wise from the name lists.
    older = year < 1970
    lists = {(True, True): names.FEMALE_OLDER, (True, False): names.FEMALE_YOUNGER,
             (False, True): names.MALE_OLDER, (False, False): names.MALE_YOUNGER}
    all_given = [g for choices in lists.values() for g in choices]
    given_index = np.zeros(n, np.int64)
    offset = 0
    for (female, old), choices in lists.items():
        rows = np.flatnonzero((world.female == female) & (older == old))
        given_index[rows] = offset + rng.integers(0, len(choices), len(rows))
        offset += len(choices)
    given = county._text(all_given, given_index)
    seconds = county._text([*names.SECOND_NAMES_FEMALE, *names.SECOND_NAMES_MALE],
                           rng.integers(0, 8, n) + np.where(world.female, 0, 8))
    has_second = pa.array(rng.random(n) < 0.7)
    surname_index = rng.integers(0, len(names.SURNAMES), n)
    surname = county._text(names.SURNAMES, surname_index)
    first_names = pc.if_else(has_second, pc.binary_join_element_wise(given, seconds, " "), given)
    given_json = pc.if_else(has_second, pc.binary_join_element_wise('"', given, '","', seconds, '"', ""),
                            pc.binary_join_element_wise('"', given, '"', ""))

    # Addresses: streets of the person's postal area; apartment buildings for 70 %.
    codes = [a.code for a in world.areas]
    street_lists = [addresses.STREETS.get(c, COUNTY_STREETS) for c in codes]
    sizes = np.array([len(x) for x in street_lists])
    starts_ = np.r_[0, np.cumsum(sizes)[:-1]]
    area = world.area.astype(np.int64)
    street_name = county._text([x for lst in street_lists for x in lst],
                               starts_[area] + (rng.random(n) * sizes[area]).astype(np.int64))

    def text(values: np.ndarray) -> pa.Array:
        return pc.cast(pa.array(values), pa.string())

    house = text(rng.integers(1, 61, n))
    stair = county._text(list("ABCDE"), rng.integers(0, 5, n))
    flat = text(rng.integers(1, 61, n))
    apartment = pa.array(rng.random(n) < 0.7)
    street = pc.if_else(apartment, pc.binary_join_element_wise(street_name, house, stair, flat, " "),
                        pc.binary_join_element_wise(street_name, house, " "))
    operator = np.searchsorted([0.45, 0.80, 0.92], rng.random(n), side="right")
    prefix = county._text(["40", "50", "44", "45"], operator)
    phone = pc.binary_join_element_wise("+358", prefix, text(rng.integers(1_000_000, 10_000_000, n)), " ")
    has_email = rng.random(n) < EMAIL_SHARE
    domains = county._text(["posti", "sahkoposti", "netti"], rng.integers(0, 3, n))
    suffix = pc.if_else(pa.array(rng.random(n) < 0.3), text(rng.integers(1, 100, n)), "")
    local_part = pc.binary_join_element_wise(county._text([_ascii(g) for g in all_given], given_index), ".",
                                             county._text([_ascii(s) for s in names.SURNAMES], surname_index),
                                             suffix, "")
    email = pc.if_else(pa.array(has_email), pc.binary_join_element_wise(local_part, "@", domains, ".example", ""),
                       pa.scalar(None, pa.string()))

    municipality = np.array([a.municipality for a in world.areas])[world.area]
    town = np.array(["Tampere" if a.municipality == "837" else county.DISTRICT_NAMES[a.district]
                     for a in world.areas])[world.area]
    person = np.arange(n)
    bulk.json_safe([*names.SURNAMES, *names.FEMALE_OLDER, *names.FEMALE_YOUNGER, *names.MALE_OLDER,
                    *names.MALE_YOUNGER, *COUNTY_STREETS, *(s for v in addresses.STREETS.values() for s in v),
                    *county.DISTRICT_NAMES.values()])
    return People(
        birth=birth, hetu=_fixed_texts(hetu), surname=surname, first_names=first_names, given_name=given,
        given_json=given_json, street=street,
        postal=pa.array(np.array(codes)[world.area], pa.string()), municipality=pa.array(municipality, pa.string()),
        city_name=pa.array(town, pa.string()), phone=phone, email=email,
        patient_id=uuid_texts(np.random.default_rng([seed, 71]), n),
        mrn=numbered("MH", 10_000_000 + _spread(person, 12_345, 90_000_000), 8),
        hetu_recorded=rng.random(n) >= NO_HETU_SHARE,
        members={"ngo_mll": numbered("", 1_000_000 + _spread(person, 4_321, 9_000_000), 7),
                 "ngo_setlementti": numbered("S-", 100_000 + _spread(person, 999, 900_000), 6)},
        consented={p: rng.random(n) < CONSENT_SHARE for p in ("ngo_mll", "ngo_setlementti")},
        new_century_signs=int(new_sign.sum()),
    )


# --- small helpers ------------------------------------------------------------------------------------------

def _texts(values, index: np.ndarray) -> pa.Array:
    """``values[index]`` as text, "" where ``index`` < 0."""
    return pc.fill_null(county._text(values, np.asarray(index)), "")


def _local_minutes(us: np.ndarray) -> np.ndarray:
    """UTC microseconds (daytime) → Helsinki wall-clock minutes since 1970."""
    day = (us // 1_000_000 + 7200) // 86400
    return us // _MINUTE_US + county._utc_offset_hours(day).astype(np.int64) * 60


_FIELDS = {"Y": 4, "M": 2, "D": 2, "h": 2, "m": 2, "o": 1}


def _clock(minutes: np.ndarray, pattern: tuple[str, ...]) -> pa.Array:
    """Wall-clock minutes since 1970 as fixed-width text: ``pattern`` is literals and fields ``Y M D h m``
    (and ``o``, the Helsinki UTC offset's hour digit). Made from digits, as strftime is slow per row."""
    minutes = np.asarray(minutes, np.int64)
    date = (minutes // 1440).astype("datetime64[D]")
    month_start = date.astype("datetime64[M]")
    values = {
        "Y": date.astype("datetime64[Y]").astype(np.int64) + 1970,
        "M": month_start.astype(np.int64) % 12 + 1,
        "D": (date - month_start.astype("datetime64[D]")).astype(np.int64) + 1,
        "h": minutes % 1440 // 60, "m": minutes % 60,
    }
    if "o" in pattern:
        values["o"] = county._utc_offset_hours(minutes // 1440).astype(np.int64)
    parts = [_digits(values[p], _FIELDS[p]) if p in _FIELDS
             else np.broadcast_to(np.frombuffer(p.encode(), np.uint8), (len(minutes), len(p))) for p in pattern]
    return _fixed_texts(np.hstack(parts)) if len(minutes) else pa.array([], pa.string())


FINNISH = ("D", ".", "M", ".", "Y", " ", "h", ":", "m")
ISO_OFFSET = ("Y", "-", "M", "-", "D", "T", "h", ":", "m", ":00+0", "o", ":00")
DATABASE_TIME = ("Y", "-", "M", "-", "D", " ", "h", ":", "m", ":00")


def _finnish_time(minutes: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    text = _clock(np.where(valid, minutes, 0) if valid is not None else minutes, FINNISH)
    return text if valid is None else pc.if_else(pa.array(valid), text, "")


def _iso_offset(minutes: np.ndarray) -> pa.Array:
    """``2026-10-01T09:15:00+03:00``: Helsinki wall-clock minutes with their UTC offset."""
    return _clock(minutes, ISO_OFFSET)


def _euros(cents: np.ndarray) -> pa.Array:
    cents = np.asarray(cents, np.int64)
    return pc.binary_join_element_wise(pc.cast(pa.array(cents // 100), pa.string()),
                                       pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0"), ",")


def _take(columns: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[rows] for k, v in columns.items()}


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    parts = [p for p in parts if p]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}


def _day_bounds(day_of_row: np.ndarray, first_day: int, days: int) -> np.ndarray:
    """Row ranges of each day in rows sorted by day: day i is rows[bounds[i]:bounds[i + 1]]."""
    return np.searchsorted(day_of_row, first_day + np.arange(days + 1), side="left")


_WORKING: dict[int, bool] = {}


def _next_working(days: np.ndarray) -> np.ndarray:
    def working(d: int) -> bool:
        if d not in _WORKING:
            _WORKING[d] = is_working_day(_EPOCH + dt.timedelta(days=d))
        return _WORKING[d]

    days = days.copy()
    while len(days):
        closed = np.array([not working(int(d)) for d in days])
        if not closed.any():
            break
        days[closed] += 1
    return days


# --- the city's visits ----------------------------------------------------------------------------------

NOTE_PARTS = [(note.split("{name}")[0], "{name}" in note, note.split("{name}")[-1]) for note in city_visits.NOTES]


class _CityVisits:
    """The versions of the city's visits: each month's new visits, and later versions of a few."""

    def __init__(self, world: county.World, people: People, seed: int):
        self.world, self.people, self.seed = world, people, seed
        self.next_number = int(np.random.default_rng([seed, 72]).integers(100_000_000, 200_000_000))
        self.carried: dict[str, np.ndarray] = {}
        total = int(world.staff_size.sum())
        self.staff_ids = numbered("H", 100_000 + _spread(np.arange(total), 54_321, 900_000), 6)
        self.units = [u for _, u in world.units]

    def month(self, contacts: county.MonthContacts, month: dt.date) -> dict[str, np.ndarray]:
        """The month's versions (new visits, updates falling in the month), sorted by update time then
        visit number; updates falling later are carried to their month."""
        c = contacts.columns
        rows = np.flatnonzero(contacts.partner == _CITY)
        rows = rows[np.lexsort((c["person"][rows], c["start_us"][rows]))]
        n = len(rows)
        rng = np.random.default_rng([self.seed, 73, month.year, month.month])
        start = _local_minutes(c["start_us"][rows])
        day = start // 1440
        status = c["status"][rows]
        duration = c["duration"][rows]
        urgency = c["urgency"][rows]
        # Updated the same day: a cancellation in the morning before the visit, else after it.
        opening = day * 1440 + 7 * 60
        latest = np.maximum(0, start - opening - 15)
        cancelled_at = opening + (rng.random(n) * (latest + 1)).astype(np.int64)
        done_at = np.minimum(start + duration + 5 * rng.integers(1, 19, n), day * 1440 + 23 * 60 + 55)
        new = {
            "number": self.next_number + np.arange(n, dtype=np.int64) * 2 + rng.integers(0, 2, n),
            "person": c["person"][rows], "area": c["area"][rows], "mode": c["mode"][rows],
            "group": c["group"][rows], "unit": c["unit"][rows], "start": start, "duration": duration,
            "status": status, "diagnosis": c["diagnosis"][rows], "system": c["system"][rows], "fee": c["fee"][rows],
            "note": np.where(rng.random(n) < NOTE_SHARE, rng.integers(0, len(NOTE_PARTS), n), -1),
            "updated": np.where(status == county.CANCELLED, cancelled_at, done_at),
            "professional": c["professional"][rows],
            "assessed": np.where(urgency >= 0, _local_minutes(c["assessed_us"][rows]), -1), "urgency": urgency,
        }
        self.next_number += 2 * n + 2
        versions = _concat([self.carried, new, self._updates(new, rng)])
        last = (calendar.monthrange(month.year, month.month)[1] - 1) + (month - _EPOCH).days
        later = versions["updated"] // 1440 > last
        self.carried = _take(versions, np.flatnonzero(later))
        versions = _take(versions, np.flatnonzero(~later))
        return _take(versions, np.lexsort((versions["number"], versions["updated"])))

    def _updates(self, new: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
        """New versions of about 3 % of the month's visits on a working day within a week: a diagnosis
        corrected or added, or the visit cancelled after all."""
        picked = np.flatnonzero((new["status"] != county.CANCELLED) & (rng.random(len(new["status"])) < UPDATE_SHARE))
        v = _take(new, picked)
        k = len(picked)
        day = _next_working(v["start"] // 1440 + rng.integers(1, 8, k))
        v["updated"] = day * 1440 + 8 * 60 + 5 * rng.integers(0, 96, k)
        completed = v["status"] == county.COMPLETED
        roll = rng.random(k)
        icpc = county._pick(rng, clinical_codes.ICPC2, k)
        icd = county._pick(rng, clinical_codes.ICD10, k)
        corrected = completed & (v["diagnosis"] >= 0) & (roll < 0.6)
        added = completed & (v["diagnosis"] < 0) & (v["area"] == county.PRIMARY) & (rng.random(k) < 0.5)
        cancel = ~(corrected | added)
        v["diagnosis"] = np.where(corrected, np.where(v["system"] == 0, icpc, icd),
                                  np.where(added, icd, np.where(cancel, -1, v["diagnosis"])))
        v["system"] = np.where(added, 1, np.where(cancel, -1, v["system"]))
        v["status"] = np.where(cancel, county.CANCELLED, v["status"])
        v["fee"] = np.where(cancel, 0, v["fee"])
        return v

    def columns(self, v: dict[str, np.ndarray]) -> list[pa.Array]:
        """The CSV columns (:data:`city_visits.COLUMNS`) of versions ``v`` as text."""
        p = self.people
        person = pa.array(v["person"])
        note = v["note"]
        has_note = note >= 0
        safe = np.maximum(note, 0)
        name = pc.if_else(pa.array(np.array([NOTE_PARTS[i][1] for i in range(len(NOTE_PARTS))])[safe]),
                          p.given_name.take(person), "")
        text = pc.binary_join_element_wise(_texts([x[0] for x in NOTE_PARTS], safe), name,
                                           _texts([x[2] for x in NOTE_PARTS], safe), "")
        assessed = v["assessed"] >= 0
        return [
            numbered("K", v["number"], 9), p.hetu.take(person), p.surname.take(person), p.first_names.take(person),
            p.street.take(person), p.postal.take(person), p.municipality.take(person), p.phone.take(person),
            _texts(county.CITY_SERVICE_CODES, v["area"]), _texts(CITY_MODES, v["mode"]),
            _texts(county.CITY_GROUP_CODES, v["group"]), _texts(self.units, v["unit"]),
            _finnish_time(v["start"]), pc.cast(pa.array(v["duration"]), pa.string()),
            _texts(county.CITY_STATUS_SOURCE, v["status"]), _texts(county.ALL_CODES, v["diagnosis"]),
            _texts(("ICPC2", "ICD10"), v["system"]), _euros(v["fee"]),
            pc.if_else(pa.array(has_note), text, ""), _finnish_time(v["updated"]),
            pc.fill_null(self.staff_ids.take(pa.array(v["professional"], mask=v["professional"] < 0)), ""),
            _finnish_time(v["assessed"], assessed), _texts(county.CITY_URGENCY_SOURCE, v["urgency"]),
        ]


def city_visits_bytes(columns: list[pa.Array], encoding: str) -> bytes:
    """A day's ``city_visits`` file as :func:`fileformats.delimited_text` would write it, in ``encoding``."""
    header = bulk.header_line(list(city_visits.COLUMNS))
    body = bulk.joined(bulk.csv_lines(columns, quote=(city_visits.COLUMNS.index("lisatieto"),)))
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + header.encode() + body
    return (header + body.decode()).encode(encoding)


def _rows(columns: list[pa.Array]) -> list[list]:
    return [list(r) for r in zip(*(c.to_pylist() for c in columns), strict=True)]


# --- Mehiläinen's encounters ----------------------------------------------------------------------------

OCCUPATION_OF_GROUP = {county.PHYSICIAN: "physician", county.NURSE: "nurse", county.DENTIST: "dentist",
                       county.PHYSIO: "physiotherapist", county.PSYCHOLOGIST: "psychologist"}
SERVICE_TYPES = tuple(fhir.SERVICE_TYPES)  # GP, OCC, SPEC, DENTAL, PHYSIO, MENTAL
CLASSES = ("AMB", "VR", "HH", "EMER")


def _templates() -> dict[str, bulk.JsonTemplate]:
    """The three resources' JSON with slots, in the demo's key order (fhir.patient, fhir._Clinic)."""
    def dumps(value) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    hetu_part = {"use": "official", "system": fhir.HETU_SYSTEM, "value": "@@HETU@@"}
    email_part = {"system": "email", "value": "@@EMAIL@@", "use": "home"}
    resident = county_resident_sample()
    patient = fhir.patient(fhir.Customer(resident, "@@PID@@", "@@MRN@@", True))
    patient["identifier"][0] = hetu_part
    patient["name"][0].update(family="@@SURNAME@@", given=["@@GIVEN@@"])
    patient["telecom"] = [{"system": "phone", "value": "@@PHONE@@", "use": "mobile"}, email_part]
    patient.update(gender="@@GENDER@@", birthDate="@@BIRTH@@")
    patient["address"][0].update(line=["@@STREET@@"], postalCode="@@POSTAL@@", city="@@CITY@@")
    text = dumps(patient).replace(dumps(hetu_part) + ",", "@@HETU_PART@@").replace(
        "," + dumps(email_part), "@@EMAIL_PART@@").replace('"@@GIVEN@@"', "@@GIVEN@@")
    coding = {"system": fhir.PARTICIPATION_TYPE, "code": "PPRF", "display": "primary performer"}
    encounter = {
        "resourceType": "Encounter", "id": "@@ID@@",
        "identifier": [{"use": "official", "system": fhir.ENCOUNTER_ID_SYSTEM, "value": "E@@NUMBER@@"}],
        "status": "@@STATUS@@", "class": {"system": fhir.ACT_CODE, "code": "@@CLASS@@", "display": "@@CLASS_D@@"},
        "serviceType": {"coding": [{"system": fhir.SERVICE_TYPE_SYSTEM, "code": "@@SERVICE@@",
                                    "display": "@@SERVICE_D@@"}]},
        "subject": {"reference": "Patient/@@PID@@"},
        "participant": [{"type": [{"coding": [coding]}, {"coding": [{"system": fhir.SNOMED, "code": "@@OCC@@",
                                                                      "display": "@@OCC_D@@"}], "text": "@@OCC_T@@"}],
                         "individual": {"reference": "Practitioner/@@PRACTITIONER@@"}}],
        "period": {"start": "@@START@@", "end": "@@END@@"},
        "serviceProvider": {"display": "@@PROVIDER@@"},
    }
    assessment = {
        "priority": {"coding": [{"system": fhir.ACT_PRIORITY, "code": "@@PRIORITY@@", "display": "@@PRIORITY_D@@"}]},
        "extension": [{"url": fhir.CARE_NEED_ASSESSED, "valueDateTime": "@@ASSESSED@@"}],
    }
    condition_sample = fhir._Clinic.__new__(fhir._Clinic)  # only its _condition, which uses self.rng
    condition_sample.rng = __import__("random").Random(0)
    customer = fhir.Customer(resident, "@@PID@@", "", True)
    start = dt.datetime(2026, 10, 1, 9, tzinfo=dt.UTC)
    condition = condition_sample._condition("J06.9", customer, "@@ENCOUNTER@@", start, start)
    condition.update(id="@@ID@@", onsetDateTime="@@START@@", recordedDate="@@END@@")
    condition["code"] = {"coding": [{"system": fhir.ICD10_SYSTEM, "code": "@@CODE@@", "display": "@@DISPLAY@@"}],
                         "text": "@@DISPLAY@@"}
    return {
        "Patient": bulk.JsonTemplate(text),
        "Encounter": bulk.JsonTemplate(dumps(encounter)[:-1] + "@@ASSESSMENT@@}"),
        "Assessment": bulk.JsonTemplate("," + dumps(assessment)[1:-1]),
        "Condition": bulk.JsonTemplate(dumps(condition)),
    }


def county_resident_sample():
    from synthetic.population import Resident

    return Resident(0, "010190-123A", dt.date(1990, 1, 1), "F", "Aino", "Virtanen", "Tesomankatu 1", "33310",
                    "837", "+358 40 1234567", "aino@posti.example")


class _Encounters:
    """Mehiläinen's encounters, conditions and patients, rendered as NDJSON lines."""

    def __init__(self, world: county.World, people: People, seed: int):
        self.world, self.people, self.seed = world, people, seed
        self.templates = _templates()
        self.next_number = int(np.random.default_rng([seed, 74]).integers(10_000_000, 20_000_000))
        self.practitioners = uuid_texts(np.random.default_rng([seed, 75]), int(world.staff_size.sum()))
        self.units = [u for _, u in world.units]
        bulk.json_safe([*self.units, *(d for d, _, _ in fhir.SERVICE_TYPES.values()),
                        *(d for d, _ in clinical_codes.ICD10_ALL.values())])

    def month(self, contacts: county.MonthContacts, month: dt.date) -> dict[str, np.ndarray]:
        c = contacts.columns
        rows = np.flatnonzero(contacts.partner == _MEH)
        rows = rows[np.lexsort((c["person"][rows], c["start_us"][rows]))]
        n = len(rows)
        rng = np.random.default_rng([self.seed, 76, month.year, month.month])
        group = c["group"][rows]
        age = c["age"][rows]
        service = np.select([group == county.DENTIST, group == county.PHYSIO, group == county.PSYCHOLOGIST],
                            [3, 4, 5], 0)
        roll = rng.random(n)
        service = np.where((service == 0) & (age >= 18) & (age <= 64) & (roll < 0.25), 1, service)
        service = np.where((service == 0) & (group == county.PHYSICIAN) & (roll > 0.9), 2, service)
        mode = c["mode"][rows]
        urgency = c["urgency"][rows]
        klass = np.select([mode == county.R52, mode == county.R20], [1, 2], 0)
        klass = np.where((klass == 0) & (urgency == 0) & (rng.random(n) < 0.15), 3, klass)
        start = _local_minutes(c["start_us"][rows])
        ids = uuid_texts(rng, n)
        conditions = uuid_texts(rng, n)
        out = {
            "number": self.next_number + np.cumsum(rng.integers(1, 6, n)), "person": c["person"][rows],
            "group": group, "service": service, "class": klass, "status": c["status"][rows], "start": start,
            "end": start + c["duration"][rows], "unit": c["unit"][rows], "professional": c["professional"][rows],
            "assessed": np.where(urgency >= 0, _local_minutes(c["assessed_us"][rows]), -1), "urgency": urgency,
            "diagnosis": c["diagnosis"][rows], "row": np.arange(n),
        }
        self.next_number = int(out["number"][-1]) if n else self.next_number
        self._ids, self._conditions = ids, conditions
        return out

    def render(self, e: dict[str, np.ndarray]) -> dict[str, tuple[pa.Array, int]]:
        """(NDJSON lines, count) per resource type for encounters ``e`` (one day's)."""
        p, t = self.people, self.templates
        person = pa.array(e["person"])
        row = pa.array(e["row"])
        ids = self._ids.take(row)
        pid = p.patient_id.take(person)
        occupation = [OCCUPATION_OF_GROUP.get(g) for g in range(len(county.GROUPS))]
        occ = [fhir.OCCUPATIONS[o] if o else ("", "", "") for o in occupation]
        group = e["group"]
        assessed = e["assessed"] >= 0
        priority = np.where(e["class"] == 3, 0, np.where(e["urgency"] == 0, 1, 2))
        assessment = t["Assessment"].render({
            "PRIORITY": _texts(("EM", "UR", "R"), priority),
            "PRIORITY_D": _texts(tuple(fhir.PRIORITIES.values()), priority),
            "ASSESSED": _iso_offset(np.where(assessed, e["assessed"], e["start"]))}, line_end="")
        start, end = _iso_offset(e["start"]), _iso_offset(e["end"])
        encounters = t["Encounter"].render({
            "ID": ids, "NUMBER": pc.cast(pa.array(e["number"]), pa.string()),
            "STATUS": _texts(county.FHIR_STATUS_SOURCE, e["status"]),
            "CLASS": _texts(CLASSES, e["class"]),
            "CLASS_D": _texts([fhir.CLASSES[k][0] for k in CLASSES], e["class"]),
            "SERVICE": _texts(SERVICE_TYPES, e["service"]),
            "SERVICE_D": _texts([fhir.SERVICE_TYPES[s][0] for s in SERVICE_TYPES], e["service"]),
            "PID": pid, "OCC": _texts([o[0] for o in occ], group), "OCC_D": _texts([o[1] for o in occ], group),
            "OCC_T": _texts([o[2] for o in occ], group),
            "PRACTITIONER": pc.fill_null(self.practitioners.take(pa.array(e["professional"],
                                                                          mask=e["professional"] < 0)), ""),
            "START": start, "END": end, "PROVIDER": _texts(self.units, e["unit"]),
            "ASSESSMENT": pc.if_else(pa.array(assessed), assessment, ""),
        })
        with_dx = np.flatnonzero((e["diagnosis"] >= 0) & (e["status"] == county.COMPLETED))
        dx = e["diagnosis"][with_dx]
        displays = [clinical_codes.ICD10_ALL.get(code, ("",))[0] for code in county.ALL_CODES]
        take = pa.array(with_dx)
        conditions = t["Condition"].render({
            "ID": self._conditions.take(pa.array(e["row"][with_dx])), "CODE": _texts(county.ALL_CODES, dx),
            "DISPLAY": _texts(displays, dx), "PID": pid.take(take), "ENCOUNTER": ids.take(take),
            "START": start.take(take), "END": end.take(take)}) if len(with_dx) else pa.array([], pa.string())
        unique = np.unique(e["person"])
        order = pc.sort_indices(p.patient_id.take(pa.array(unique))).to_numpy()
        who = pa.array(unique[order])
        recorded = p.hetu_recorded[unique[order]]
        hetu_part = pc.if_else(pa.array(recorded), pc.binary_join_element_wise(
            '{"use":"official","system":"' + fhir.HETU_SYSTEM + '","value":"', p.hetu.take(who), '"},', ""), "")
        email = p.email.take(who)
        email_part = pc.fill_null(pc.binary_join_element_wise(',{"system":"email","value":"', email,
                                                              '","use":"home"}', ""), "")
        patients = t["Patient"].render({
            "PID": p.patient_id.take(who), "HETU_PART": hetu_part, "MRN": p.mrn.take(who),
            "SURNAME": p.surname.take(who), "GIVEN": p.given_json.take(who), "PHONE": p.phone.take(who),
            "EMAIL_PART": email_part,
            "GENDER": _texts(("male", "female"), self.world.female[unique[order]].astype(np.int64)),
            "BIRTH": pa.array(p.birth[unique[order]].astype(str), pa.string()), "STREET": p.street.take(who),
            "POSTAL": p.postal.take(who), "CITY": p.city_name.take(who)}) if len(unique) else pa.array([], pa.string())
        return {"Patient": (patients, len(patients)), "Encounter": (encounters, len(encounters)),
                "Condition": (conditions, len(conditions))}


# --- NGOs, city aggregates, population ------------------------------------------------------------------

def _ngo_day(world: county.World, people: People, c: dict[str, np.ndarray], partner: str, day: dt.date,
             rng: np.random.Generator):
    """(sessions, attendance) of one NGO's day: a session per group with attending members."""
    if not len(c["person"]):
        return [], []
    units = np.unique(c["unit"])
    sessions, attendance = [], []
    for u in sorted(units, key=lambda u: world.units[u][1]):
        attending = np.unique(c["person"][c["unit"] == u])
        group = world.units[u][1]
        activity = next(a for g, a, _ in county.NGO_GROUPS[partner] if group.startswith(g + " "))
        listed = attending[people.consented[partner][attending]]
        count = len(attending) + int(round(len(attending) * WALK_IN_SHARE / (1 - WALK_IN_SHARE)))
        sessions.append((group, NGO_ACTIVITY_SOURCE[activity], count, int(rng.integers(1, 4))))
        numbers = people.members[partner].take(pa.array(listed)).to_pylist()
        postal = people.postal.take(pa.array(listed)).to_pylist()
        years = people.birth[listed].astype("datetime64[Y]").astype(np.int64) + 1970
        attendance += sorted(((group, m, int(y), z) for m, y, z in zip(numbers, years, postal, strict=True)),
                             key=lambda r: r[1])
    return sessions, attendance


def _ngo_files(partner: str, day: dt.date, sessions: list, attendance: list) -> list[OutputFile]:
    from synthetic import ngo

    org = ngo.MLL if partner == "ngo_mll" else ngo.SETLEMENTTI
    folder = f"landing/{partner}/{ngo.FEED}"
    stem = f"{ngo.FEED}_{day:%Y%m%d}"
    if partner == "ngo_mll":
        data = bulk.workbook([
            ("toiminta", list(org.session_header), [[day, a, g, n, v] for g, a, n, v in sessions]),
            ("osallistujat", list(org.attendance_header),
             [[day, g, m, org.consent_value, y, z] for g, m, y, z in attendance]),
        ])
        return [OutputFile(f"{folder}/{stem}.xlsx", data, len(sessions) + len(attendance))]
    pvm = day.strftime("%d.%m.%Y")
    session_rows = "".join(f"{pvm};{a};{g};{n};{v}\n" for g, a, n, v in sessions)
    attendance_rows = "".join(f"{pvm};{g};{m};{org.consent_value};{y};{z}\n" for g, m, y, z in attendance)
    return [
        OutputFile(f"{folder}/{stem}.csv", (";".join(org.session_header) + "\n" + session_rows).encode(),
                   len(sessions)),
        OutputFile(f"{folder}/{stem}_osallistujat.csv",
                   (";".join(org.attendance_header) + "\n" + attendance_rows).encode(), len(attendance)),
    ]


def _activity_tables(world: county.World, month: dt.date, seed: int) -> dict[int, Table]:
    """The city's youth-centre and library counts per district, a table per day of the month."""
    values = county.activity_values(world, month, _CITY, "", seed)
    day = values["activity_date"].cast(pa.int32()).to_numpy() - (month - _EPOCH).days
    units = values["unit_code"].to_pylist()
    measures = values["measure_source"].to_pylist()
    numbers = values["value"].to_numpy()
    tables: dict[int, Table] = {}
    for d in range(calendar.monthrange(month.year, month.month)[1]):
        tables[d] = Table(["pvm", "toimipiste", "palvelu", "mittari", "arvo"])
    for d, u, m, v in sorted(zip(day, units, measures, numbers, strict=True), key=lambda r: (r[0], r[1], r[2])):
        pvm = (month + dt.timedelta(days=int(d))).strftime("%d.%m.%Y")
        text = f"{v:.1f}".replace(".", ",") if m == "aukiolotunnit" else str(int(v))
        tables[int(d)].rows.append([pvm, u, "NUORISO" if u.startswith("NUORISOTALO") else "KIRJASTO", m, text])
    return tables


def _access_tables(world: county.World, walk: county.AccessWalk, month: dt.date) -> dict[int, Table]:
    day, t3 = walk.month(month)
    tables: dict[int, Table] = {}
    width = len(walk.series)
    for d in range(calendar.monthrange(month.year, month.month)[1]):
        pvm = (month + dt.timedelta(days=d)).strftime("%d.%m.%Y")
        rows = [[pvm, world.units[u][1], county.CITY_GROUP_CODES[g], f"{t3[d * width + i]:.1f}".replace(".", ",")]
                for i, (u, g, _) in enumerate(walk.series)]
        tables[d] = Table(["pvm", "toimipiste", "ammattiryhma", "t3_vrk"], rows)
    return tables


def _population_table(world: county.World, people: People, as_of: dt.date) -> Table:
    """Residents per postal code, five-year band and sex on ``as_of`` (every cell listed)."""
    from synthetic import reference

    born = people.birth <= np.datetime64(as_of)
    years = people.birth.astype("datetime64[Y]")
    months = people.birth.astype("datetime64[M]")
    month = (months - years.astype("datetime64[M]")).astype(np.int64) + 1
    day = (people.birth - months.astype("datetime64[D]")).astype(np.int64) + 1
    before = month * 32 + day > as_of.month * 32 + as_of.day  # this year's birthday still to come
    ages = as_of.year - (years.astype(np.int64) + 1970) - before
    band = np.minimum(ages // 5, 20)
    cells = (world.area.astype(np.int64) * 21 + band) * 2 + world.female
    counts = np.bincount(cells[born], minlength=len(world.areas) * 42)
    rows = []
    for a, area in enumerate(world.areas):
        name = addresses.POSTAL_AREAS[area.code][0] if area.code in addresses.POSTAL_AREAS \
            else county.DISTRICT_NAMES[area.district]
        for b, label in enumerate(reference.AGE_BANDS):
            for female, sex in ((0, "mies"), (1, "nainen")):
                rows.append([str(as_of.year), area.code, name, label, sex, str(counts[(a * 21 + b) * 2 + female])])
    return Table(list(reference.COLUMNS), rows)


# --- the reporting database -----------------------------------------------------------------------------

class _ReportingDatabase:
    """``sources/city_reporting.sqlite`` filled day by day: the latest version of every visit."""

    def __init__(self, path: Path):
        import sqlalchemy as sa

        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        engine = sa.create_engine(f"sqlite:///{path}")
        metadata = sa.MetaData()
        city_reporting_db.kaynnit_table(metadata)
        metadata.create_all(engine)
        engine.dispose()
        self.path = path
        self.connection = sqlite3.connect(path)
        self.connection.execute("PRAGMA journal_mode=OFF")
        self.connection.execute("PRAGMA synchronous=OFF")
        names_ = ", ".join(city_visits.COLUMNS)
        self.insert = (f"INSERT OR REPLACE INTO {city_reporting_db.TABLE} ({names_}) "  # noqa: S608 (constant names)
                       f"VALUES ({', '.join('?' * len(city_visits.COLUMNS))})")
        # The watermark index is built once at the end: keeping it up to date row by row doubles the cost.
        self.connection.execute("DROP INDEX ix_kaynnit_paivitetty")

    def add(self, columns: list[pa.Array], v: dict[str, np.ndarray]) -> None:
        """Insert (or replace: a later version) the visits of one day's file, given its CSV columns."""
        if not len(v["number"]):
            return
        at = {name: i for i, name in enumerate(city_visits.COLUMNS)}
        db = list(columns)
        for name in self.NULLABLE:
            db[at[name]] = pc.if_else(pc.equal(db[at[name]], ""), pa.scalar(None, pa.string()), db[at[name]])
        db[at["alkuaika"]] = _clock(v["start"], DATABASE_TIME)
        db[at["paivitetty"]] = _clock(v["updated"], DATABASE_TIME)
        db[at["hoidon_tarve_arvioitu"]] = pc.if_else(
            pa.array(v["assessed"] >= 0), _clock(np.maximum(v["assessed"], 0), DATABASE_TIME),
            pa.scalar(None, pa.string()))
        db[at["kesto_min"]] = pa.array(v["duration"])
        db[at["asiakasmaksu"]] = pa.array(np.asarray(v["fee"], np.int64) / 100)
        self.connection.executemany(self.insert, zip(*(c.to_pylist() for c in db), strict=True))

    NULLABLE = ("diagnoosi", "diagnoosi_luokitus", "lisatieto", "ammattihenkilo_id", "kiireellisyys")

    def close(self) -> int:
        self.connection.execute(f"CREATE INDEX ix_kaynnit_paivitetty ON {city_reporting_db.TABLE} (paivitetty)")
        self.connection.commit()
        rows = self.connection.execute(f"SELECT count(*) FROM {city_reporting_db.TABLE}").fetchone()[0]  # noqa: S608
        self.connection.close()
        return rows


# --- the generator --------------------------------------------------------------------------------------

@dataclass
class Progress:
    """Where the generator is: the last day written and the totals so far."""

    day: dt.date
    contacts: int
    files: int
    bytes: int
    seconds: float
    month_done: bool = False


@dataclass
class CountyDeliveries:
    """The county's deliveries over ``months`` months ending with ``last_month``, written day by day.

    Iterate :meth:`days` (each step writes one day's deliveries, then yields), then call :meth:`finish`
    for the answer key; :func:`generate_county_deliveries` does both."""

    root: Path
    residents: int = DEFAULT_RESIDENTS
    months: int = DEFAULT_MONTHS
    last_month: dt.date = DEFAULT_LAST_MONTH
    seed: int = 42
    fault_rate: float = 0.03
    contacts: int | None = None
    key: AnswerKey = field(init=False)

    def __post_init__(self) -> None:
        if self.residents < 1 or self.months < 1:
            raise ValueError("residents and months must be at least 1")
        if not 0 <= self.fault_rate <= 1:
            raise ValueError("fault_rate must be between 0 and 1")
        self.root = Path(self.root)
        self.last_month = self.last_month.replace(day=1)
        self.month_list = county.months_ending(self.last_month, self.months)
        first = self.month_list[0]
        last_day = self.last_month.replace(day=calendar.monthrange(self.last_month.year, self.last_month.month)[1])
        self.calendar_days = [first + dt.timedelta(days=i) for i in range((last_day - first).days + 1)]
        if self.contacts is None:
            self.contacts = round(CONTACTS_PER_RESIDENT_MONTH * self.residents * self.months)
        self.key = AnswerKey(self.root, {
            "scale": "county", "start": first.isoformat(), "days": len(self.calendar_days),
            "months": self.months, "last_month": self.last_month.strftime("%Y-%m"), "residents": self.residents,
            "contacts": self.contacts, "seed": self.seed, "fault_rate": self.fault_rate,
        })
        self.contacts_drawn = 0
        self._counted: dict[str, int] = {}
        self._files = 0
        self._bytes = 0

    def days(self) -> Iterator[Progress]:
        """Write every day's deliveries in order, yielding after each day (month-end costs included)."""
        from synthetic import _clear

        started = time.perf_counter()
        _clear(self.root)
        seed = self.seed
        world = county.build_world(self.residents, self.last_month, seed)
        people = build_people(world, self.month_list[0], seed)
        weight = sum(float(county._monthly_weight(world, m).sum()) for m in self.month_list)
        base_rate = self.contacts / weight if weight else 0.0
        self.key.extra["period"] = {"first_day": self.calendar_days[0].isoformat(),
                                    "last_day": self.calendar_days[-1].isoformat()}
        self.key.extra["population"] = {
            "residents": self.residents, "new_century_signs": people.new_century_signs, "temporary_codes": 0,
            "century_sign_twin_pairs": 0, "postal_areas": len(world.areas), "districts": len(world.districts)}
        plan = FaultPlan.draw(seed, self.fault_rate, self.calendar_days)
        visits = _CityVisits(world, people, seed)
        encounters = _Encounters(world, people, seed)
        walk = county.AccessWalk(world, seed)
        database = _ReportingDatabase(self.root / city_reporting_db.DATABASE)
        quiet: Callable[[str], None] = lambda line: None  # noqa: E731
        try:
            for index, month in enumerate(self.month_list):
                contacts = county.month_contacts(world, month, base_rate, index / max(1, self.months - 1), seed)
                self.contacts_drawn += len(contacts.partner)
                first_day = (month - _EPOCH).days
                length = calendar.monthrange(month.year, month.month)[1]
                city_month = visits.month(contacts, month)
                city_bounds = _day_bounds(city_month["updated"] // 1440, first_day, length)
                meh = encounters.month(contacts, month)
                meh_bounds = _day_bounds(meh["start"] // 1440, first_day, length)
                ngo_rows = {}
                for p in (county.MLL, county.SETLEMENTTI):
                    rows = np.flatnonzero(contacts.partner == p)
                    c = {"person": contacts.columns["person"][rows], "unit": contacts.columns["unit"][rows],
                         "day": contacts.columns["day"][rows]}
                    order = np.argsort(c["day"], kind="stable")
                    c = _take(c, order)
                    ngo_rows[county.PARTNERS[p]] = (c, _day_bounds(c["day"], first_day, length))
                activity = _activity_tables(world, month, seed)
                access = _access_tables(world, walk, month)
                del contacts
                for d in range(length):
                    day = month + dt.timedelta(days=d)
                    if day == self.calendar_days[0] or (day.month, day.day) == (1, 1):
                        self._population(world, people, day)
                    v = _take(city_month, np.arange(city_bounds[d], city_bounds[d + 1]))
                    columns = visits.columns(v)
                    self._city_visits(plan, day, columns)
                    database.add(columns, v)
                    city.deliver_csv(self.key, plan, seed, "city_activity", day, activity[d])
                    city.deliver_csv(self.key, plan, seed, "city_access", day, access[d])
                    self._fhir(plan, day, encounters, _take(meh, np.arange(meh_bounds[d], meh_bounds[d + 1])), quiet)
                    for partner, (c, bounds) in ngo_rows.items():
                        sessions, attendance = _ngo_day(world, people, _take(c, np.arange(bounds[d], bounds[d + 1])),
                                                        partner, day, np.random.default_rng([seed, 77, d, first_day,
                                                                                             len(partner)]))
                        if sessions:
                            self.key.deliver(partner=partner, feed="ngo_activity", covers=day.isoformat(),
                                             files=_ngo_files(partner, day, sessions, attendance),
                                             expected_at=daily_arrival(day), sessions=len(sessions),
                                             attendance_rows=len(attendance))
                    if d == length - 1:
                        costs.deliver(self.key, [month + dt.timedelta(days=i) for i in range(length)], self.residents,
                                      seed, quiet)
                    yield self._progress(day, started, d == length - 1)
        finally:
            self.database_rows = database.close()
        set_arrival(database.path, daily_arrival(self.calendar_days[-1]))
        self.key.source("city_reporting", path=city_reporting_db.DATABASE.as_posix(), table=city_reporting_db.TABLE,
                        rows=self.database_rows, watermark_column="paivitetty")

    def finish(self) -> dict:
        """Write the answer key; returns it (plus ``contacts`` drawn)."""
        summary = self.key.write()
        summary["contacts"] = self.contacts_drawn
        return summary

    def _population(self, world: county.World, people: People, as_of: dt.date) -> None:
        from synthetic import reference

        table = _population_table(world, people, as_of)
        from synthetic.fileformats import delimited_text

        self.key.deliver(partner=reference.PARTNER, feed=reference.FEED, covers=str(as_of.year),
                         expected_at=daily_arrival(as_of - dt.timedelta(days=1)),
                         files=[OutputFile(f"landing/{reference.PARTNER}/{reference.FEED}/{reference.FEED}_"
                                           f"{as_of.year}.csv", delimited_text(table).encode("utf-8"),
                                           len(table.rows))],
                         as_of=as_of.isoformat())

    def _city_visits(self, plan: FaultPlan, day: dt.date, columns: list[pa.Array]) -> None:
        feed = "city_visits"
        if plan.kinds(feed, day):  # the demo's own fault injection, on the rows as Python values
            city.deliver_csv(self.key, plan, self.seed, feed, day, Table(list(city_visits.COLUMNS), _rows(columns)))
            return
        encoding = city.day_encoding(self.seed, feed, day)
        data = city_visits_bytes(columns, encoding)
        self.key.deliver(partner=city.PARTNER, feed=feed, covers=day.isoformat(),
                         files=[OutputFile(city.landing_path(feed, day), data, len(columns[0]))],
                         expected_at=daily_arrival(day), faults=[], encoding=encoding)

    def _fhir(self, plan: FaultPlan, day: dt.date, encounters: _Encounters, e: dict[str, np.ndarray],
              quiet: Callable[[str], None]) -> None:
        rendered = encounters.render(e) if len(e["person"]) else {
            t: (pa.array([], pa.string()), 0) for t in fhir.RESOURCE_TYPES}
        if plan.kinds(fhir.FEED, day):
            resources = {t: [json.loads(line) for line in bulk.joined(lines).decode().splitlines()]
                         for t, (lines, _) in rendered.items()}
            fhir.deliver_day(self.key, plan, self.seed, day, resources["Patient"], resources["Encounter"],
                             resources["Condition"], quiet)
            return
        fhir.deliver_export(self.key, day, {t: (bulk.joined(lines), count) for t, (lines, count) in rendered.items()})

    def _progress(self, day: dt.date, started: float, month_done: bool) -> Progress:
        for feed, info in self.key.feeds.items():
            for delivery in info["deliveries"][self._counted.get(feed, 0):]:
                self._files += len(delivery["files"])
                self._bytes += sum(f["bytes"] for f in delivery["files"])
            self._counted[feed] = len(info["deliveries"])
        return Progress(day, self.contacts_drawn, self._files, self._bytes, time.perf_counter() - started, month_done)


def generate_county_deliveries(root: Path, *, residents: int = DEFAULT_RESIDENTS, months: int = DEFAULT_MONTHS,
                               last_month: dt.date = DEFAULT_LAST_MONTH, seed: int = 42, fault_rate: float = 0.03,
                               contacts: int | None = None,
                               progress: Callable[[str], None] | None = None) -> dict:
    """Write the county's deliveries under the data root ``root`` (see the module docstring) and return
    the answer key; ``progress`` gets a line per month (contacts so far, files, GiB, seconds)."""
    run = CountyDeliveries(Path(root), residents, months, last_month, seed, fault_rate, contacts)
    report = progress or (lambda line: None)
    report(f"county: {residents:,} residents, {months} months {run.month_list[0]:%Y-%m} … {run.last_month:%Y-%m}, "
           f"about {run.contacts:,} contacts → {Path(root) / 'landing'}")
    for step in run.days():
        if step.month_done:
            report(f"  {step.day:%Y-%m}: {step.contacts:,} contacts, {step.files:,} files, "
                   f"{step.bytes / 2**30:.2f} GiB, {step.seconds:.1f} s")
    summary = run.finish()
    return summary
