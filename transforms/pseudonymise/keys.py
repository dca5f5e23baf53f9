"""The pseudonymisation key: a secret held outside the repository and the warehouse."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field

MIN_KEY_BYTES = 32
MIN_DISTINCT_BYTES = 16
"""A random 32-byte key has ~30 distinct bytes (a url-safe or hex one, 16+); "aaaa…" or "abab…" has 1 or 2."""

GENERATE = "generate one with: python3 -c \"import secrets; print(secrets.token_urlsafe(48))\""

# Words of placeholder keys ("change-me-pseudonym-key", "my-secret-…", "example-key-…"), matched in the key
# lower-cased without separators. Six letters or more: a random url-safe key of 64 characters holds one of
# them by chance about once in 10^7 keys.
_PLACEHOLDER_WORDS = ("changeme", "replaceme", "secret", "password", "passw0rd", "example", "placeholder",
                      "yourkey", "xxxxxxxx")
_SEPARATORS = re.compile(rb"[-_.\s]")


class KeyProblem(RuntimeError):
    """The key is missing or too weak; the run must stop. The message says how to fix it."""


def weakness(secret: bytes) -> str | None:
    """Why ``secret`` is not fit to be a pseudonym key (a phrase, never the key), or None when it is.

    Refused: keys shorter than 32 bytes, keys with fewer than 16 distinct bytes (32 spaces, "aaaa…",
    "0101…"), and keys that look like placeholders (change-me, secret, password, example, xxxx…).
    Keys written down anywhere in the project are refused by :func:`tesoma.keys.load_key`, which can
    read the files.
    """
    if len(secret) < MIN_KEY_BYTES:
        return f"is {len(secret)} bytes; at least {MIN_KEY_BYTES} are required"
    distinct = len(set(secret))
    if distinct < MIN_DISTINCT_BYTES:
        return (f"uses only {distinct} different byte values of 256; at least {MIN_DISTINCT_BYTES} are required "
                "(a random key uses more)")
    folded = _SEPARATORS.sub(b"", secret.lower())
    if any(word.encode() in folded for word in _PLACEHOLDER_WORDS):
        return "looks like a placeholder (it contains a word such as change-me, secret, password or example)"
    return None


@dataclass(frozen=True)
class PseudonymKey:
    """A keyed-hash secret. ``repr`` never shows it; ``key_id`` is a safe fingerprint to record.

    The constructor refuses every weak key (:func:`weakness`: too short, too little variety, a
    placeholder); keys from configuration are made with :meth:`checked`, whose message names the source.
    """

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        problem = weakness(self.secret)
        if problem:
            raise KeyProblem(f"The pseudonym key {problem}; {GENERATE}")

    @classmethod
    def checked(cls, secret: bytes, source: str = "the configured key") -> PseudonymKey:
        """The key, after :func:`weakness`; raises :class:`KeyProblem` naming ``source`` and how to fix it."""
        problem = weakness(secret)
        if problem:
            raise KeyProblem(f"The pseudonym key {source} {problem}; {GENERATE}")
        return cls(secret)

    @property
    def key_id(self) -> str:
        """A one-way fingerprint naming the key in the ledger (rotation is traceable, the key is not)."""
        return "k-" + hmac.new(self.secret, b"tesoma key id", hashlib.sha256).hexdigest()[:12]
