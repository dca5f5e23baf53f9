"""Harmonise: per-feed mapping of pseudonymised rows onto the canonical tables (``warehouse.schemas``).

Code mappings are data (``config/mappings/*.csv``), handed in as :class:`CodeMap` objects; an unmapped
source value maps to null, is counted, and its source value is kept next to the mapped column.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc


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


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select and cast columns to a canonical schema (with its descriptions), in the schema's order."""
    arrays = [table[f.name].cast(f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)
