"""Exact duplicate rows within one delivery: the first copy stays, later copies are flagged."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def exact_duplicates(table: pa.Table, columns: list[str], row_column: str = "_row") -> pa.Array:
    """Boolean mask: True for each row that repeats an earlier row in every one of ``columns``."""
    if table.num_rows == 0:
        return pa.array([], pa.bool_())
    firsts = table.select([*columns, row_column]).group_by(columns, use_threads=False).aggregate(
        [(row_column, "min")]
    )[f"{row_column}_min"]
    return pc.invert(pc.is_in(table[row_column], value_set=firsts))
