"""Mehiläinen's FHIR R4 Bulk Data export (contract: ``mehilainen_fhir``).

The delivery format
-------------------

One folder per day, ``YYYYMMDD`` (a corrected re-delivery: ``YYYYMMDD_2``, …), as a Bulk Data
``$export`` writes it:

- ``<Type>.<nnn>.ndjson``: one FHIR resource (a JSON object) per line, UTF-8, for the types Patient,
  Encounter and Condition; a type may come in several numbered files.
- ``manifest.json``: the Bulk Data completion manifest, written last. Its ``output`` lists each file
  (``type``, ``url`` — only the file name, its last path segment, is used — and ``count``, the number
  of resources in it). A folder without it is still being written and is not picked up.

What the connector makes of it: one row per Encounter line, flattened with its subject Patient and the
codes of the Conditions whose ``encounter`` references it (see the contract for each column's source).
References may be relative (``Patient/<id>``, also as an absolute URL or with ``/_history/<v>``) or
``urn:uuid:<id>`` (as in transaction-bundle style exports); both resolve to the resource's ``id``.

Memory stays bounded by the export's *people and diagnoses*, not its encounters: the Patient files are
read into a dict of the few fields needed, the Condition files into a dict ``encounter id → codes``, and
then the Encounter files are streamed into batches of ``batch_rows`` rows.

What is reported, never with values (only counts, file names and line numbers):

- the whole delivery is rejected (:class:`DeliveryRejected`) when ``manifest.json`` is missing or
  unreadable, lists a file that is not there, gives a ``count`` that differs from the file's lines, when
  the folder holds an NDJSON file the manifest does not list, a link (rule ``link_in_folder``) or a file
  whose name is not printable UTF-8 (``bad_name_in_folder``; the same rules as landing's);
- an Encounter line that is not JSON, is nested deeper than :data:`MAX_JSON_DEPTH`, is longer than
  :data:`MAX_LINE_BYTES`, holds text that is not Unicode, or is not an Encounter, is an unreadable row
  (``report.unreadable_rows``);
- an Encounter whose values cannot be typed (including instants outside
  :data:`connectors.base.EARLIEST_TIME` … ``LATEST_TIME`` or with an offset beyond ±14:00), or whose subject
  Patient is not in the export, is a row with reasons in ``_errors`` (``period_start: not_a_date_time``,
  ``subject: dangling_reference``…);
- Patient or Condition lines that cannot be used, and Conditions whose Encounter is not in the export,
  are counted in ``report.warnings``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import operator
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import numpy as np
import pyarrow as pa

from connectors.base import (
    EARLIEST_TIME,
    LATEST_TIME,
    ROW_ERRORS,
    ROW_NUMBER,
    DeliveryRejected,
    FileConnector,
    ReadReport,
    shown_name,
)

MANIFEST = "manifest.json"
RESOURCE_TYPES = ("Patient", "Encounter", "Condition")
HETU_SYSTEM = "urn:oid:1.2.246.21"
MRN_SYSTEM = "https://mehilainen.fi/fhir/sid/mrn"
VISIT_NUMBER_SYSTEM = "https://mehilainen.fi/fhir/sid/kaynti"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CARE_NEED_ASSESSED = "https://tesoma.example/fhir/StructureDefinition/care-need-assessed"
"""The Encounter extension (valueDateTime) that carries when the care need was assessed (see the contract)."""

_NDJSON = re.compile(r"^(?P<type>[A-Za-z]+)(?:\.\d+)?\.ndjson$")
# FHIR instant / dateTime with a time: the offset is mandatory (R4 2.24.0.1), so a naive time is invalid.
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# A reference that urlsplit returns unchanged as its path: no scheme, host, query or fragment, and none of
# the spaces and control characters it strips or removes.
_RELATIVE_PATH = re.compile(r"(?!//)[^:?#\x00-\x20]*\Z")
_SHOWN_LINES = 10
_MAX_OFFSET = dt.timedelta(hours=14)  # FHIR (ISO 8601 in practice): offsets run from -12:00 to +14:00
_EARLIEST_DAY, _LATEST_DAY = EARLIEST_TIME.date(), LATEST_TIME.date()

MAX_JSON_DEPTH = 64
"""The deepest nesting of objects and arrays a line (or the manifest) may have. FHIR resources nest a
dozen levels at most; a deeper line is refused before ``json.loads``, whose recursion it would exhaust."""
MAX_LINE_BYTES = 64 << 20
"""The longest NDJSON line (one resource) read; a longer one is skipped without being held in memory."""
_OPENING = (ord("{"), ord("["))
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"{}[]")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# A surrogate written out as UTF-8 bytes (CESU-8 style): json.loads decodes bytes with "surrogatepass".
_RAW_SURROGATE = re.compile(rb"\xed[\xa0-\xbf]")
_JSON = json.JSONDecoder()


class PatientFields(NamedTuple):
    """What an Encounter row needs of its Patient (strings as delivered; typed when a row is built)."""

    hetu: str | None
    local_id: str | None
    name_family: str | None
    name_given: str | None
    address_line: str | None
    telecom: str | None
    postal_code: str | None
    birth_date: str | None
    gender: str | None


@dataclass
class Export:
    """The files of one export, per resource type in reading order, and its manifest's facts."""

    files: dict[str, list[Path]] = field(default_factory=dict)
    transaction_time: dt.datetime | None = None


