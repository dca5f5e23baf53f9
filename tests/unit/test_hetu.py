"""Finnish identity codes (HETU): check character, century signs, birth dates.

Expected check characters are computed here independently of the module under test (the remainder of
the nine digits ``DDMMYYZZZ`` divided by 31, looked up in the published alphabet).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.pseudonymise.hetu import (
    CENTURY_BY_SIGN,
    HETU_PATTERN,
    PROBLEMS,
    birth_date,
    check_character,
    decode_many,
)

ALPHABET = "0123456789ABCDEFHJKLMNPRSTUVWXY"  # 31 characters: no G, I, O, Q, Z


def expected_check(date_digits: str, individual: str) -> str:
    return ALPHABET[int(date_digits + individual) % 31]


def test_known_valid_code():
    # 131052308 = 31 × 4 227 493 + 25, and ALPHABET[25] == "T"
    assert 131052308 % 31 == 25
    assert check_character("131052", "308") == "T"
    assert birth_date("131052-308T") == dt.date(1952, 10, 13)


@pytest.mark.parametrize(
    "code",
    [
        "131052-308T",
        "010594Y9021",
        "020594X903P",
        "020594X902N",
        "030594W903B",
        "030694W9024",
        "040594V9030",
        "040594V902Y",
        "050594U903M",
        "050594U902L",
        "010516B903X",
        "010516B902W",
        "020516C903K",
        "020516C902J",
        "030516D9037",
        "030516D9026",
    ],
)
def test_check_character_of_example_codes(code):
    assert expected_check(code[:6], code[7:10]) == code[10]
    assert check_character(code[:6], code[7:10]) == code[10]


@pytest.mark.parametrize(
    ("date_digits", "individual"),
    [("010101", "002"), ("311299", "899"), ("290200", "123"), ("000000", "000"), ("999999", "999"),
     ("150677", "450"), ("010190", "123")],
)
def test_check_character_is_nine_digits_mod_31(date_digits, individual):
    assert check_character(date_digits, individual) == expected_check(date_digits, individual)


def test_check_alphabet_is_the_published_one():
    assert len(ALPHABET) == 31
    # every remainder 0..30 is reachable and gives the alphabet's character
    seen = {check_character(f"{n:06d}", "000") for n in range(0, 31 * 1000, 1000)}
    assert seen <= set(ALPHABET)
    assert {expected_check("000000", f"{r:03d}") for r in range(31)} == set(ALPHABET)


@pytest.mark.parametrize(
    ("sign", "year"),
    [
        ("+", 1852),
        ("-", 1952), ("Y", 1952), ("X", 1952), ("W", 1952), ("V", 1952), ("U", 1952),
        ("A", 2052), ("B", 2052), ("C", 2052), ("D", 2052), ("E", 2052), ("F", 2052),
    ],
)
def test_every_century_sign_gives_its_century(sign, year):
    code = f"131052{sign}308T"
    assert HETU_PATTERN.match(code)
    assert birth_date(code) == dt.date(year, 10, 13)


def test_exactly_thirteen_century_signs():
    assert set(CENTURY_BY_SIGN) == set("+-YXWVUABCDEF")


@pytest.mark.parametrize("sign", ["G", "Z", "a", "*", " "])
def test_unknown_century_sign_is_not_a_code(sign):
    assert birth_date(f"131052{sign}308T") is None


@pytest.mark.parametrize(
    "code",
    [
        "310290-123X",  # 31 February
        "300290-123X",  # 30 February
        "290201-123X",  # 29 February 1901, not a leap year
        "290200-123X",  # 29 February 1900 (century rule: not a leap year)
        "301390-123X",  # month 13
        "000190-123X",  # day 0
        "010090-123X",  # month 0
        "310490-123X",  # 31 April
    ],
)
def test_impossible_dates_are_not_dates(code):
    assert birth_date(code) is None


def test_leap_days_that_exist():
    assert birth_date("290200A123X") == dt.date(2000, 2, 29)
    assert birth_date("290296-123X") == dt.date(1996, 2, 29)


@pytest.mark.parametrize("code", ["", "131052-308", "131052-308TT", "13105-2308T", "1310523308T", "131052-30AT",
                                  "abcdef-ghij"])
def test_malformed_codes_have_no_birth_date(code):
    assert birth_date(code) is None


# --- the vectorised validator agrees with a scalar reference -------------------------------------------------


def reference_problem(code: str) -> str | None:
    """The problem of one normalised code, written independently of the module under test."""
    if len(code) != 11 or not (code[:6].isdigit() and code[7:10].isdigit() and code[:6].isascii()
                               and code[7:10].isascii()) or code[6] not in "+-YXWVUABCDEF":
        return "not_an_identity_code"
    if code[10] not in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXY":
        return "not_an_identity_code"
    century = {"+": 1800, **dict.fromkeys("-YXWVU", 1900), **dict.fromkeys("ABCDEF", 2000)}[code[6]]
    try:
        dt.date(century + int(code[4:6]), int(code[2:4]), int(code[:2]))
    except ValueError:
        return "identity_code_date"
    if int(code[7:10]) < 2:
        return "identity_code_individual_number"
    if expected_check(code[:6], code[7:10]) != code[10]:
        return "identity_code_check_character"
    return None


def test_decode_many_given_codes():
    codes = ["131052-308T", "131052-308U", "310290-123X", "010190-0011", "nonsense", "010190A9005", "290200-123X",
             "١٣١٠٥٢-308T", "１31052-308T"]  # non-ASCII digits are not digits here
    fields = decode_many(pa.array(codes, pa.string()))
    problems = [None if p < 0 else PROBLEMS[p] for p in fields.problem.tolist()]
    assert problems == [reference_problem(c) for c in codes]
    assert problems[0] is None and fields.birth_year[0] == 1952 and not fields.male[0] and not fields.temporary[0]


def test_decode_many_of_nothing():
    assert len(decode_many(pa.array([], pa.string())).problem) == 0


_code_chars = st.text(alphabet="0123456789-+YXWVUABCDEFT", min_size=11, max_size=11)


@st.composite
def near_valid_codes(draw) -> str:
    born = draw(st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2099, 12, 31)))
    sign = draw(st.sampled_from({18: "+", 19: "-YXWVU", 20: "ABCDEF"}[born.year // 100]))
    digits = f"{born.day:02d}{born.month:02d}{born.year % 100:02d}"
    number = f"{draw(st.integers(0, 999)):03d}"
    check = draw(st.one_of(st.just(expected_check(digits, number)), st.sampled_from(ALPHABET)))
    code = digits + sign + number + check
    # sometimes break the date part
    if draw(st.booleans()):
        code = draw(st.sampled_from(["3", "0", "2"])) + draw(st.sampled_from("0123456789")) + code[2:]
    return code


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(near_valid_codes(), _code_chars, st.text(max_size=12)), max_size=30))
def test_decode_many_matches_the_reference(codes):
    fields = decode_many(pa.array(codes, pa.string()))
    got = [None if p < 0 else PROBLEMS[p] for p in fields.problem.tolist()]
    assert got == [reference_problem(c) for c in codes]
    for code, problem, year, male, temporary in zip(codes, got, fields.birth_year.tolist(), fields.male.tolist(),
                                                    fields.temporary.tolist(), strict=True):
        if problem is None:
            assert birth_date(code).year == year
            assert male == (int(code[7:10]) % 2 == 1)
            assert temporary == (int(code[7:10]) >= 900)
