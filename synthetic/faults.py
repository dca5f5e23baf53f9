"""Things that go wrong with real partner deliveries, injected on purpose and written down.

The pipeline must notice each of these, quarantine or repair what it should, and account for every row.
The generator decides per delivery, independently for each fault kind, whether the fault happens (with
probability ``fault_rate``), from its own random stream: the clean data are the same whatever the rate.

=================  ===============================================  ==================================
kind               what happens                                     feeds it can hit
=================  ===============================================  ==================================
wrong_encoding     the file is UTF-16, or some records are in       city_visits, city_activity,
                   Windows-1252 inside a UTF-8 file, or it holds    city_access
                   bytes no agreed encoding allows
duplicate_rows     some records repeated exactly, right after the   city_visits, mehilainen_fhir
                   original                                         (Encounter lines)
invalid_codes      a HETU with a wrong check character, an unknown  city_visits, mehilainen_fhir
                   service or contact-mode code, an impossible date
late_file          the delivery arrives two days after it was due   city_visits, mehilainen_fhir
redelivery         a second file ``…_2.csv`` for the same day        city_visits
                   replaces the first, which missed or garbled rows
=================  ===============================================  ==================================

With ``fault_rate > 0`` every kind happens at least once: a kind that chance did not give is forced on
one eligible delivery on a working day (``"forced": true`` in the answer key), unless that delivery has
no records to break (tiny populations). ``fault_rate = 0`` gives a clean dataset.

Row numbers in the answer key are 1-based record numbers after the header (what :mod:`csv` yields,
not physical lines, since notes may contain line breaks); for NDJSON they are line numbers.
"""

from __future__ import annotations

import codecs
import copy
import datetime as dt
import random
from dataclasses import dataclass, field

from synthetic.fileformats import CRLF, Table, delimited_lines
from synthetic.identity_codes import wrong_check_character
from synthetic.schedule import is_working_day
from synthetic.seeding import stream

WRONG_ENCODING = "wrong_encoding"
DUPLICATE_ROWS = "duplicate_rows"
INVALID_CODES = "invalid_codes"
LATE_FILE = "late_file"
REDELIVERY = "redelivery"
KINDS = (WRONG_ENCODING, DUPLICATE_ROWS, INVALID_CODES, LATE_FILE, REDELIVERY)

ELIGIBLE_FEEDS: dict[str, tuple[str, ...]] = {
    WRONG_ENCODING: ("city_visits", "city_activity", "city_access"),
    DUPLICATE_ROWS: ("city_visits", "mehilainen_fhir"),
    INVALID_CODES: ("city_visits", "mehilainen_fhir"),
    LATE_FILE: ("city_visits", "mehilainen_fhir"),
    REDELIVERY: ("city_visits",),
}
LATENESS = dt.timedelta(days=2)
UNDEFINED_IN_CP1252 = b"\x81\x8d"
"""Bytes that are neither valid UTF-8 nor defined in Windows-1252."""


@dataclass
class FaultPlan:
    """Which fault kinds hit which delivery (feed, day)."""

    planned: dict[tuple[str, dt.date], list[tuple[str, bool]]] = field(default_factory=dict)

    @classmethod
    def draw(cls, seed: int, fault_rate: float, days: list[dt.date]) -> FaultPlan:
        plan = cls()
        if fault_rate <= 0 or not days:
            return plan
        rng = stream(seed, "faults", "plan")
        happened: set[str] = set()
        for day in days:
            for kind in KINDS:
                for feed in ELIGIBLE_FEEDS[kind]:
                    if rng.random() < fault_rate:
                        plan.planned.setdefault((feed, day), []).append((kind, False))
                        happened.add(kind)
        working = [d for d in days if is_working_day(d)] or days
        for kind in KINDS:
            if kind not in happened:
                target = (rng.choice(ELIGIBLE_FEEDS[kind]), rng.choice(working))
                plan.planned.setdefault(target, []).append((kind, True))
        return plan

    def kinds(self, feed: str, day: dt.date) -> dict[str, bool]:
        """The fault kinds planned for a delivery, each with whether it was forced."""
        return dict(self.planned.get((feed, day), []))


def fault_rng(seed: int, feed: str, day: dt.date, kind: str) -> random.Random:
    return stream(seed, "faults", feed, day.isoformat(), kind)


# --- rows of delimited files ---------------------------------------------------------------------------


