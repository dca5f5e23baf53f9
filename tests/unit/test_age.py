"""Age in the analyst layer: the age in the calendar year of the event, top-coded at 90, never narrowing a
birthday, never raising on extreme dates — for every feed that writes ``service_event``."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from tests.unit.test_fhir import encounter, patient, read, write_export
from tests.unit.test_harmonise import city_rows
from tests.unit.test_harmonise import harmonise as harmonise_city_visits
from tests.unit.test_ngo import DAY as NGO_DAY
from transforms.harmonise import Context, age_in_event_year, mehilainen_fhir, ngo_attendance
from transforms.pseudonymise import IdentitySpec, PseudonymKey, pseudonymise

ALPHABET = "0123456789ABCDEFHJKLMNPRSTUVWXY"
KEY = PseudonymKey(b"unit-test-key-" + b"0123456789abcdef" * 2)


def hetu(born: dt.date, individual: int = 123) -> str:
    """A valid identity code for a birth date, computed independently of the code under test."""
    digits = f"{born.day:02d}{born.month:02d}{born.year % 100:02d}"
    number = f"{individual:03d}"
    return f"{digits}{ {18: '+', 19: '-', 20: 'A'}[born.year // 100]}{number}{ALPHABET[int(digits + number) % 31]}"


def ages(rows: list[tuple[int | None, dt.date | None]]) -> list[tuple[int | None, int | None]]:
    """(birth year, event date) → (birth year shown, age_at_event)."""
    got = age_in_event_year(pa.array([b for b, _ in rows], pa.int16()), pa.array([d for _, d in rows], pa.date32()))
    return list(zip(got.birth_year.to_pylist(), got.age_at_event.to_pylist(), strict=True))


def test_age_in_the_event_year_given_rows_expected_rows():
    assert ages([
        (1990, dt.date(2026, 1, 1)),
        (1990, dt.date(2026, 12, 31)),  # same year, same age: the day of the event tells nothing
        (2026, dt.date(2026, 3, 1)),  # born this year
        (1937, dt.date(2026, 6, 1)),  # 89: as is
        (1936, dt.date(2026, 6, 1)),  # 90
        (1931, dt.date(2026, 6, 1)),  # 95: top-coded, shown as born 1936
        (1880, dt.date(2026, 6, 1)),
        (1931, dt.date(2030, 6, 1)),  # the top code moves with the event year
        (None, dt.date(2026, 6, 1)),
        (1990, None),
        (2030, dt.date(2026, 6, 1)),  # event before birth: no age (the canonical check warns), year kept
    ]) == [
        (1990, 36), (1990, 36), (2026, 0), (1937, 89), (1936, 90), (1936, 90), (1936, 90), (1940, 90),
        (None, None), (1990, None), (2030, None),
    ]


def test_extreme_event_years_give_a_value_or_null_never_an_error():
    assert ages([(1980, dt.date(1, 1, 1)), (1, dt.date(1, 1, 1)), (1980, dt.date(9999, 12, 31))]) == [
        (1980, None), (1, 0), (9909, 90)]  # absurd but computable: top-coded like anyone of 90 or over
    year_zero = pa.array([-719_529], pa.date32())  # 31 Dec of year 0: what a year-1 instant east of UTC becomes
    far = pa.array([2**31 - 1], pa.date32())  # year 5,881,580
    for day in (year_zero, far):
        got = age_in_event_year(pa.array([1980], pa.int16()), day)
        assert (got.birth_year.to_pylist(), got.age_at_event.to_pylist()) == ([1980], [None])


def test_birthdays_on_1_january_and_31_december_give_identical_rows():
    """The test a birthday-narrowing age fails: two people born on the first and last day of 1990, seen on the
    same day of 2026, must be indistinguishable by birth year and age (completed years would be 36 and 35)."""
    spec = IdentitySpec("henkilotunnus", ())
    codes = pa.table({"henkilotunnus": [hetu(dt.date(1990, 1, 1)), hetu(dt.date(1990, 12, 31))]})
    person = pseudonymise(codes, spec, KEY)
    events, _ = harmonise_city_visits(city_rows(birth_year=person["birth_year"].to_pylist(), sex=["male", "male"],
                                                alkuaika=[dt.datetime(2026, 6, 15, 9, 0)] * 2))
    assert events.select(["event_date", "birth_year", "age_at_event"]).to_pylist() == [
        {"event_date": dt.date(2026, 6, 15), "birth_year": 1990, "age_at_event": 36}] * 2


def test_a_95_year_old_is_top_coded_by_city_visits():
    events, _ = harmonise_city_visits(city_rows(birth_year=[1931, 1990]))
    assert events.select(["event_date", "birth_year", "age_at_event"]).to_pylist() == [
        {"event_date": dt.date(2026, 7, 1), "birth_year": 1936, "age_at_event": 90},
        {"event_date": dt.date(2026, 1, 15), "birth_year": 1990, "age_at_event": 36},
    ]


def test_a_95_year_old_is_top_coded_by_ngo_attendance():
    given = pa.table({
        "pvm": pa.array([NGO_DAY, NGO_DAY], pa.date32()), "ryhma": ["Digitupa"] * 2, "suostumus": ["1"] * 2,
        "syntymavuosi": pa.array([1931, 1950], pa.int64()), "postinumero": ["33310"] * 2,
        "event_id": ["e1", "e2"], "person_id": ["p1", "p2"], "person_id_kind": ["partner_local"] * 2,
    })
    tables, _ = ngo_attendance.harmonise(given, {}, Context("ngo_setlementti", "ngo_attendance", "d1"))
    assert tables["service_event"].select(["birth_year", "age_at_event"]).to_pylist() == [
        {"birth_year": 1936, "age_at_event": 90}, {"birth_year": 1950, "age_at_event": 76}]


@pytest.mark.parametrize(("start", "birth_year", "age"), [
    ("2026-10-01T08:30:00+03:00", 1936, 90),  # born 1931: 95, top-coded
    ("0001-01-01T00:00:00+14:00", 1931, None),  # 31 Dec of year 0 in UTC: no age, no OverflowError
    ("9999-12-31T23:59:59-12:00", 1931, None),  # year 10000 in Helsinki: no age
])
def test_fhir_birth_date_and_extreme_encounter_times(tmp_path, start, birth_year, age):
    from tesoma.config import PROJECT_DIR
    from tesoma.feeds import pipeline
    from tesoma.mappings import load_maps

    folder = write_export(tmp_path / "export", {
        "Patient.000.ndjson": [patient("p1", mrn="M-1", birthDate="1931-05-17", gender="female")],
        "Encounter.000.ndjson": [encounter("e1", "Patient/p1", start=start, end=None)],
    })
    delivered, _ = read(folder)
    pseudonymised = pseudonymise(delivered, pipeline("mehilainen_fhir").identity_spec("mehilainen"), KEY)
    maps = load_maps(PROJECT_DIR / "config" / "mappings", mehilainen_fhir.MAPPINGS, "mehilainen")
    out, _ = mehilainen_fhir.harmonise(pseudonymised, maps, Context("mehilainen", "mehilainen_fhir", "d1"))
    assert out["service_event"].select(["birth_year", "age_at_event"]).to_pylist() == [
        {"birth_year": birth_year, "age_at_event": age}]
