"""Row reasons: the ``_errors`` column carries why a row cannot be published, as ``column: rule``
entries separated by ``|``. These helpers combine reason columns without touching row values."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

SEPARATOR = "|"


def combine(first: pa.Array | pa.ChunkedArray, second: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Element-wise ``first|second``, skipping nulls; null where both are null.

    (pyarrow 26's ``binary_join_element_wise(null_handling="skip")`` drops rows whose inputs are all
    null instead of emitting null for them, so it cannot be used here.)
    """
    both = pc.binary_join_element_wise(first, second, SEPARATOR)  # null if either is null
    return pc.if_else(pc.is_null(first), second, pc.if_else(pc.is_null(second), first, both))


def combine_all(columns: list[pa.Array], length: int) -> pa.Array:
    if not columns:
        return pa.nulls(length, pa.string())
    out = columns[0]
    for c in columns[1:]:
        out = combine(out, c)
    return out


def for_partner(errors: str) -> list[str]:
    """The distinct reasons of one row, without "required" where the value was there but unreadable."""
    found = list(dict.fromkeys(errors.split(SEPARATOR)))
    unreadable = {r.rpartition(": ")[0] for r in found if r.rpartition(": ")[2].startswith("not_a")}
    return [r for r in found if not (r.endswith(": required") and r.rpartition(": ")[0] in unreadable)]
