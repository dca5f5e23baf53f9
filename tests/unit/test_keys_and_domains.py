"""The pseudonym key's sources and checks, and domain separation of keyed hashes."""

from __future__ import annotations

import os
import stat

import pyarrow as pa
import pytest

from tesoma.config import settings
from tesoma.keys import ensure_demo_key, load_key
from transforms.pseudonymise import IdentitySpec, KeyProblem, PseudonymKey, keyed_hash, keyed_ids, pseudonymise

KEY = PseudonymKey(b"k" * 32)


def test_missing_key_stops_with_advice(data_root, monkeypatch):
    monkeypatch.delenv("TESOMA_PSEUDONYM_KEY")
    with pytest.raises(KeyProblem, match="No pseudonym key. Set TESOMA_PSEUDONYM_KEY"):
        load_key(settings())


def test_short_key_stops_with_advice(data_root, monkeypatch):
    monkeypatch.setenv("TESOMA_PSEUDONYM_KEY", "too-short")
    with pytest.raises(KeyProblem, match="at least 32 are required.*secrets.token_urlsafe"):
        load_key(settings())


def test_demo_key_file_is_private_and_used(data_root, monkeypatch):
    monkeypatch.delenv("TESOMA_PSEUDONYM_KEY")
    s = settings()
    assert ensure_demo_key(s) is True
    assert stat.S_IMODE(s.key_file.stat().st_mode) == 0o600
    assert ensure_demo_key(s) is False  # never overwritten
    key = load_key(s)
    assert len(key.secret) >= 32
    os.chmod(s.key_file, 0o644)
    with pytest.raises(KeyProblem, match="readable by others"):
        load_key(s)


def test_key_never_shown():
    key = PseudonymKey(b"a-secret-that-must-not-leak-0123456789")
    assert b"a-secret" not in repr(key).encode()
    assert "a-secret" not in key.key_id and key.key_id.startswith("k-")
    assert key.key_id == PseudonymKey(b"a-secret-that-must-not-leak-0123456789").key_id
    assert key.key_id != KEY.key_id


def test_domains_never_collide():
    value = "131052-308T"
    hashed = {domain: keyed_hash.pseudonyms([value], domain, KEY).to_pylist()[0]
              for domain in ("hetu", "temporary", "partner_local:mehilainen", "partner_local:city", "event:city")}
    assert len(set(hashed.values())) == len(hashed)


def test_each_distinct_value_is_hashed_once(monkeypatch):
    calls = []
    original = keyed_hash.digests

    def counting(values, domain, key):
        calls.append(len(values))
        return original(values, domain, key)

    monkeypatch.setattr(keyed_hash, "digests", counting)
    codes = ["131052-308T", "010190-123F", "  131052-308t "] * 1000  # two people, three spellings
    out = pseudonymise(pa.table({"h": codes}), IdentitySpec("h", ()), KEY)
    assert sum(calls) == 2
    assert out["person_id"].to_pylist()[0] == out["person_id"].to_pylist()[2]
    calls.clear()
    keyed_ids(pa.array(["a", "b", "a", None] * 500), "event:city", KEY)
    assert calls == [2]
