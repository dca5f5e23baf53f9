"""ngo_attendance → service_event. One consenting member's attendance of a session is one event.

============  ================  ==============================================================
source        service_event     how
============  ================  ==============================================================
record_id     event_id          keyed hash, made by the pseudonymise step (date, group, member)
jasennumero   person_id         keyed hash in the NGO's own domain (pseudonymise step);
                                ``person_id_kind`` partner_local
–             service_area      ``ngo_activity``
ryhma         unit_code         as delivered: an NGO's unit of activity is the group
pvm           event_date        as delivered; ``event_start`` is null (the source has no time)
–             status            ``completed``: a member is listed because they took part
syntymavuosi  birth_year        as delivered, top-coded at 90 with ``age_at_event``, the age in the
                                calendar year of ``pvm`` (:func:`~transforms.harmonise.age_in_event_year`)
postinumero   home_postal_code  as delivered
============  ================  ==============================================================

Everything else (contact mode, professional group, diagnoses, sex, home municipality, fee, update
time) is not in the source and is null. ``suostumus`` is not carried: every row that gets here has
consent, the contract's rule quarantines the others.
"""

from __future__ import annotations

import pyarrow as pa

from transforms.harmonise import CodeMap, Context, HarmoniseReport, age_in_event_year, conform
from warehouse.schemas import SERVICE_EVENT

SERVICE_AREA = "ngo_activity"
STATUS = "completed"

MAPPINGS: dict = {}


def harmonise(
    table: pa.Table, maps: dict[str, CodeMap], context: Context
) -> tuple[dict[str, pa.Table], HarmoniseReport]:
    """Pseudonymised attendance rows → service_event. Pure: returns new tables."""
    n = table.num_rows

    def const(value: str) -> pa.Array:
        return pa.array([value] * n, pa.string())

    age = age_in_event_year(table["syntymavuosi"], table["pvm"])
    known = {
        "event_id": table["event_id"], "person_id": table["person_id"], "person_id_kind": table["person_id_kind"],
        "partner": const(context.partner), "feed": const(context.feed), "service_area": const(SERVICE_AREA),
        "unit_code": table["ryhma"], "event_date": table["pvm"], "status": const(STATUS),
        "birth_year": age.birth_year, "age_at_event": age.age_at_event, "home_postal_code": table["postinumero"],
        "delivery_id": const(context.delivery_id),
    }
    columns = {f.name: known.get(f.name, pa.nulls(n, f.type)) for f in SERVICE_EVENT}
    return {"service_event": conform(pa.table(columns), SERVICE_EVENT)}, HarmoniseReport()
