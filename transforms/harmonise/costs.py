"""costs → cost_month. One row per partner, month and service area.

=============  ===================  ===========================================================
source         cost_month           how
=============  ===================  ===========================================================
kuukausi       month                as delivered (the month's first day)
palvelualue    service_area         ``config/mappings/cost_service_areas.csv`` (one table for all
                                    partners: they share the Finnish names)
palvelualue    service_area_source  as delivered
kustannus_eur  cost_eur             as delivered: an exact decimal, never a float
=============  ===================  ===========================================================
"""

from __future__ import annotations

import pyarrow as pa

from transforms.harmonise import CodeMap, Context, HarmoniseReport, Mapping, conform, constant
from warehouse.schemas import COST_MONTH

MAPPINGS = {"service_area": Mapping("cost_service_areas", "source_value", "service_area")}


def harmonise(
    table: pa.Table, maps: dict[str, CodeMap], context: Context
) -> tuple[dict[str, pa.Table], HarmoniseReport]:
    """Cost rows → cost_month. Pure: returns a new table and the unmapped counts."""
    report = HarmoniseReport()
    n = table.num_rows
    area = table["palvelualue"].combine_chunks()
    columns = {
        "partner": constant(context.partner, n),
        "month": table["kuukausi"],
        "service_area": maps["service_area"].apply(area, report),
        "service_area_source": area,
        "cost_eur": table["kustannus_eur"],
        "delivery_id": constant(context.delivery_id, n),
    }
    return {"cost_month": conform(pa.table(columns), COST_MONTH)}, report
