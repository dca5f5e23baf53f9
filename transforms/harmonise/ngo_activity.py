"""ngo_activity → activity_count. One session row becomes one row per measure.

=================  =================  ==========================================================
source             activity_count     how
=================  =================  ==========================================================
pvm                activity_date      as delivered (a local date)
–                  service_area       ``ngo_activity``
ryhma              unit_code          as delivered: an NGO's unit of activity is the group
toimintamuoto      activity_type      lower-cased (typed by hand), then
                                      ``config/mappings/ngo_activity_types.csv`` (perhekahvila →
                                      family_cafe, …); null and counted when unmapped
osallistujat_lkm   measure, value     ``participants``
vapaaehtoiset_lkm  measure, value     ``volunteers``; no row when the NGO left the count empty
–                  measure, value     ``sessions`` = 1, so that summing it counts the sessions held
                                      (the other measures cannot tell that once aggregated)
=================  =================  ==========================================================

``measure_source`` is the contract's column name (null for ``sessions``). Rows come session by
session, in the order above.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from transforms.harmonise import CodeMap, Context, HarmoniseReport, Mapping, conform
from warehouse.schemas import ACTIVITY_COUNT

SERVICE_AREA = "ngo_activity"
MEASURES: tuple[tuple[str, str | None], ...] = (
    ("participants", "osallistujat_lkm"),
    ("volunteers", "vapaaehtoiset_lkm"),
    ("sessions", None),  # derived: each session row counts once
)

MAPPINGS = {"activity_type": Mapping("ngo_activity_types", "source_value", "activity_type")}


def harmonise(
    table: pa.Table, maps: dict[str, CodeMap], context: Context
) -> tuple[dict[str, pa.Table], HarmoniseReport]:
    """Sessions → activity_count rows, session by session in measure order. Pure."""
    report = HarmoniseReport()
    n = table.num_rows
    activity_type = maps["activity_type"].apply(pc.utf8_lower(table["toimintamuoto"].combine_chunks()), report)

    def const(value: object, type_: pa.DataType | None = None) -> pa.Array:
        return pa.array([value] * n, type_ or pa.string())

    parts = []
    for order, (measure, source) in enumerate(MEASURES):
        value = table[source].combine_chunks().cast(pa.float64()) if source else const(1.0, pa.float64())
        part = pa.table({
            "_session": pa.array(range(n), pa.int64()), "_measure": const(order, pa.int8()),
            "partner": const(context.partner), "feed": const(context.feed),
            "activity_date": table["pvm"].combine_chunks(), "service_area": const(SERVICE_AREA),
            "unit_code": table["ryhma"].combine_chunks(), "activity_type": activity_type,
            "measure": const(measure), "measure_source": const(source),
            "value": value, "delivery_id": const(context.delivery_id),
        })
        parts.append(part.filter(pc.is_valid(part["value"])))
    rows = pa.concat_tables(parts).sort_by([("_session", "ascending"), ("_measure", "ascending")])
    return {"activity_count": conform(rows, ACTIVITY_COUNT)}, report
