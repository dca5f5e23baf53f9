"""Where the pseudonym key comes from: the environment, or a key file outside the warehouse."""

from __future__ import annotations

import os
import secrets

from tesoma.config import Settings
from transforms.pseudonymise import KeyProblem, PseudonymKey


def load_key(settings: Settings) -> PseudonymKey:
    """The key from ``TESOMA_PSEUDONYM_KEY`` or the key file; stops the run with advice when missing."""
    value = os.environ.get("TESOMA_PSEUDONYM_KEY")
    if value:
        return PseudonymKey(value.encode())
    if settings.key_file.exists():
        return PseudonymKey(settings.key_file.read_bytes().strip())
    raise KeyProblem(
        "No pseudonym key. Set TESOMA_PSEUDONYM_KEY (32+ bytes, from your secrets store) or create the key "
        f"file {settings.key_file} (`tesoma demo` creates one for the demo)."
    )


def ensure_demo_key(settings: Settings) -> bool:
    """Create a random key file readable only by its owner, unless a key is configured; True if created."""
    if os.environ.get("TESOMA_PSEUDONYM_KEY") or settings.key_file.exists():
        return False
    settings.key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(settings.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    return True
