"""Pseudonymisation: the only module that ever sees identity codes.

Identity codes become keyed pseudonyms (HMAC-SHA256, 128 bits, base32), with domain separation so that
a HETU, a temporary code and a partner-local id can never produce the same pseudonym. Each *distinct*
identifier is hashed once per batch. Birth date becomes birth year and age at the event; sex comes from
the code; direct identifiers (names, address, phone, free text) are dropped here and go no further.

Rows whose identity code is invalid keep flowing but get a reason in ``_errors`` and no pseudonym; the
caller quarantines them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from transforms import reasons
from transforms.pseudonymise.hetu import HETU_PATTERN, birth_date, check_character
from transforms.pseudonymise.keys import KeyProblem, PseudonymKey

ERRORS = "_errors"

__all__ = ["IdentitySpec", "KeyProblem", "PseudonymKey", "keyed_ids", "pseudonymise"]


@dataclass(frozen=True)
class IdentitySpec:
    """Which columns of a feed identify people, per its contract's classifications."""

    identity_code: str
    direct_identifiers: tuple[str, ...]
    event_time: str | None = None  # for age at the event
    source_id: str | None = None  # the partner's record id, replaced by a keyed ``event_id``
    partner: str = ""


def _pseudonym(key: PseudonymKey, domain: str, value: str) -> str:
    digest = hmac.new(key.secret, f"{domain}\x1f{value}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:16]).decode().rstrip("=").lower()


def keyed_ids(values: pa.Array, domain: str, key: PseudonymKey) -> pa.Array:
    """Keyed hash of each value in ``domain``; hashes each distinct value once. Nulls stay null."""
    encoded = pc.dictionary_encode(values)
    distinct = encoded.dictionary.to_pylist()
    hashed = pa.array([_pseudonym(key, domain, v) for v in distinct], pa.string())
    return pc.take(hashed, encoded.indices)


@dataclass(frozen=True)
class _Decoded:
    """Per distinct normalised code: validity, kind, birth date and sex."""

    kind: str | None
    birth: object
    sex: str | None
    problem: str | None


def _decode(code: str) -> _Decoded:
    m = HETU_PATTERN.match(code)
    if m is None:
        return _Decoded(None, None, None, "not_an_identity_code")
    born = birth_date(code)
    if born is None:
        return _Decoded(None, None, None, "identity_code_date")
    individual = int(m[5])
    if individual < 2:
        return _Decoded(None, None, None, "identity_code_individual_number")
    if check_character(code[:6], m[5]) != m[6]:
        return _Decoded(None, None, None, "identity_code_check_character")
    return _Decoded("temporary" if individual >= 900 else "hetu", born, "male" if individual % 2 else "female", None)


def pseudonymise(table: pa.Table, spec: IdentitySpec, key: PseudonymKey) -> pa.Table:
    """Replace the identity code by ``person_id``/``person_id_kind``, add ``birth_year``, ``sex`` and
    ``age_at_event``, drop direct identifiers. Returns a new table; the input is not modified."""
    codes = pc.utf8_upper(pc.utf8_trim_whitespace(table[spec.identity_code].combine_chunks()))
    encoded = pc.dictionary_encode(codes)
    decoded = [_decode(c) for c in encoded.dictionary.to_pylist()]
    idx = encoded.indices

    def per_row(values: list, type_: pa.DataType) -> pa.Array:
        return pc.take(pa.array(values, type_), idx)

    kinds = per_row([d.kind for d in decoded], pa.string())
    # Domain = the kind: a HETU and a temporary code with the same characters can never collide.
    person_ids = per_row(
        [_pseudonym(key, d.kind, c) if d.kind else None for d, c in zip(decoded, encoded.dictionary.to_pylist(),
                                                                          strict=True)],
        pa.string(),
    )
    births = per_row([d.birth for d in decoded], pa.date32())
    sexes = per_row([d.sex for d in decoded], pa.string())
    problems = per_row([f"{spec.identity_code}: {d.problem}" if d.problem else None for d in decoded], pa.string())
    problems = pc.if_else(pc.is_null(codes), pa.scalar(None, pa.string()), problems)

    dropped = [spec.identity_code, *[c for c in spec.direct_identifiers if c in table.column_names]]
    out = table.drop_columns(dropped)
    if spec.source_id is not None:
        event_ids = keyed_ids(table[spec.source_id].combine_chunks(), f"event:{spec.partner}", key)
        out = out.drop_columns([spec.source_id]).append_column("event_id", event_ids)
    out = out.append_column("person_id", person_ids).append_column("person_id_kind", kinds)
    out = out.append_column("birth_year", pc.cast(pc.year(births), pa.int16()))
    out = out.append_column("sex", sexes)
    if spec.event_time is not None:
        out = out.append_column("age_at_event", _age(births, table[spec.event_time].combine_chunks()))
    if ERRORS in out.column_names:
        merged = reasons.combine(out[ERRORS], problems)
        out = out.set_column(out.column_names.index(ERRORS), ERRORS, merged)
    return out


def _age(births: pa.Array, at: pa.Array) -> pa.Array:
    """Completed years between birth date and the event (a birthday on the event day counts)."""
    years = pc.subtract(pc.year(at), pc.year(births))
    before_birthday = pc.less(
        pc.add(pc.multiply(pc.month(at), 100), pc.day(at)),
        pc.add(pc.multiply(pc.month(births), 100), pc.day(births)),
    )
    return pc.cast(pc.subtract(years, pc.cast(before_birthday, pa.int64())), pa.int16())

