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