class FhirBulkExport(FileConnector):
    """A folder per day holding a FHIR Bulk Data export; complete when its manifest is there."""

    feed = "mehilainen_fhir"

    completion_marker = MANIFEST

    def is_complete(self, path: Path) -> bool:
        return path.is_dir() and (path / MANIFEST).is_file()

    def read(self, path: Path, report: ReadReport, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        yield from read_export(path, report, batch_rows, self.contract.arrow_schema())


def read_export(folder: Path, report: ReadReport, batch_rows: int, schema: pa.Schema, *,
                require_manifest: bool = True) -> Iterator[pa.RecordBatch]:
    """Read an export folder as batches in ``schema`` plus ``_row`` and ``_errors``.

    ``require_manifest=False`` reads a folder without ``manifest.json`` (e.g. a third-party sample),
    taking every ``<Type>[.nnn].ndjson`` file in name order; nothing is then checked for completeness.
    """
    export = open_export(folder, report, require_manifest=require_manifest)
    patients = _read_patients(export.files.get("Patient", []), report)
    conditions = _read_conditions(export.files.get("Condition", []), report)
    yield from _encounter_batches(export, patients, conditions, report, batch_rows, schema)


# --- the manifest ---------------------------------------------------------------------------------------


def open_export(folder: Path, report: ReadReport, *, require_manifest: bool = True) -> Export:
    """The export's files, checked against its manifest (raises :class:`DeliveryRejected`)."""
    if not folder.is_dir():
        raise DeliveryRejected(
            "not_a_folder",
            "The delivery must be a folder named YYYYMMDD holding the NDJSON files of the export and its "
            "manifest.json, not a single file.",
        )
    entries = sorted(folder.iterdir())
    _refuse_links_and_bad_names(entries)
    ndjson = [p for p in entries if p.is_file() and p.name.endswith(".ndjson")]
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        if require_manifest:
            raise DeliveryRejected(
                "missing_manifest",
                "manifest.json is missing from the export folder. Write it last, when every NDJSON file is "
                "complete, as the FHIR Bulk Data specification describes; a folder without it is not processed.",
            )
        export = Export()
        for path in ndjson:
            m = _NDJSON.match(path.name)
            if m:
                export.files.setdefault(m["type"], []).append(path)
        _warn_other_types(export, report)
        return export
    manifest = _load_manifest(manifest_path)
    export = Export(transaction_time=_manifest_time(manifest, report))
    listed: set[str] = set()
    for entry in manifest["output"]:
        name = _file_name(entry)
        if name in listed:  # read twice, every resource in it would arrive twice
            raise DeliveryRejected("manifest_invalid",
                                   f"manifest.json lists {name} more than once; list each file once.")
        listed.add(name)
        path = folder / name
        if not path.is_file():
            raise DeliveryRejected(
                "manifest_mismatch",
                f"manifest.json lists {name}, which is not in the export folder. Send the complete export "
                "again (the same date, named YYYYMMDD_2).",
            )
        count = entry.get("count")
        if count is not None:
            lines = _count_lines(path)
            if lines != count:
                raise DeliveryRejected(
                    "manifest_count_mismatch",
                    f"{name} holds {lines} resource(s) (non-empty lines) but manifest.json says {count}. The "
                    "file may be incomplete or from another export; send the complete export again (the same "
                    "date, named YYYYMMDD_2).",
                )
        else:
            report.warnings.append(f"manifest.json gives no count for {name}; its completeness was not checked")
        export.files.setdefault(str(entry["type"]), []).append(path)
    for key in ("error", "deleted"):
        entries = _list(manifest.get(key))
        listed |= {_file_name(e) for e in entries if isinstance(e, dict) and e.get("url")}
        if entries:
            what = ("error file(s) (OperationOutcome): some resources may be missing from the export"
                    if key == "error" else "file(s) of deleted resources: deletions are not carried")
            report.warnings.append(f"manifest.json lists {len(entries)} {what}")
    unlisted = [p.name for p in ndjson if p.name not in listed]
    if unlisted:
        raise DeliveryRejected(
            "manifest_mismatch",
            f"The folder holds {', '.join(unlisted)}, which manifest.json does not list. Remove it or list it "
            "with its count, and send the export again (the same date, named YYYYMMDD_2).",
        )
    _warn_other_types(export, report)
    return export


def _refuse_links_and_bad_names(entries: list[Path]) -> None:
    """A link could point out of the folder (or at itself); a name that is not UTF-8 cannot be reported."""
    links = [shown_name(p.name) for p in entries if p.is_symlink()]
    if links:
        raise DeliveryRejected(
            "link_in_folder",
            f"Links are not allowed in an export folder ({', '.join(links[:_SHOWN_LINES])}). Put the files "
            "themselves in the folder and send the export again (the same date, named YYYYMMDD_2).",
        )
    badly_named = [shown_name(p.name) for p in entries if not (_is_utf8(p.name) and p.name.isprintable())]
    if badly_named:
        raise DeliveryRejected(
            "bad_name_in_folder",
            "File names in an export folder must be UTF-8, without control characters; rename "
            f"{', '.join(badly_named[:_SHOWN_LINES])} as the export writes them (<Type>.<nnn>.ndjson) and send the "
            "export again (the same date, named YYYYMMDD_2).",
        )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: a byte that was not UTF-8, or a JSON "\udXXX" escape
        return False
    return True


def _load_manifest(path: Path) -> dict:
    with path.open("rb") as f:
        data = f.read(MAX_LINE_BYTES + 1)
    if len(data) > MAX_LINE_BYTES:
        raise DeliveryRejected("manifest_invalid", f"manifest.json is larger than {MAX_LINE_BYTES >> 20} MiB; "
                                                   "a Bulk Data manifest lists files and is a few KiB.")
    manifest, reason = _parse_json(data)
    if reason is not None:
        raise DeliveryRejected(
            "manifest_invalid",
            f"manifest.json cannot be read ({reason}). It must be valid JSON (UTF-8); write it again when the export "
            "completes.",
        )
    output = manifest.get("output") if isinstance(manifest, dict) else None
    if not isinstance(output, list) or not all(isinstance(e, dict) and e.get("type") and e.get("url")
                                                for e in output):
        raise DeliveryRejected(
            "manifest_invalid",
            'manifest.json needs an "output" list whose entries each have "type" and "url" (and "count"), '
            "as the FHIR Bulk Data specification describes.",
        )
    for entry in output:
        count = entry.get("count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
            raise DeliveryRejected("manifest_invalid", 'In manifest.json, "count" must be a whole number >= 0.')
    return manifest


def _file_name(entry: dict) -> str:
    """The file an entry's ``url`` names: its last path segment (servers write absolute URLs)."""
    try:
        name = urlsplit(str(entry.get("url", ""))).path.rsplit("/", 1)[-1]
    except ValueError:  # e.g. an unclosed "[" in the host part
        name = ""
    if not name or name in (".", "..") or name == MANIFEST or not name.isprintable():
        raise DeliveryRejected("manifest_invalid", 'In manifest.json, every "url" must end with a file name.')
    return name


def _manifest_time(manifest: dict, report: ReadReport) -> dt.datetime | None:
    value = manifest.get("transactionTime")
    parsed = _instant(value) if isinstance(value, str) else None
    if parsed is None:
        report.warnings.append("manifest.json has no valid transactionTime; last_updated is empty where "
                               "Encounter.meta.lastUpdated is missing")
    return parsed


def _warn_other_types(export: Export, report: ReadReport) -> None:
    for kind in sorted(set(export.files) - set(RESOURCE_TYPES)):
        names = ", ".join(p.name for p in export.files.pop(kind))
        report.warnings.append(f"{names}: resource type {kind} is not part of this feed; ignored")


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _, line in _lines(f) if line is None or line.strip())


def _lines(f) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) of a binary file; ``None`` for a line longer than MAX_LINE_BYTES, which is read
    past in pieces rather than held whole."""
    number = 0
    while line := f.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield number, line
            continue
        while (rest := f.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield number, None


# --- reading the NDJSON files ---------------------------------------------------------------------------


def _resources(paths: list[Path], kind: str, problems: Counter, lines: dict[str, list[str]]) -> Iterator[dict]:
    """The resources of type ``kind`` in ``paths``, line by line; counts the lines that are not.

    ``problems`` counts per reason; ``lines`` keeps the first few ``file:line`` positions per reason.
    """
    for path in paths:
        with path.open("rb") as f:
            for number, line in _lines(f):
                if line is not None and not line.strip():
                    continue
                resource, reason = _parse_line(line, kind)
                if reason is not None:
                    problems[reason] += 1
                    if len(lines[reason]) < _SHOWN_LINES:
                        lines[reason].append(f"{path.name}:{number}")
                    continue
                yield resource


def _parse_line(line: bytes | None, kind: str) -> tuple[dict, str | None]:
    if line is None:
        return {}, f"longer than {MAX_LINE_BYTES:,} bytes"
    resource, reason = _parse_json(line)
    if reason is not None:
        return {}, reason
    if not isinstance(resource, dict) or resource.get("resourceType") != kind:
        return {}, f"not a resource of type {kind}"
    if not isinstance(resource.get("id"), str) or not resource["id"]:
        return {}, f"a {kind} without an id"
    return resource, None


def _parse_json(data: bytes) -> tuple[object, str | None]:
    """(value, None) for one JSON text, or (None, why not) — never raises.

    The reasons read after "line(s)": not valid JSON, nested deeper than MAX_JSON_DEPTH, or holding text
    that is not Unicode (an unpaired ``\\ud800``-style escape, which JSON allows and UTF-8 cannot hold, or
    such a surrogate written out as bytes, which ``json.loads`` lets through and Arrow would fail on).
    """
    if _nested_too_deep(data):
        return None, f"nested deeper than {MAX_JSON_DEPTH} levels"
    try:
        if data[:1] == b"{" and data[1:2] not in (b"", b"\0"):
            # What json.loads does with bytes that its encoding detection takes for UTF-8 (a resource line),
            # without that detection: it cost more than a tenth of the parse.
            value = _JSON.decode(data.decode("utf-8", "surrogatepass"))
        else:
            value = json.loads(data)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike; also integers of over 4,300 digits
        return None, "not valid JSON"
    if (_SURROGATE_ESCAPE.search(data) or _RAW_SURROGATE.search(data)) and not _is_utf8(
            json.dumps(value, ensure_ascii=False)):
        return None, "holding text that is not valid Unicode"
    return value, None


def _nested_too_deep(data: bytes) -> bool:
    """Whether objects and arrays nest deeper than MAX_JSON_DEPTH (brackets inside strings not counted).

    The depth is at most the number of opening brackets, so an ordinary line is answered by two counts;
    only a line with more brackets than the limit is scanned (in C: strings cut out, a cumulative sum).
    """
    if data.count(b"{") + data.count(b"[") <= MAX_JSON_DEPTH:
        return False
    brackets = np.frombuffer(_JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS), np.uint8)
    steps = np.where(np.isin(brackets, _OPENING), 1, -1)
    return int(np.cumsum(steps).max(initial=0)) > MAX_JSON_DEPTH


def _warn(report: ReadReport, kind: str, problems: Counter, lines: dict[str, list[str]], consequence: str) -> None:
    for reason, count in sorted(problems.items()):
        shown = ", ".join(lines[reason]) + (" …" if count > len(lines[reason]) else "")
        report.warnings.append(f"{count} {kind} line(s) {reason} ({shown}); {consequence}")


def _read_patients(paths: list[Path], report: ReadReport) -> dict[str, PatientFields]:
    problems: Counter = Counter()
    lines: dict[str, list[str]] = defaultdict(list)
    patients: dict[str, PatientFields] = {}
    repeated = 0
    for resource in _resources(paths, "Patient", problems, lines):
        if resource["id"] in patients:
            repeated += 1  # the later version wins, as in the export's own order
        patients[resource["id"]] = patient_fields(resource)
    _warn(report, "Patient", problems, lines, "their encounters are rejected as dangling references")
    if repeated:
        report.warnings.append(f"{repeated} Patient id(s) appear more than once; the last version was used")
    return patients


def patient_fields(patient: dict) -> PatientFields:
    """The contract's person columns from a Patient resource."""
    values: dict[str, str | None] = {}  # system → value of its first identifier
    for identifier in _list(patient.get("identifier")):
        system = identifier.get("system") if isinstance(identifier, dict) else None
        if isinstance(system, str) and system not in values:
            values[system] = _text(identifier.get("value"))
    hetu, mrn = values.get(HETU_SYSTEM), values.get(MRN_SYSTEM)
    name = _preferred(patient.get("name"), "official")
    address = _preferred(patient.get("address"), "home")
    telecom = [t.get("value") for t in _list(patient.get("telecom")) if isinstance(t, dict)]
    return PatientFields(
        hetu=hetu,
        local_id=mrn or patient["id"],
        name_family=_text(name.get("family")),
        name_given=_join(name.get("given"), " "),
        address_line=_join(address.get("line"), ", "),
        telecom=_join(telecom, "; "),
        postal_code=_text(address.get("postalCode")),
        birth_date=_text(patient.get("birthDate")),
        gender=_text(patient.get("gender")),
    )


