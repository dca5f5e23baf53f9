"""city_access → access_t3. One source row (day, unit, professional group, T3) is one row.

=============  ==========================  ======================================================
source         access_t3                   how
=============  ==========================  ======================================================
pvm            measure_date                as delivered (a local date)
toimipiste     unit_code                   as delivered
ammattiryhma   professional_group          ``config/mappings/professional_groups.csv`` (partner
                                           city, the same codes as city_visits: LAAK → physician)
ammattiryhma   professional_group_source   as delivered
t3_vrk         t3_days                     as delivered (days, half-day precision)
=============  ==========================  ======================================================
"""

from __future__ import annotations

import pyarrow as pa

from transforms.harmonise import CodeMap, Context, HarmoniseReport, Mapping, columns_of, conform, constant
from warehouse.schemas import ACCESS_T3

MAPPINGS = {
    "professional_group": Mapping("professional_groups", "source_value", "professional_group", by_partner=True),
}


def harmonise(
    table: pa.Table, maps: dict[str, CodeMap], context: Context
) -> tuple[dict[str, pa.Table], HarmoniseReport]:
    """Map the city's T3 figures onto ``access_t3``. Pure: returns a new table and a report."""
    report = HarmoniseReport()
    n = table.num_rows

    col = columns_of(table)

    columns = {
        "partner": constant(context.partner, n),
        "measure_date": col("pvm"),
        "unit_code": col("toimipiste"),
        "professional_group": maps["professional_group"].apply(col("ammattiryhma"), report),
        "professional_group_source": col("ammattiryhma"),
        "t3_days": col("t3_vrk"),
        "delivery_id": constant(context.delivery_id, n),
    }
    return {"access_t3": conform(pa.table(columns), ACCESS_T3)}, report