def duplicate_records(table: Table, rng: random.Random, key_column: int = 0) -> dict | None:
    """Repeat 1–5 records exactly, each right after its original. Returns the answer-key detail."""
    if not table.rows:
        return None
    chosen = sorted(rng.sample(range(len(table.rows)), min(len(table.rows), rng.randint(1, 5))))
    for offset, index in enumerate(chosen):
        position = index + offset
        table.rows.insert(position + 1, list(table.rows[position]))
    originals = [index + offset + 1 for offset, index in enumerate(chosen)]
    return {
        "rows": [n + 1 for n in originals],
        "duplicate_of": originals,
        "keys": [table.rows[n - 1][key_column] for n in originals],
    }


def _untouched_rows(table: Table, detail: dict | None) -> list[int]:
    """0-based indexes of rows not involved in a duplicate pair."""
    involved = set()
    if detail:
        involved = {n - 1 for n in detail["rows"]} | {n - 1 for n in detail["duplicate_of"]}
    return [i for i in range(len(table.rows)) if i not in involved]


def invalid_city_visit_codes(table: Table, rng: random.Random, avoid: dict | None) -> dict | None:
    """Break 1–4 records: a wrong HETU check character, an unknown ``palvelu``, an invalid ``yhteystapa``
    or an impossible ``alkuaika`` date such as ``31.02.2026 10:00``."""
    candidates = _untouched_rows(table, avoid)
    if not candidates:
        return None
    column = {name: i for i, name in enumerate(table.header)}
    problems = []
    for index in sorted(rng.sample(candidates, min(len(candidates), rng.randint(1, 4)))):
        row = table.rows[index]
        problem = rng.choice(("henkilotunnus", "palvelu", "yhteystapa", "alkuaika"))
        if problem == "henkilotunnus":
            row[column["henkilotunnus"]] = wrong_check_character(row[column["henkilotunnus"]], rng)
            problems.append({"row": index + 1, "column": problem, "problem": "wrong_check_character"})
            continue
        if problem == "palvelu":
            value = rng.choice(("TK_XX", "NEUVOLA", "tk_vo", "HAMMAS"))
        elif problem == "yhteystapa":
            value = rng.choice(("R99", "R1", "K10", "vastaanotto"))
        else:
            _date, time = row[column["alkuaika"]].split(" ")
            year = _date[-4:]
            value = f"{rng.choice(('31.02', '30.02', '31.04', '31.06', '31.09', '31.11'))}.{year} {time}"
        row[column[problem]] = value
        problems.append({"row": index + 1, "column": problem, "problem": "invalid_value", "value": value})
    return {
        "rows": [p["row"] for p in problems],
        "columns": sorted({p["column"] for p in problems}),
        "keys": [table.rows[p["row"] - 1][0] for p in problems],
        "details": problems,
    }


def degrade_for_redelivery(table: Table, rng: random.Random) -> dict | None:
    """Make the first file of a day that will be re-delivered: it misses some records, or some records
    carry wrong values (a wrong status or duration) that the second, complete file corrects."""
    if not table.rows:
        return None
    column = {name: i for i, name in enumerate(table.header)}
    if rng.random() < 0.5 or len(table.rows) < 2:
        count = min(len(table.rows) - 1, max(1, round(len(table.rows) * rng.uniform(0.03, 0.10)))) or 1
        dropped = sorted(rng.sample(range(len(table.rows)), count))
        keys = [table.rows[i][0] for i in dropped]
        dropped_set = set(dropped)
        table.rows[:] = [row for i, row in enumerate(table.rows) if i not in dropped_set]
        return {"variant": "missing_rows", "keys": keys}
    changed = sorted(rng.sample(range(len(table.rows)), min(len(table.rows), rng.randint(1, 3))))
    for index in changed:
        row = table.rows[index]
        row[column["kesto_min"]] = str(int(row[column["kesto_min"]]) * 10)
        row[column["tila"]] = "toteutunut" if row[column["tila"]] != "toteutunut" else "ei saapunut"
    return {
        "variant": "corrected_rows",
        "rows": [i + 1 for i in changed],
        "keys": [table.rows[i][0] for i in changed],
        "columns": ["kesto_min", "tila"],
    }


