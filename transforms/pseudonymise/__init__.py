"""Pseudonymisation: the only module that ever sees identity codes.

Identity codes become keyed pseudonyms (keyed BLAKE2b, 128 bits, base32; see ``keyed_hash``), with
domain separation so that a HETU, a temporary code and a partner-local id can never produce the same
pseudonym. Each *distinct* identifier is hashed once per batch. Codes are cleaned before anything else:
surrounding whitespace trimmed and upper-cased, so ``" ddmmyy-zzzq "`` is the same person as
``DDMMYY-ZZZQ``. The birth date in the code becomes its birth year only (the age at an event is derived
later, in harmonise, from the birth year and the event's year: the birth day never leaves this module);
sex comes from the code; direct identifiers (names, address, phone, free text) are dropped here and go
no further.

Professionals are pseudonymised too: a partner's staff id becomes ``professional_id``
(:func:`professional_ids`), keyed in the domain ``professional:<partner>`` — a domain no resident's code is
ever hashed in, so a professional's pseudonym can neither equal nor be joined to a ``person_id``, and two
partners' staff ids never meet. The raw staff id is dropped here.

Rows whose identity code is invalid keep flowing but get a reason in ``_errors`` and no pseudonym; the
caller quarantines them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms import reasons
from transforms.pseudonymise import keyed_hash
from transforms.pseudonymise.hetu import PROBLEMS, HetuFields, decode_many
from transforms.pseudonymise.keys import KeyProblem, PseudonymKey

ERRORS = "_errors"

__all__ = ["EventIds", "IdentitySpec", "KeyProblem", "PseudonymKey", "keyed_ids", "professional_ids", "pseudonymise"]


@dataclass(frozen=True)
class IdentitySpec:
    """Which columns of a feed identify people, per its contract's classifications."""

    identity_code: str | None
    direct_identifiers: tuple[str, ...]
    # Not read here since the birth day no longer leaves this module (harmonise derives the age from birth
    # year and event date); kept until the feed registry stops passing it.
    event_time: str | None = None
    source_id: str | None = None  # the partner's record id, replaced by a keyed ``event_id``
    partner: str = ""
    partner_local_id: str | None = None  # the partner's own person id, used where there is no identity code
    staff_id: str | None = None  # the partner's id of the professional, replaced by a keyed ``professional_id``


def keyed_ids(values: pa.Array | pa.ChunkedArray, domain: str, key: PseudonymKey, *,
              per_row: bool = False) -> pa.Array:
    """Keyed hash of each value in ``domain``; hashes each distinct value once. Nulls stay null.

    ``per_row`` hashes every row instead, for values that are distinct by contract (record ids):
    finding the distinct values first would cost more than it saves.
    """
    if per_row:
        text = keyed_hash.to_text(keyed_hash.digests(values.fill_null(""), domain, key))
        return text if values.null_count == 0 else pc.if_else(pc.is_valid(values), text, pa.scalar(None, pa.string()))
    encoded = pc.dictionary_encode(values)
    hashed = keyed_hash.pseudonyms(encoded.dictionary.to_pylist(), domain, key)
    if len(hashed) == len(values) and values.null_count == 0:
        return hashed  # all distinct (record ids): the dictionary is the values in order, nothing to spread
    return pc.take(hashed, encoded.indices)


def professional_domain(partner: str) -> str:
    """The keyed-hash domain of a partner's staff ids: apart from every resident domain (``hetu``,
    ``temporary``, ``partner_local:<partner>``) and from every other partner's staff."""
    return f"professional:{partner}"


def professional_ids(values: pa.Array | pa.ChunkedArray, partner: str, key: PseudonymKey) -> pa.Array:
    """Pseudonyms of a partner's staff ids (trimmed; blank counts as missing). Nulls stay null.

    A professional sees many people: each distinct id is hashed once.
    """
    text = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    trimmed = pc.utf8_trim_whitespace(text.cast(pa.string()))
    trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    if trimmed.null_count == len(trimmed):
        return pa.nulls(len(trimmed), pa.string())
    return keyed_ids(trimmed, professional_domain(partner), key)


