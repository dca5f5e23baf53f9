"""city_activity → activity_count. One source row (day, unit, service, measure, value) is one row.

=============  =================  ==============================================================
source         activity_count     how
=============  =================  ==============================================================
pvm            activity_date      as delivered (a local date)
palvelu        service_area       ``config/mappings/activity_services.csv`` (NUORISO → youth_services)
toimipiste     unit_code          as delivered
–              activity_type      null: the city counts per unit, not per activity
mittari        measure            ``config/mappings/activity_measures.csv`` (kaynnit → visits, …)
mittari        measure_source     as delivered
arvo           value              as delivered (a count, or hours for opening_hours)
=============  =================  ==============================================================
"""

from __future__ import annotations

import pyarrow as pa

from transforms.harmonise import CodeMap, Context, HarmoniseReport, Mapping, columns_of, conform, constant
from warehouse.schemas import ACTIVITY_COUNT

MAPPINGS = {
    "service_area": Mapping("activity_services", "source_value", "service_area", by_partner=True),
    "measure": Mapping("activity_measures", "source_value", "measure", by_partner=True),
}


def harmonise(
    table: pa.Table, maps: dict[str, CodeMap], context: Context
) -> tuple[dict[str, pa.Table], HarmoniseReport]:
    """Map the city's daily counts onto ``activity_count``. Pure: returns a new table and a report."""
    report = HarmoniseReport()
    n = table.num_rows

    col = columns_of(table)

    columns = {
        "partner": constant(context.partner, n),
        "feed": constant(context.feed, n),
        "activity_date": col("pvm"),
        "service_area": maps["service_area"].apply(col("palvelu"), report),
        "unit_code": col("toimipiste"),
        "activity_type": pa.nulls(n, pa.string()),
        # The contract allows only mapped measures, so measure (not nullable) is null only if the contract
        # and activity_measures.csv drift apart; tests/unit/test_city_aggregates.py guards against that.
        "measure": maps["measure"].apply(col("mittari"), report),
        "measure_source": col("mittari"),
        "value": col("arvo"),
        "delivery_id": constant(context.delivery_id, n),
    }
    return {"activity_count": conform(pa.table(columns), ACTIVITY_COUNT)}, report
