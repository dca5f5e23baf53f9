"""Harmonise: per-feed mapping of pseudonymised rows onto the canonical tables (``warehouse.schemas``).

Each feed has a module ``transforms/harmonise/<feed>.py`` declaring

- ``TABLES``: the canonical tables it writes (the first is the one each source row becomes),
- ``MAPPINGS``: the code mappings it needs, as :class:`Mapping` (``config/mappings/<file>.csv``),
- ``harmonise(table, maps, context) -> (dict[table name, pa.Table], HarmoniseReport)``, a pure function.

Code mappings are data, handed in as :class:`CodeMap` objects; an unmapped source value maps to null,
is counted, and its source value is kept next to the mapped column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

T = TypeVar("T")


@dataclass(frozen=True)
class Mapping:
    """Where a code mapping lives: ``config/mappings/<file>.csv`` with a key and a value column.
    With ``by_partner``, only the rows whose ``partner`` column names the delivering partner apply."""

    file: str
    key: str
    value: str
    by_partner: bool = False


@dataclass(frozen=True)
class Context:
    """Facts about the delivery being harmonised."""

    partner: str
    feed: str
    delivery_id: str
    timezone: str = "Europe/Helsinki"


@dataclass(frozen=True)
class CodeMap:
    """A mapping of source codes to canonical values, e.g. ``TK_VO → primary_care``."""

    name: str
    mapping: dict[str, str]

    def apply(self, values: pa.Array, report: HarmoniseReport) -> pa.Array:
        keys = pa.array(list(self.mapping), pa.string())
        mapped = pa.array(list(self.mapping.values()), pa.string())
        idx = pc.index_in(values, value_set=keys)
        out = pc.take(mapped, idx)
        unmapped = pc.and_(pc.is_valid(values), pc.is_null(idx))
        n = pc.sum(pc.cast(unmapped, pa.int64())).as_py() or 0
        if n:
            report.unmapped[self.name] += n
        return out


@dataclass
class HarmoniseReport:
    """Counts of source values no mapping knew, per mapping (values themselves are not kept here)."""

    unmapped: Counter = field(default_factory=Counter)


def columns_of(table: pa.Table):
    """A lookup ``col(name)`` of the table's columns as single arrays (what the mapping code works on)."""

    def col(name: str) -> pa.Array | pa.ChunkedArray:
        # Compute functions take chunked columns as they are; joining the chunks would copy every value.
        column = table[name]
        return column.chunk(0) if column.num_chunks == 1 else column

    return col


def constant(value: object, n: int, type_: pa.DataType | None = None) -> pa.Array:
    """``n`` copies of one value, e.g. the delivering partner on every row."""
    type_ = type_ or pa.string()
    if pa.types.is_string(type_) and isinstance(value, str) and 0 < n * len(value.encode()) < 2**31 - 1:
        # Text is built from its buffers (offsets and repeated bytes): ten times faster than ``pa.repeat``.
        data = value.encode()
        offsets = np.arange(0, (n + 1) * len(data), len(data), dtype=np.int32) if data else np.zeros(n + 1, np.int32)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data * n))
    return pa.repeat(pa.scalar(value, type_), n)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select and cast columns to a canonical schema (with its descriptions), in the schema's order."""
    arrays = computed({f.name: (lambda f=f: table[f.name].cast(f.type)) for f in schema}, table.num_rows)
    return pa.Table.from_arrays([arrays[f.name] for f in schema], schema=schema)


PARALLEL_ROWS = 100_000
"""From this many rows on, :func:`computed` runs column computations on two threads."""


def computed(work: dict[str, Callable[[], T]], rows: int) -> dict[str, T]:
    """Run independent column computations (``name → function``) and return ``name → result``. For
    ``rows`` ≥ :data:`PARALLEL_ROWS` they run on two threads: Arrow's compute functions release Python's
    lock, so both cores work (2,000,000 city visits: harmonise 1.0 s → 0.6 s)."""
    if rows < PARALLEL_ROWS:
        return {name: compute() for name, compute in work.items()}
    with ThreadPoolExecutor(2, thread_name_prefix="harmonise") as pool:
        futures = {name: pool.submit(compute) for name, compute in work.items()}
        return {name: future.result() for name, future in futures.items()}
