"""population → population. One source row (year, postal code, age band, sex, residents) is one row.

=================  ===========  ================================================================
source             population   how
=================  ===========  ================================================================
vuosi              year         as delivered
postinumero        postal_code  as delivered
postinumeroalue    –            not carried: the name follows from the code
ikaryhma           age_band     normalised by :func:`normalise_age_band`: ``0-4``, ``95-99``, ``100+``
sukupuoli          sex          ``mies`` → male, ``nainen`` → female (:data:`SEX`)
asukkaat           residents    as delivered
=================  ===========  ================================================================
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from transforms.harmonise import CodeMap, Context, HarmoniseReport, Mapping, columns_of, conform, constant
from warehouse.schemas import POPULATION

MAPPINGS: dict[str, Mapping] = {}

SEX = CodeMap("population_sex", {"mies": "male", "nainen": "female"})
"""Sex as the file writes it. The contract allows exactly these two values, so this is part of the
feed's format (like its decimal comma), not a code list that grows: it lives here, not in config/."""


def normalise_age_band(bands: pa.Array) -> pa.Array:
    """Age bands in one spelling: ``0-4``, ``95-99`` and an open top band as ``100+``.

    Accepts what the contract's pattern lets through: spaces around the dash, an en dash (``0–4``),
    leading zeros (``05-09``) and an open band written ``100-``, ``100 -`` or ``100+``.
    """
    out = pc.replace_substring(bands, " ", "")
    out = pc.replace_substring(out, "–", "-")
    out = pc.replace_substring_regex(out, r"(^|-)0+(\d)", r"\1\2")
    return pc.replace_substring_regex(out, r"^(\d+)-$", r"\1+")


def harmonise(
    table: pa.Table, maps: dict[str, CodeMap], context: Context
) -> tuple[dict[str, pa.Table], HarmoniseReport]:
    """Map the yearly population file onto ``population``. Pure: returns a new table and a report."""
    report = HarmoniseReport()
    n = table.num_rows

    col = columns_of(table)

    columns = {
        "year": col("vuosi"),
        "postal_code": col("postinumero"),
        "age_band": normalise_age_band(col("ikaryhma")),
        "sex": SEX.apply(col("sukupuoli"), report),
        "residents": col("asukkaat"),
        "delivery_id": constant(context.delivery_id, n),
    }
    return {"population": conform(pa.table(columns), POPULATION)}, report
