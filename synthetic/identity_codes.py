"""Synthetic Finnish personal identity codes (henkilötunnus, HETU) for the synthetic residents.

A HETU is ``DDMMYYCZZZQ``: the birth date, a century sign ``C``, an individual number ``ZZZ`` (odd for
men, even for women) and a check character ``Q``. The check character is computed by the pipeline's
own :func:`transforms.pseudonymise.hetu.check_character`, so generator and validator cannot drift apart.

What the generator makes sure the pipeline meets:

- the classic signs ``-`` (1900s) and ``A`` (2000s) for most people, and about 2% with the signs
  introduced in 2023 (``Y X W V U`` for the 1900s, ``B C D E F`` for the 2000s);
- about 1% temporary codes (individual number 900–999), as hospitals issue before a permanent code;
- codes that differ only in the century sign (``010190-123A`` and ``010190Y123A``): two different
  people, since the new signs were introduced exactly to give out the same date and number again.

Codes are unique in the population. They are synthetic: a real person may by chance have the same
code, which is why synthetic data never leaves the test environments.
"""

from __future__ import annotations

import datetime as dt
import random

from transforms.pseudonymise.hetu import CENTURY_BY_SIGN, check_character

CLASSIC_SIGN = {1900: "-", 2000: "A"}
NEW_SIGNS = {1900: "YXWVU", 2000: "BCDEF"}
NEW_SIGN_SHARE = 0.02
TEMPORARY_SHARE = 0.01


def compose(birth_date: dt.date, sign: str, individual_number: int) -> str:
    """The full code for a birth date, century sign and individual number."""
    century = birth_date.year // 100 * 100
    if CENTURY_BY_SIGN.get(sign) != century:
        raise ValueError(f"century sign {sign!r} does not belong to the {century}s")
    date_digits = birth_date.strftime("%d%m") + f"{birth_date.year % 100:02d}"
    number = f"{individual_number:03d}"
    return f"{date_digits}{sign}{number}{check_character(date_digits, number)}"


def with_sign(code: str, sign: str) -> str:
    """The same date, number and check character under another century sign (another person)."""
    if CENTURY_BY_SIGN[code[6]] != CENTURY_BY_SIGN[sign]:
        raise ValueError("both signs must denote the same century")
    return code[:6] + sign + code[7:]


def is_temporary(code: str) -> bool:
    return int(code[7:10]) >= 900


def has_new_sign(code: str) -> bool:
    return code[6] not in ("-", "+", "A")


def wrong_check_character(code: str, rng: random.Random) -> str:
    """The code with a check character that does not match (a typing error, as in a fault)."""
    date_digits, number = code[:6], code[7:10]
    shifted = f"{(int(number) + rng.randint(1, 30)) % 1000:03d}"
    wrong = check_character(date_digits, shifted)
    return code[:10] + wrong


class IdentityCodeIssuer:
    """Issues unique codes, the way the Digital and Population Data Services Agency would."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._issued: set[str] = set()

    def __contains__(self, code: str) -> bool:
        return code in self._issued

    def issue(self, birth_date: dt.date, sex: str) -> str:
        rng = self._rng
        century = birth_date.year // 100 * 100
        temporary = rng.random() < TEMPORARY_SHARE
        sign = rng.choice(NEW_SIGNS[century]) if rng.random() < NEW_SIGN_SHARE else CLASSIC_SIGN[century]
        while True:
            number = rng.randint(900, 999) if temporary else rng.randint(2, 899)
            if (number % 2 == 1) != (sex == "M"):
                number += 1 if number < (999 if temporary else 899) else -1
            code = compose(birth_date, sign, number)
            if code not in self._issued:
                self._issued.add(code)
                return code

    def register(self, code: str) -> None:
        """Record a code made outside :meth:`issue` (the century-sign twins); it must be new."""
        if code in self._issued:
            raise ValueError("identity code already issued")
        self._issued.add(code)
