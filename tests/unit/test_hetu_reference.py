"""Our identity-code validation agrees with an independent, well-kept validator (python-stdnum's
``stdnum.fi.hetu``, which knows the 2023 century signs) on 120,000 random valid and corrupted codes."""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa
from stdnum.fi import hetu as reference

from transforms.pseudonymise.hetu import CENTURY_BY_SIGN, check_character, decode_many

SIGNS_BY_CENTURY: dict[int, str] = {}
for _sign, _century in CENTURY_BY_SIGN.items():
    SIGNS_BY_CENTURY[_century] = SIGNS_BY_CENTURY.get(_century, "") + _sign
ALPHABET = "0123456789ABCDEFHJKLMNPRSTUVWXY-+GIOQZ "


def random_code(rng: random.Random) -> str:
    born = dt.date(1850, 1, 1) + dt.timedelta(days=rng.randrange(64_000))
    digits = born.strftime("%d%m%y")
    individual = f"{rng.randrange(0, 1000):03d}"
    code = f"{digits}{rng.choice(SIGNS_BY_CENTURY[born.year // 100 * 100])}{individual}"
    code += check_character(digits, individual)
    roll = rng.random()
    if roll < 0.25:  # one character replaced
        i = rng.randrange(11)
        code = code[:i] + rng.choice(ALPHABET) + code[i + 1:]
    elif roll < 0.30:  # two characters swapped
        i = rng.randrange(10)
        code = code[:i] + code[i + 1] + code[i] + code[i + 2:]
    elif roll < 0.35:  # truncated or extended
        code = code[: rng.randrange(11)] if rng.random() < 0.5 else code + rng.choice(ALPHABET)
    elif roll < 0.40:  # impossible dates: 30 Feb, 31 Apr, 29 Feb of a common year, month 13
        code = rng.choice(["3002", "3104", "2902", "0113", "0000"]) + code[4:]
    return code


def test_agrees_with_stdnum_on_120k_codes():
    rng = random.Random(20231)
    codes = [random_code(rng) for _ in range(120_000)]
    normalised = [c.strip().upper() for c in codes]
    ours = decode_many(pa.array(normalised)).valid
    theirs = [reference.is_valid(c, allow_temporary=True) for c in normalised]
    disagreements = [c for c, a, b in zip(normalised, ours.tolist(), theirs, strict=True) if a != b]
    assert not disagreements[:10], f"{len(disagreements)} disagreements, e.g. {disagreements[:10]}"
    # Both kinds are well represented, so agreement means something.
    assert 50_000 < sum(theirs) < 100_000
    temporary = [c for c in normalised if c[7:10].isdigit() and int(c[7:10]) >= 900]
    assert sum(reference.is_valid(c, allow_temporary=True) for c in temporary) > 5_000
    new_signs = sum(1 for c, ok in zip(normalised, theirs, strict=True) if ok and c[6] in "YXWVUBCDEF")
    assert new_signs > 20_000


def test_temporary_codes_are_recognised_as_temporary():
    rng = random.Random(5)
    codes = [random_code(rng) for _ in range(20_000)]
    fields = decode_many(pa.array(codes))
    for code, valid, temporary in zip(codes, fields.valid.tolist(), fields.temporary.tolist(), strict=True):
        if valid:
            assert temporary == (int(code[7:10]) >= 900)
            assert reference.is_valid(code, allow_temporary=False) == (not temporary)
