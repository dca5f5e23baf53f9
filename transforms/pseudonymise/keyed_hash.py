"""Keyed hashing of identifiers: keyed BLAKE2b, 128 bits, written as 26 lowercase base32 characters.

Each *domain* (``hetu``, ``temporary``, ``partner_local:<partner>``, ``event:<partner>``) personalises
the hash, so the same characters in two domains never give the same pseudonym. Without the key a
pseudonym can be neither reversed nor recomputed from a guessed identity code.

Throughput matters (millions of rows a day), so callers hash each *distinct* value once and the
base32 text is built for all values at once with NumPy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from transforms.pseudonymise.keys import PseudonymKey

DIGEST_BYTES = 16
TEXT_CHARS = 26  # ceil(128 / 5)
_ALPHABET = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)
_FIVE_BITS = np.array([16, 8, 4, 2, 1], dtype=np.uint8)


def _hasher(key: PseudonymKey, domain: str):
    # BLAKE2b takes at most a 64-byte key and a 16-byte personalisation: derive both.
    derived = hashlib.blake2b(key.secret, digest_size=64, person=b"tesoma-pseudo-k").digest()
    person = hashlib.blake2b(domain.encode(), digest_size=16).digest()
    return hashlib.blake2b(key=derived, digest_size=DIGEST_BYTES, person=person)


def digests(values: Sequence[str], domain: str, key: PseudonymKey) -> bytes:
    """The concatenated 16-byte digests of ``values`` (non-null strings) in ``domain``."""
    copy = _hasher(key, domain).copy
    parts = []
    append = parts.append
    for value in values:  # the hot loop when ids are all distinct (record ids): keep it minimal
        h = copy()
        h.update(value.encode())
        append(h.digest())
    return b"".join(parts)


def to_text(raw: bytes) -> pa.StringArray:
    """16-byte digests → an Arrow string array of 26-character base32 texts (RFC 4648, lower case)."""
    n = len(raw) // DIGEST_BYTES
    if n == 0:
        return pa.array([], pa.string())
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8).reshape(n, DIGEST_BYTES), axis=1)
    bits = np.concatenate([bits, np.zeros((n, TEXT_CHARS * 5 - DIGEST_BYTES * 8), np.uint8)], axis=1)
    text = _ALPHABET[bits.reshape(n, TEXT_CHARS, 5).dot(_FIVE_BITS)].tobytes()
    offsets = np.arange(0, (n + 1) * TEXT_CHARS, TEXT_CHARS, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(text))


def pseudonyms(values: Sequence[str | None], domain: str, key: PseudonymKey) -> pa.StringArray:
    """Pseudonym per value (null for null), hashing every value given: pass distinct values."""
    present = [i for i, v in enumerate(values) if v is not None]
    text = to_text(digests([values[i] for i in present], domain, key))
    if len(present) == len(values):
        return text
    out: list[str | None] = [None] * len(values)
    for i, t in zip(present, text.to_pylist(), strict=True):
        out[i] = t
    return pa.array(out, pa.string())
