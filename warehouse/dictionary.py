"""Render the data dictionary (docs/data-dictionary.md) from the canonical schemas."""

from __future__ import annotations

from warehouse.iceberg import describe_warehouse
from warehouse.schemas import TABLES


def render() -> str:
    lines = ["# Data dictionary", "",
             "Generated from `warehouse/schemas.py` by `tesoma dictionary`; do not edit by hand.", ""]
    for table, schema in TABLES.items():
        lines += [f"## `{table}`", "", (schema.metadata or {}).get(b"description", b"").decode(), "",
                  "| column | type | description |", "|---|---|---|"]
        lines += [f"| `{name}` | {type_} | {description} |" for name, type_, description in describe_warehouse(table)]
        lines.append("")
    lines += ["Every table is an Iceberg table `tesoma.<table>` partitioned by `partner` and `delivery_date` (the "
              "date the delivery covers); these descriptions are its fields' docs.", "",
              "Person facts are coarsened so that they do not single people out: `age_at_event` counts calendar "
              "years (event year − birth year), never the birthday, and ages of 90 or over are top-coded (age 90, "
              "birth year = event year − 90). Why, and what remains: `docs/privacy.md`.", ""]
    return "\n".join(lines)