def _read_conditions(paths: list[Path], report: ReadReport) -> dict[str, list[tuple[str, str | None]]]:
    """``encounter id → [(code, system), …]`` in export order."""
    problems: Counter = Counter()
    lines: dict[str, list[str]] = defaultdict(list)
    by_encounter: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    without_encounter = without_code = 0
    for resource in _resources(paths, "Condition", problems, lines):
        encounter = reference_id(_dict(resource.get("encounter")).get("reference"), "Encounter")
        coding = next((c for c in _list(_dict(resource.get("code")).get("coding"))
                       if isinstance(c, dict) and _text(c.get("code"))), None)
        if encounter is None:
            without_encounter += 1
        elif coding is None:
            without_code += 1
        else:
            by_encounter[encounter].append((_text(coding["code"]), _text(coding.get("system"))))
    _warn(report, "Condition", problems, lines, "not linked to any encounter")
    if without_encounter:
        report.warnings.append(f"{without_encounter} Condition(s) without an Encounter reference; not linked")
    if without_code:
        report.warnings.append(f"{without_code} Condition(s) without a coded Condition.code; not linked")
    return by_encounter


def reference_id(reference: object, kind: str) -> str | None:
    """The id a reference points at, if it points at a resource of type ``kind``.

    ``Patient/123``, ``https://server/fhir/Patient/123``, ``Patient/123/_history/2`` → ``123``;
    ``urn:uuid:abc`` → ``abc`` (the type cannot be told from a uuid; the caller looks it up among the
    resources of ``kind``). Anything else (a contained ``#ref``, another type, a search URL) → None.
    """
    if not isinstance(reference, str) or not reference:
        return None
    if reference.startswith("urn:uuid:"):
        return reference[len("urn:uuid:"):] or None
    if _RELATIVE_PATH.match(reference):  # urlsplit would give it back whole as its path, at three times the cost
        parts = reference.split("/")
    else:
        try:
            parts = urlsplit(reference).path.split("/")
        except ValueError:  # not a URL at all (e.g. an unclosed "[" in the host part)
            return None
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) >= 2 and parts[-2] == kind and parts[-1]:
        return parts[-1]
    return None


