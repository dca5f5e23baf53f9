"""The pseudonymisation key: a secret held outside the repository and the warehouse."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

MIN_KEY_BYTES = 32


class KeyProblem(RuntimeError):
    """The key is missing or too weak; the run must stop. The message says how to fix it."""


@dataclass(frozen=True)
class PseudonymKey:
    """A keyed-hash secret. ``repr`` never shows it; ``key_id`` is a safe fingerprint to record."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_KEY_BYTES:
            raise KeyProblem(
                f"The pseudonym key is {len(self.secret)} bytes; at least {MIN_KEY_BYTES} are required. "
                "Generate one with: python -c \"import secrets; print(secrets.token_urlsafe(48))\""
            )

    @property
    def key_id(self) -> str:
        """A one-way fingerprint naming the key in the ledger (rotation is traceable, the key is not)."""
        return "k-" + hmac.new(self.secret, b"tesoma key id", hashlib.sha256).hexdigest()[:12]
