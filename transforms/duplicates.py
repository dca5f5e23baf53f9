"""Exact duplicate rows within one delivery: the first copy stays, later copies are flagged."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def exact_duplicates(table: pa.Table, columns: list[str], row_column: str = "_row") -> pa.Array:
    """Boolean mask: True for each row that repeats an earlier row in every one of ``columns``."""
    if table.num_rows == 0:
        return pa.array([], pa.bool_())
    keys = table.select([*columns, row_column])
    for i, name in enumerate(columns):
        keys = keys.set_column(i, name, _groupable(keys[name]))
    firsts = keys.group_by(columns, use_threads=False).aggregate([(row_column, "min")])[f"{row_column}_min"]
    return pc.invert(pc.is_in(table[row_column], value_set=firsts))


def _groupable(column: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """Arrow cannot group by list columns: key them as text (length, then items; a null item differs
    from any text, a null list stays null)."""
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
        return column
    lists = column.combine_chunks()
    items = pc.fill_null(lists.values.cast(pa.string()), "\x00")
    joined = pc.binary_join(type(lists).from_arrays(lists.offsets, items), "\x1f")
    keyed = pc.binary_join_element_wise(pc.cast(pc.list_value_length(lists), pa.string()), joined, ":")
    return pc.if_else(lists.is_null(), pa.scalar(None, pa.string()), keyed)
