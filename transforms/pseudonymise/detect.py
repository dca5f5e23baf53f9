"""Detectors of identifying data in text: identity codes, phone numbers, e-mail addresses and known
names. Pure functions over strings; ``tesoma.audit`` walks the files. A detector reports *kinds* and
counts only — never the value it found."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

# Any century sign, not glued to other letters or digits (pseudonyms are [a-z2-7], so never match).
IDENTITY_CODE = re.compile(r"(?<![0-9A-Za-z])\d{6}[-+YXWVUABCDEF]\d{3}[0-9A-Y](?![0-9A-Za-z])")
PHONE = re.compile(r"(?<![\w+])(?:\+358[\s-]?\d{1,2}|0[45]\d)[\s-]?\d{3}[\s-]?\d{3,4}(?!\w)")
EMAIL = re.compile(r"[\w.+-]+@([\w-]+\.)+[A-Za-z]{2,}")
# Reserved for documentation by RFC 2606 / RFC 6761: never a real person's address.
_EXAMPLE_MAIL = re.compile(r"@([\w-]+\.)*(example|test|invalid|localhost)(\.(com|org|net))?$", re.IGNORECASE)
NAME_TOKEN = re.compile(r"(?<![\w-])[A-ZÅÄÖ][a-zåäöé]+(?:-[A-ZÅÄÖ][a-zåäöé]+)?(?![\w-])")


def names_from(values: Iterable[str | None], minimum_length: int = 3) -> set[str]:
    """Name tokens (capitalised words) of delivered name fields, e.g. ``"Ella Sofia"`` → Ella, Sofia."""
    found: set[str] = set()
    for value in values:
        if value:
            found.update(t for t in NAME_TOKEN.findall(value) if len(t) >= minimum_length)
    return found


def scan(text: str, names: frozenset[str] | set[str] = frozenset()) -> Counter:
    """Kinds of identifying data in ``text`` and how often each occurs."""
    found: Counter = Counter()
    if n := len(IDENTITY_CODE.findall(text)):
        found["identity_code"] += n
    if n := len(PHONE.findall(text)):
        found["phone_number"] += n
    for m in EMAIL.finditer(text):
        if not _EXAMPLE_MAIL.search(m.group(0)):
            found["email_address"] += 1
    if names and (n := sum(1 for t in NAME_TOKEN.findall(text) if t in names)):
        found["name"] += n
    return found