def encode_wrongly(table: Table, encoding: str, rng: random.Random) -> tuple[bytes, dict]:
    """Render a city CSV in a way the contract does not allow.

    Variants: ``utf16`` (the whole file saved as UTF-16, with its byte-order mark), ``mixed_encoding``
    (a UTF-8 file with a few records saved as Windows-1252: typical of files pasted together) and
    ``broken_bytes`` (a few records carry bytes that are valid in no agreed encoding).
    """
    lines = delimited_lines(table)
    non_ascii = [i for i, line in enumerate(lines[1:], start=1) if not line.isascii()]
    variants = ["utf16", "broken_bytes"] + (["mixed_encoding"] if non_ascii else [])
    variant = rng.choice(variants) if table.rows else "utf16"
    if variant == "utf16":
        data = codecs.BOM_UTF16_LE + "".join(lines).encode("utf-16-le")
        return data, {"variant": variant, "scope": "file", "rows": []}
    if variant == "mixed_encoding":
        chosen = sorted(rng.sample(non_ascii, min(len(non_ascii), rng.randint(1, 3))))
        parts = [line.encode("cp1252" if i in chosen else "utf-8") for i, line in enumerate(lines)]
        return codecs.BOM_UTF8 + b"".join(parts), {
            "variant": variant,
            "scope": "rows",
            "rows": chosen,
            "declared_encoding": "utf-8-sig",
        }
    chosen = sorted(rng.sample(range(1, len(lines)), min(len(lines) - 1, rng.randint(1, 3))))
    parts = [codecs.BOM_UTF8] if encoding == "utf-8-sig" else []
    for i, line in enumerate(lines):
        data = line.encode("utf-8" if encoding == "utf-8-sig" else encoding)
        if i in chosen:
            data = data[: -len(CRLF)] + UNDEFINED_IN_CP1252 + CRLF.encode()
        parts.append(data)
    return b"".join(parts), {
        "variant": variant,
        "scope": "rows",
        "rows": chosen,
        "declared_encoding": encoding,
    }


# --- FHIR resources ------------------------------------------------------------------------------------


def duplicate_resources(resources: list[dict], rng: random.Random) -> dict | None:
    """Repeat 1–3 resources (lines) exactly, each right after its original."""
    if not resources:
        return None
    chosen = sorted(rng.sample(range(len(resources)), min(len(resources), rng.randint(1, 3))))
    for offset, index in enumerate(chosen):
        position = index + offset
        resources.insert(position + 1, copy.deepcopy(resources[position]))
    originals = [index + offset + 1 for offset, index in enumerate(chosen)]
    return {
        "rows": [n + 1 for n in originals],
        "duplicate_of": originals,
        "keys": [resources[n - 1]["id"] for n in originals],
    }


def invalid_fhir_codes(
    patients: list[dict], encounters: list[dict], rng: random.Random, avoid: dict | None
) -> list[dict]:
    """Break 1–3 resources: a Patient HETU with a wrong check character, an Encounter ``class`` code
    outside v3-ActCode, or an Encounter ``period.start`` on an impossible date."""
    avoided = set()
    if avoid:
        avoided = {n - 1 for n in avoid["rows"]} | {n - 1 for n in avoid["duplicate_of"]}
    with_hetu = [
        i
        for i, p in enumerate(patients)
        if any(ident.get("system") == "urn:oid:1.2.246.21" for ident in p.get("identifier", []))
    ]
    free_encounters = [i for i in range(len(encounters)) if i not in avoided]
    problems = []
    for _ in range(rng.randint(1, 3)):
        options = (["hetu"] if with_hetu else []) + (["class", "period"] if free_encounters else [])
        if not options:
            break
        problem = rng.choice(options)
        if problem == "hetu":
            index = with_hetu.pop(rng.randrange(len(with_hetu)))
            identifier = next(i for i in patients[index]["identifier"] if i["system"] == "urn:oid:1.2.246.21")
            identifier["value"] = wrong_check_character(identifier["value"], rng)
            problems.append(
                {
                    "resourceType": "Patient",
                    "file": "Patient.000.ndjson",
                    "row": index + 1,
                    "id": patients[index]["id"],
                    "field": "identifier.value",
                    "problem": "wrong_check_character",
                }
            )
            continue
        index = free_encounters.pop(rng.randrange(len(free_encounters)))
        encounter = encounters[index]
        if problem == "class":
            value = rng.choice(("OUTPATIENT", "AMBULATORY", "amb"))
            encounter["class"]["code"] = value
            field_name = "class.code"
        else:
            start = encounter["period"]["start"]
            value = f"{start[:4]}-{rng.choice(('02-30', '02-31', '04-31', '11-31'))}{start[10:]}"
            encounter["period"]["start"] = value
            field_name = "period.start"
        problems.append(
            {
                "resourceType": "Encounter",
                "file": "Encounter.000.ndjson",
                "row": index + 1,
                "id": encounter["id"],
                "field": field_name,
                "problem": "invalid_value",
                "value": value,
            }
        )
    return problems