# --- Encounter rows -------------------------------------------------------------------------------------


def _encounter_batches(export: Export, patients: dict[str, PatientFields],
                       conditions: dict[str, list[tuple[str, str | None]]], report: ReadReport, batch_rows: int,
                       schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    out_schema = pa.schema([f.with_nullable(True) for f in schema]
                           + [pa.field(ROW_NUMBER, pa.int64()), pa.field(ROW_ERRORS, pa.string())])
    # Rows as tuples in the schema's order, not row dicts (a batch of 65 536 row dicts would cost several times
    # more memory); each is taken from encounter_row's dict in one C call and turned into columns per batch.
    in_order = operator.itemgetter(*out_schema.names)
    rows: list[tuple] = []
    seen: set[str] = set()
    number = 0  # data rows: the non-empty lines of the Encounter files, in order, counted across files
    for path in export.files.get("Encounter", []):
        with path.open("rb") as f:
            for line_number, line in _lines(f):
                if line is not None and not line.strip():
                    continue
                number += 1
                resource, reason = _parse_line(line, "Encounter")
                if reason is not None:
                    report.unreadable_rows.append((number - 1, f"{path.name} line {line_number}: {reason}"))
                    continue
                seen.add(resource["id"])
                rows.append(in_order(encounter_row(resource, patients, conditions, export.transaction_time, number)))
                if len(rows) >= batch_rows:
                    yield _batch(rows, out_schema)
                    rows = []
    if rows:
        yield _batch(rows, out_schema)
    dangling = sum(len(codes) for encounter, codes in conditions.items() if encounter not in seen)
    if dangling:
        report.warnings.append(f"{dangling} Condition(s) reference an Encounter that is not in the export; "
                               "not linked (include the Encounter in the same export)")


def encounter_row(encounter: dict, patients: dict[str, PatientFields],
                  conditions: dict[str, list[tuple[str, str | None]]], transaction_time: dt.datetime | None,
                  number: int) -> dict:
    """One row of the contract's table (Python values) from an Encounter, with its reasons."""
    errors: list[str] = []
    period = _dict(encounter.get("period"))
    subject = _dict(encounter.get("subject")).get("reference")
    patient_id = reference_id(subject, "Patient")
    patient = patients.get(patient_id) if patient_id is not None else None
    if patient is None:
        errors.append("subject: missing_reference" if not subject else "subject: dangling_reference")
        patient = PatientFields(*([None] * len(PatientFields._fields)))
    meta_updated = _dict(encounter.get("meta")).get("lastUpdated")
    codes = conditions.get(encounter["id"], [])
    return {
        "encounter_id": encounter["id"],
        "encounter_identifier": _visit_number(encounter),
        "status": _text(encounter.get("status")),
        "class_code": _class_code(encounter.get("class")),
        "service_type_code": _first_code(encounter.get("serviceType")),
        "encounter_type_code": _first_code(next(iter(_list(encounter.get("type"))), None)),
        "period_start": _typed_instant("period_start", period.get("start"), errors),
        "period_end": _typed_instant("period_end", period.get("end"), errors),
        "participant_type": _occupation(encounter.get("participant")),
        "practitioner_id": practitioner_id(encounter.get("participant")),
        "priority_code": _first_code(encounter.get("priority")),
        "care_need_assessed": _typed_instant("care_need_assessed", _extension_value(
            encounter, CARE_NEED_ASSESSED, "valueDateTime"), errors),
        "hetu": patient.hetu,
        "patient_local_id": patient.local_id,
        "name_family": patient.name_family,
        "name_given": patient.name_given,
        "address_line": patient.address_line,
        "telecom": patient.telecom,
        "postal_code": patient.postal_code,
        "birth_date": _typed_date("birth_date", patient.birth_date, errors),
        "gender": patient.gender,
        "condition_codes": [code for code, _ in codes],
        "condition_systems": [system for _, system in codes],
        "service_provider": _text(_dict(encounter.get("serviceProvider")).get("display")),
        "last_updated": (_typed_instant("last_updated", meta_updated, errors) if meta_updated is not None
                         else transaction_time),
        ROW_NUMBER: number,
        ROW_ERRORS: "|".join(errors) or None,
    }


def _batch(rows: list[tuple], schema: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for f, values in zip(schema, zip(*rows, strict=True), strict=True):
        if pa.types.is_timestamp(f.type):
            # Whole seconds since the epoch; floor, so that an instant before 1970 is not rounded up.
            values = [None if v is None else math.floor(v.timestamp()) for v in values]
        arrays.append(pa.array(values, f.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _visit_number(encounter: dict) -> str | None:
    identifiers = [i for i in _list(encounter.get("identifier")) if isinstance(i, dict)]
    preferred = next((i for i in identifiers if i.get("system") == VISIT_NUMBER_SYSTEM), None)
    chosen = preferred or next(iter(identifiers), {})
    return _text(chosen.get("value"))


def _class_code(value: object) -> str | None:
    """R4 ``class`` is a Coding; R5 made it a list of CodeableConcept: read either."""
    if isinstance(value, dict) and "code" in value:
        return _text(value.get("code"))
    first = next(iter(_list(value)), None)
    return _first_code(first)


def _first_code(concept: object) -> str | None:
    """The first coding's code of a CodeableConcept (or of a list of them: the first one)."""
    if isinstance(concept, list):
        concept = concept[0] if concept else None
    codings = concept.get("coding") if isinstance(concept, dict) else None
    coding = codings[0] if isinstance(codings, list) and codings else None
    return _text(coding.get("code")) if isinstance(coding, dict) else None


def _occupation(participants: object) -> str | None:
    """The first participant type that is not a participation role (PPRF, ATND…): the profession."""
    for participant in _list(participants):
        for concept in _list(_dict(participant).get("type")):
            for coding in _list(_dict(concept).get("coding")):
                coding = _dict(coding)
                if coding.get("system") != PARTICIPATION_TYPE and _text(coding.get("code")):
                    return _text(coding["code"])
    return None


def practitioner_id(participants: object) -> str | None:
    """The performing practitioner's id: of the primary performer (PPRF), else of the first participant with
    an individual. ``Practitioner/<id>`` (also absolute or versioned) gives ``<id>``; a conditional reference
    ``Practitioner?identifier=<system>|<value>`` (Synthea's bulk exports) gives ``<system>|<value>``; else
    ``individual.identifier`` as ``<system>|<value>``. Pseudonymised on arrival."""
    chosen = None
    for participant in _list(participants):
        if not _dict(_dict(participant).get("individual")):
            continue
        if _is_primary(participant):
            chosen = participant
            break
        if chosen is None:
            chosen = participant
    if chosen is None:
        return None
    individual = _dict(chosen.get("individual"))
    reference = individual.get("reference")
    if isinstance(reference, str) and reference.startswith("Practitioner?identifier="):
        return _text(unquote(reference.removeprefix("Practitioner?identifier=")))
    found = reference_id(reference, "Practitioner")
    if found is not None:
        return found
    identifier = _dict(individual.get("identifier"))
    value = _text(identifier.get("value"))
    return f"{_text(identifier.get('system')) or ''}|{value}" if value else None


def _is_primary(participant: dict) -> bool:
    for concept in _list(participant.get("type")):
        for coding in _list(_dict(concept).get("coding")):
            if isinstance(coding, dict) and coding.get("system") == PARTICIPATION_TYPE and coding.get("code") == "PPRF":
                return True
    return False


def _extension_value(resource: dict, url: str, kind: str) -> object:
    """The ``value[x]`` of the resource's first extension with ``url`` (None when absent)."""
    return next((_dict(e).get(kind) for e in _list(resource.get("extension")) if _dict(e).get("url") == url), None)


def _typed_instant(column: str, value: object, errors: list[str]) -> dt.datetime | None:
    if value is None or value == "":
        return None
    parsed = _instant(value) if isinstance(value, str) else None
    if parsed is None:
        errors.append(f"{column}: not_a_date_time")
    return parsed


@functools.lru_cache(maxsize=4096)  # appointments share their times: a county day has ~30 distinct starts
def _instant(value: str) -> dt.datetime | None:
    """A FHIR dateTime with a time and an offset, e.g. ``2026-10-01T08:30:00+03:00``; None otherwise."""
    if not _INSTANT.match(value):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)  # also rejects impossible dates such as 2026-02-30
        if abs(parsed.utcoffset()) > _MAX_OFFSET:  # (Python takes up to ±23:59)
            return None
        in_utc = parsed.astimezone(dt.UTC)  # OverflowError: 0001-01-01T00:00:00+14:00 is before year 1 in UTC
    except (ValueError, OverflowError):
        return None
    return parsed if EARLIEST_TIME <= in_utc <= LATEST_TIME else None


def _typed_date(column: str, value: str | None, errors: list[str]) -> dt.date | None:
    if value is None:
        return None
    try:
        if _DATE.match(value) and _EARLIEST_DAY <= (day := dt.date.fromisoformat(value)) <= _LATEST_DAY:
            return day
    except ValueError:
        pass
    errors.append(f"{column}: not_a_date")  # partial dates (YYYY, YYYY-MM) included: the contract wants a day
    return None


# --- small helpers for loosely shaped JSON -----------------------------------------------------------------


_NOTHING: Mapping = MappingProxyType({})  # (shared, read-only: these run a few million times per county day)


def _list(value: object) -> Sequence:
    return value if isinstance(value, list) else ()


def _dict(value: object) -> Mapping:
    return value if isinstance(value, dict) else _NOTHING


def _text(value: object) -> str | None:
    """A non-empty string value, or None (numbers and other JSON types are not strings in FHIR)."""
    return value if isinstance(value, str) and value.strip() else None


def _join(values: object, separator: str) -> str | None:
    """The non-empty strings among ``values`` joined (others skipped, as :func:`_text` would not take them)."""
    parts = [x for x in _list(values) if isinstance(x, str) and x.strip()]
    return separator.join(parts) or None


def _preferred(values: object, use: str) -> Mapping:
    """The element with ``use`` (e.g. the official name, the home address), else the first one."""
    first = None
    for value in _list(values):
        if isinstance(value, dict):
            if value.get("use") == use:
                return value
            if first is None:
                first = value
    return _NOTHING if first is None else first


__all__ = ["FhirBulkExport", "open_export", "read_export", "reference_id"]
