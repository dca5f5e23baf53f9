"""Finnish personal identity code (henkilötunnus, HETU): structure, checksum, validation.

A HETU is ``DDMMYYCZZZQ``: birth date, a century sign ``C``, an individual number ``ZZZ`` and a
check character ``Q``. Since 2023 the century signs are:

- ``+`` for the 1800s,
- ``-``, ``Y``, ``X``, ``W``, ``V``, ``U`` for the 1900s,
- ``A``, ``B``, ``C``, ``D``, ``E``, ``F`` for the 2000s.

The sign is part of the identity: ``010190-123A`` and ``010190Y123A`` are two different people (the new
signs exist precisely because the old ones ran out of numbers). Individual numbers 002–899 are ordinary;
900–999 are temporary codes issued by e.g. hospitals before a permanent one exists. An odd individual
number means male, an even one female.

This module lives inside ``transforms/pseudonymise`` because that package is the only one allowed to
look at identity codes; the synthetic data generator imports only :func:`check_character` from here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CHECK_CHARACTERS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
CENTURY_BY_SIGN = {
    "+": 1800,
    "-": 1900, "Y": 1900, "X": 1900, "W": 1900, "V": 1900, "U": 1900,
    "A": 2000, "B": 2000, "C": 2000, "D": 2000, "E": 2000, "F": 2000,
}
HETU_PATTERN = re.compile(r"^(\d{2})(\d{2})(\d{2})([-+YXWVUABCDEF])(\d{3})([0-9A-Y])$")


def check_character(date_digits: str, individual_number: str) -> str:
    """The check character for ``DDMMYY`` + ``ZZZ`` (the remainder of the 9-digit number mod 31)."""
    return CHECK_CHARACTERS[int(date_digits + individual_number) % 31]


def birth_date(code: str) -> dt.date | None:
    """The birth date a well-formed code encodes, or None when it is not a real calendar date."""
    m = HETU_PATTERN.match(code)
    if m is None:
        return None
    day, month, yy, sign = int(m[1]), int(m[2]), int(m[3]), m[4]
    try:
        return dt.date(CENTURY_BY_SIGN[sign] + yy, month, day)
    except ValueError:
        return None


# --- vectorised validation, for many distinct codes at once -------------------------------------------

_CENTURY_LUT = np.full(256, -1, dtype=np.int32)
for _sign, _century in CENTURY_BY_SIGN.items():
    _CENTURY_LUT[ord(_sign)] = _century
_CHECK_LUT = np.frombuffer(CHECK_CHARACTERS.encode(), dtype=np.uint8)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)

PROBLEMS = ("not_an_identity_code", "identity_code_date", "identity_code_individual_number",
            "identity_code_check_character")
"""Problem codes, in the order they are checked; ``HetuFields.problem`` indexes this tuple (-1 = valid)."""


@dataclass(frozen=True)
class HetuFields:
    """Per code (NumPy arrays of equal length): what it says, and whether it is valid."""

    problem: np.ndarray  # int8 index into PROBLEMS, -1 when valid
    temporary: np.ndarray  # bool: individual number 900–999
    male: np.ndarray  # bool: odd individual number
    birth_year: np.ndarray  # int32
    birth_ymd: np.ndarray  # int32 yyyymmdd, for age arithmetic

    @property
    def valid(self) -> np.ndarray:
        return self.problem < 0


def decode_many(codes: pa.StringArray) -> HetuFields:
    """Validate normalised (trimmed, upper-case) codes: format, real date, individual number 002–999,
    check character. Null counts as "not an identity code". Pure NumPy on the code bytes."""
    n = len(codes)
    problem = np.full(n, -1, dtype=np.int8)
    fields = {k: np.zeros(n, dtype=t) for k, t in (("temporary", bool), ("male", bool), ("birth_year", np.int32),
                                                   ("birth_ymd", np.int32))}
    shaped = pc.fill_null(pc.match_substring_regex(codes, HETU_PATTERN.pattern), False).to_numpy(
        zero_copy_only=False)
    problem[~shaped] = 0
    rows = np.flatnonzero(shaped)
    if rows.size:
        well_formed = pc.filter(codes, pa.array(shaped))
        offsets = np.frombuffer(well_formed.buffers()[1], dtype=np.int32)[well_formed.offset:]
        start = offsets[0]
        data = np.frombuffer(well_formed.buffers()[2], dtype=np.uint8)[start:start + 11 * rows.size]
        m = data.reshape(rows.size, 11).astype(np.int32)
        digit = m - 48
        day, month, yy = digit[:, 0] * 10 + digit[:, 1], digit[:, 2] * 10 + digit[:, 3], digit[:, 4] * 10 + digit[:, 5]
        individual = digit[:, 7] * 100 + digit[:, 8] * 10 + digit[:, 9]
        year = _CENTURY_LUT[m[:, 6]] + yy
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        month_ok = (month >= 1) & (month <= 12)
        last_day = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + (leap & (month == 2))
        date_ok = month_ok & (day >= 1) & (day <= last_day)
        number_ok = individual >= 2
        check_ok = _CHECK_LUT[((day * 10_000 + month * 100 + yy).astype(np.int64) * 1000 + individual) % 31] == m[:, 10]
        sub = np.where(~date_ok, 1, np.where(~number_ok, 2, np.where(~check_ok, 3, -1))).astype(np.int8)
        problem[rows] = sub
        fields["temporary"][rows] = individual >= 900
        fields["male"][rows] = individual % 2 == 1
        fields["birth_year"][rows] = year
        fields["birth_ymd"][rows] = year * 10_000 + month * 100 + day
    return HetuFields(problem=problem, **fields)
