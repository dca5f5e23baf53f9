"""Hand-written suites for the canonical tables, and checks across tables, run on every delivery's
harmonised output before it is staged.

Two kinds of rule, by ``meta["severity"]``:

- ``error`` — an invariant of our own output (ids present and unique, values from the canonical sets).
  A failure is a pipeline defect: the delivery is not staged, the task fails loudly.
- ``warning`` — a plausibility check on the partner's data (no contact before the person's birth year;
  every diagnosis belongs to a contact of the same delivery). Counted in the ledger, not blocking.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from warehouse.schemas import TABLES

SERVICE_AREAS = ["primary_care", "dental_care", "maternity_clinic", "child_clinic", "social_counselling",
                 "wellbeing_counselling", "youth_services", "library", "ngo_activity", "digital_service"]
ENUMS = {
    "service_area": SERVICE_AREAS,
    "status": ["completed", "cancelled", "no_show"],
    "sex": ["male", "female"],
    "person_id_kind": ["hetu", "temporary", "partner_local"],
    "urgency": ["urgent", "non_urgent"],
}
UNIQUE = {"service_event": ["event_id"]}


def rules(table: str) -> list[tuple[str, dict, dict]]:
    """(expectation class, kwargs, meta) for one canonical table."""
    schema = TABLES[table]
    out: list[tuple[str, dict, dict]] = []
    for field in schema:
        if not field.nullable:
            out.append(("ExpectColumnValuesToNotBeNull", {"column": field.name},
                        {"rule": "required", "column": field.name, "severity": "error"}))
        if field.name in ENUMS:
            out.append(("ExpectColumnValuesToBeInSet", {"column": field.name, "value_set": ENUMS[field.name]},
                        {"rule": "canonical_values", "column": field.name, "severity": "error"}))
    for column in UNIQUE.get(table, []):
        out.append(("ExpectColumnValuesToBeUnique", {"column": column},
                    {"rule": "unique", "column": column, "severity": "error"}))
    if table == "service_event":
        out.append(("ExpectColumnPairValuesAToBeGreaterThanB",
                    {"column_A": "event_year", "column_B": "birth_year", "or_equal": True,
                     "ignore_row_if": "either_value_is_missing"},
                    {"rule": "event_before_birth_year", "column": "event_date", "severity": "warning"}))
        # The contracts quarantine an assessment after the visit; this watches the UTC conversion (a local
        # time in a clock change) and any feed whose contract lacks the rule.
        out.append(("ExpectColumnPairValuesAToBeGreaterThanB",
                    {"column_A": "event_start", "column_B": "assessment_time", "or_equal": True,
                     "ignore_row_if": "either_value_is_missing"},
                    {"rule": "assessment_after_event", "column": "assessment_time", "severity": "warning"}))
    return out


def frame_for(table: str, data: pa.Table) -> pa.Table:
    """The columns the rules look at (plus derived ones, e.g. the event's year)."""
    if table == "service_event":
        return data.append_column("event_year", pc.cast(pc.year(data["event_date"]), pa.int64()))
    return data


def suite_for(table: str):
    from expectations.gx_runtime import context, gx, gxe

    context()
    return gx.ExpectationSuite(
        name=f"{table}.canonical",
        expectations=[getattr(gxe, name)(**kwargs, meta=meta) for name, kwargs, meta in rules(table)],
    )


def cross_table(harmonised: dict[str, pa.Table]) -> list[dict]:
    """Checks between the tables of one delivery: every diagnosis belongs to one of its contacts."""
    results = []
    if "event_diagnosis" in harmonised and "service_event" in harmonised:
        diagnoses, events = harmonised["event_diagnosis"], harmonised["service_event"]
        results.append({"stage": "canonical", "rule": "diagnosis_without_event", "column_name": "event_id",
                        "failed_rows": _orphans(diagnoses.select(["event_id"]), events.select(["event_id"])),
                        "severity": "warning"})
    return results


def _orphans(children: pa.Table, parents: pa.Table) -> int:
    """Rows of ``children`` whose ``event_id`` is not among ``parents``' (a null never matches). DuckDB's
    parallel anti-join: 0.1 s for 2,000,000 events, against 0.6 s for Arrow's ``is_in``."""
    from transforms.arrow_sql import query

    counted = query("select count(*) as n from children anti join parents using (event_id)",
                    children=children, parents=parents)
    return counted["n"][0].as_py()