class EventIds:
    """A delivery's keyed ``event_id`` (one per row, from the partner's record id), hashed on a thread of its
    own: batch by batch while the reader parses the rest of the file (Arrow's parser leaves Python's lock
    free), then while the caller goes on (duplicates, contract checks). Hand :meth:`result` to
    :func:`pseudonymise`, filtered like the rows.
    """

    def __init__(self, spec: IdentitySpec, key: PseudonymKey) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._domain = f"event:{spec.partner}"
        self._key = key
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="event-ids")
        self._parts: list = []

    def add(self, record_ids: pa.Array | pa.ChunkedArray) -> None:
        """Queue the next rows' record ids (in row order)."""
        self._parts.append(self._pool.submit(keyed_ids, record_ids, self._domain, self._key, per_row=True))

    def result(self) -> pa.ChunkedArray:
        """Every queued row's event id, in order (waits for the hashing to finish)."""
        try:
            return pa.chunked_array([part.result() for part in self._parts], pa.string())
        finally:
            self._pool.shutdown(wait=False)

    def cancel(self) -> None:
        """Drop the queued work (the delivery was rejected while it was read)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def pseudonymise(table: pa.Table, spec: IdentitySpec, key: PseudonymKey,
                 event_ids: pa.Array | pa.ChunkedArray | None = None) -> pa.Table:
    """Replace the identity code by ``person_id``/``person_id_kind``, add ``birth_year`` and ``sex``, drop
    direct identifiers. Returns a new table; the input is not modified.
    ``event_ids``, if given, are the rows' keyed record ids already computed (:class:`EventIds`).

    A person without an identity code but with a partner-local id (e.g. a private provider's patient
    number, an NGO's member number) gets a pseudonym in that partner's own domain, kind ``partner_local``.

    Work per row is only dictionary encoding and ``take``; validation and hashing run once per distinct code.
    """
    n = table.num_rows
    dropped = [c for c in (spec.identity_code, spec.partner_local_id, spec.staff_id, *spec.direct_identifiers)
               if c is not None and c in table.column_names]
    out = table.drop_columns(dropped)
    problems: pa.Array = pa.nulls(n, pa.string())
    if spec.source_id is not None:
        if event_ids is None:
            event_ids = keyed_ids(table[spec.source_id], f"event:{spec.partner}", key, per_row=True)
        elif len(event_ids) != n:
            raise ValueError(f"{len(event_ids)} event ids given for {n} rows")
        out = out.drop_columns([spec.source_id]).append_column("event_id", event_ids)

    if spec.identity_code is not None:
        columns, problems = _from_identity_codes(table[spec.identity_code].combine_chunks(), spec.identity_code, key)
    else:
        columns = {"person_id": pa.nulls(n, pa.string()), "person_id_kind": pa.nulls(n, pa.string()),
                   "birth_year": pa.nulls(n, pa.int16()), "sex": pa.nulls(n, pa.string())}
    if spec.partner_local_id is not None:
        local = table[spec.partner_local_id].combine_chunks()
        use_local = pc.and_(pc.is_null(columns["person_id"]), pc.is_valid(local))
        if spec.identity_code is not None:  # an invalid code is an error, not a reason to fall back
            use_local = pc.and_(use_local, pc.is_null(table[spec.identity_code]))
        local_ids = keyed_ids(local, f"partner_local:{spec.partner}", key)
        columns["person_id"] = pc.if_else(use_local, local_ids, columns["person_id"].cast(pa.string()))
        columns["person_id_kind"] = pc.if_else(use_local, pa.scalar("partner_local"),
                                               columns["person_id_kind"].cast(pa.string()))
    if spec.staff_id is not None and spec.staff_id in table.column_names:
        columns["professional_id"] = professional_ids(table[spec.staff_id], spec.partner, key)
    for name, values in columns.items():
        out = out.append_column(name, values)
    if ERRORS not in out.column_names:
        return out.append_column(ERRORS, problems)
    if problems.null_count == len(problems):  # every code valid: nothing to add (the common case)
        return out
    return out.set_column(out.column_names.index(ERRORS), ERRORS, reasons.combine(out[ERRORS], problems))


def _from_identity_codes(codes: pa.Array, column: str, key: PseudonymKey) -> tuple[dict[str, pa.Array], pa.Array]:
    """Per-row person columns from identity codes, and a reason per row with an invalid code."""
    encoded = pc.dictionary_encode(codes)
    idx = encoded.indices
    # Normalise (trim, upper case) the distinct raw values only; different raw spellings of one code
    # normalise to the same code and so get the same pseudonym.
    normalised = pc.utf8_upper(pc.utf8_trim_whitespace(encoded.dictionary))
    fields = decode_many(normalised)
    valid = fields.valid

    def per_row(values: np.ndarray, type_: pa.DataType) -> pa.Array:
        return pc.take(pa.array(values, type_, mask=~valid), idx)

    def per_row_text(values: pa.Array) -> pa.DictionaryArray:
        # Text columns stay dictionary-encoded on the code's own indices: no per-row copy here, and
        # Parquet writes them as dictionaries anyway. ``conform`` casts them to plain strings.
        return pa.DictionaryArray.from_arrays(idx, values)

    def text(choices: tuple[str, str], first: np.ndarray) -> pa.Array:
        return pa.array(np.where(first, choices[0], choices[1]), pa.string(), mask=~valid)

    columns = {
        "person_id": per_row_text(_person_pseudonyms(normalised, fields, key)),
        "person_id_kind": per_row_text(text(("temporary", "hetu"), fields.temporary)),
        "birth_year": per_row(fields.birth_year, pa.int16()),
        "sex": per_row_text(text(("male", "female"), fields.male)),
    }
    if valid.all():
        return columns, pa.nulls(len(codes), pa.string())
    # A missing code is the contract's "required" rule, not an invalid code: no reason for nulls.
    problems = pa.array([None if p < 0 else f"{column}: {PROBLEMS[p]}" for p in fields.problem.tolist()], pa.string())
    return columns, pc.if_else(pc.is_null(idx), pa.scalar(None, pa.string()), pc.take(problems, idx))


def _person_pseudonyms(codes: pa.StringArray, fields: HetuFields, key: PseudonymKey) -> pa.Array:
    """One pseudonym per distinct code, hashed within its kind's domain (null for invalid codes)."""
    values = codes.to_pylist()
    out: list[str | None] = [None] * len(values)
    for kind, members in (("hetu", fields.valid & ~fields.temporary), ("temporary", fields.valid & fields.temporary)):
        positions = np.flatnonzero(members).tolist()
        hashed = keyed_hash.pseudonyms([values[i] for i in positions], kind, key).to_pylist()
        for i, p in zip(positions, hashed, strict=True):
            out[i] = p
    return pa.array(out, pa.string())

