"""Data contracts (ODCS v3 YAML, one per feed) and a typed view of what the pipeline needs from them.

The YAML files next to this module are the single source of truth of each feed. This module reads them
with the ``open-data-contract-standard`` package and turns them into :class:`FeedContract`, which the
connectors (column types, file format), the expectation suites (rules) and ``transforms/pseudonymise``
(which columns are identity codes or direct identifiers) use.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pyarrow as pa
import pydantic
import yaml
from open_data_contract_standard.model import OpenDataContractStandard

CONTRACTS_DIR = Path(__file__).resolve().parent
"""The contracts of the checkout; ``TESOMA_CONTRACTS_DIR`` names another folder (see :func:`contracts_dir`)."""

CLASSIFICATIONS = {"identity_code", "partner_local_id", "staff_identifier", "direct_identifier", "quasi_identifier",
                   "internal"}
"""``staff_identifier``: the partner's own id of the professional (staff member) who gave the service. Not a
resident's identifier, but it identifies an employee: ``transforms/pseudonymise`` replaces it by a keyed
``professional_id`` in a domain of its own, and the raw value goes no further."""
_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


class ContractError(ValueError):
    """A contract file is missing or broken; the message names the file and what to fix."""


@dataclass(frozen=True)
class Column:
    name: str
    logical_type: str
    arrow_type: pa.DataType
    required: bool = False
    unique: bool = False
    classification: str = "internal"
    description: str = ""
    pattern: str | None = None
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    format: str | None = None
    timezone: str | None = None
    tags: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # other header names partners use for this column (ODCS ``synonyms``)
    not_after: str | None = None
    """Another column this (time) column may not be later than, e.g. the care-need assessment and the visit
    it led to (the column's ODCS ``customProperties``: ``notAfter``). Checked when both are present."""


@dataclass(frozen=True)
class FileFormat:
    format: str
    delimiter: str = ","
    encodings: tuple[str, ...] = ("utf-8",)
    decimal_separator: str = "."
    file_name_pattern: str | None = None


@dataclass(frozen=True)
class FeedContract:
    feed: str
    partners: tuple[str, ...]
    version: str
    canonical_table: str
    source_id_column: str | None
    file_format: FileFormat
    columns: tuple[Column, ...]
    path: Path
    properties: dict[str, object] = field(default_factory=dict)
    limitations: str = ""

    @property
    def partner(self) -> str:
        """The delivering partner of a single-partner feed (the first of ``partners``)."""
        return self.partners[0]

    @property
    def event_time_column(self) -> str | None:
        value = self.properties.get("eventTimeColumn")
        return str(value) if value else None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def unique_column_names(self) -> list[str]:
        """Columns the contract marks unique (record ids)."""
        return [c.name for c in self.columns if c.unique]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.feed} contract has no column {name!r}")

    def columns_classified(self, classification: str) -> list[str]:
        return [c.name for c in self.columns if c.classification == classification]

    def arrow_schema(self) -> pa.Schema:
        """The typed schema a connector delivers batches in."""
        return pa.schema([pa.field(c.name, c.arrow_type, nullable=not c.required) for c in self.columns])


def contracts_dir() -> Path:
    """Where the contracts are: ``TESOMA_CONTRACTS_DIR`` (the Docker image's copy, a test's folder), else here."""
    return Path(os.environ.get("TESOMA_CONTRACTS_DIR") or CONTRACTS_DIR)


def available() -> list[str]:
    return sorted(p.stem for p in contracts_dir().glob("*.yaml"))


@cache
def load(feed: str, directory: Path | None = None) -> FeedContract:
    """Load and check the contract of ``feed`` (from :func:`contracts_dir` unless one is given); raises
    :class:`ContractError` saying what to fix. Cached: who changes ``TESOMA_CONTRACTS_DIR`` clears it."""
    path = (directory or contracts_dir()) / f"{feed}.yaml"
    if not path.exists():
        raise ContractError(f"no contract for feed {feed!r}: expected {path} (known: {', '.join(available())})")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        odcs = OpenDataContractStandard(**raw)
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from exc
    except (pydantic.ValidationError, TypeError) as exc:
        raise ContractError(f"{path}: not a valid ODCS v3 contract: {exc}") from exc
    return _feed_contract(odcs, path)


def _custom(props: list | None) -> dict[str, object]:
    return {p.property: p.value for p in props or [] if p.property}


def _feed_contract(odcs: OpenDataContractStandard, path: Path) -> FeedContract:
    def fail(msg: str) -> ContractError:
        return ContractError(f"{path}: {msg}")

    if odcs.name != path.stem:
        raise fail(f"name is {odcs.name!r} but the file is {path.name}; they must match")
    if not odcs.schema_ or len(odcs.schema_) != 1 or not odcs.schema_[0].properties:
        raise fail("needs exactly one schema object with properties (the delivered table)")
    custom = _custom(odcs.customProperties)
    if "canonicalTable" not in custom:
        raise fail("customProperties must include 'canonicalTable'")
    if "partner" not in custom and "partners" not in custom:
        raise fail("customProperties must include 'partner' (or 'partners', a list, for a feed several deliver)")
    partners = custom.get("partners") or [custom["partner"]]
    if not isinstance(partners, list) or not all(isinstance(p, str) and p for p in partners):
        raise fail("'partners' must be a list of partner names")
    server = next((s for s in odcs.servers or [] if s.server == "landing"), None)
    if server is None or not server.format:
        raise fail("needs a server named 'landing' with a format")
    server_custom = _custom(server.customProperties)
    file_format = FileFormat(
        format=server.format,
        # ODCS has no CSV delimiter for a local server (its `delimiter` is for JSON documents on s3/sftp).
        delimiter=str(server_custom.get("delimiter") or server.delimiter or ","),
        encodings=tuple(e.strip() for e in (server.encoding or "utf-8").split(",")),
        decimal_separator=str(server_custom.get("decimalSeparator", ".")),
        file_name_pattern=server_custom.get("fileNamePattern"),  # type: ignore[arg-type]
    )
    columns = tuple(_column(p, fail) for p in odcs.schema_[0].properties)
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise fail("column names must be unique")
    for key in ("sourceIdColumn", "eventTimeColumn"):
        if custom.get(key) is not None and custom[key] not in names:
            raise fail(f"{key} {custom[key]!r} is not a column")
    source_id = custom.get("sourceIdColumn")
    by_name = {c.name: c for c in columns}
    for c in columns:
        if c.not_after is not None and (c.not_after not in by_name or c.not_after == c.name
                                        or by_name[c.not_after].logical_type != c.logical_type):
            raise fail(f"column {c.name}: notAfter {c.not_after!r} must name another column of the same "
                       f"logicalType ({c.logical_type})")
    for kind in ("identity_code", "partner_local_id", "staff_identifier"):
        if sum(c.classification == kind for c in columns) > 1:
            raise fail(f"at most one column may be classified {kind}")
    return FeedContract(
        feed=odcs.name, partners=tuple(partners), version=odcs.version or "0",
        canonical_table=str(custom["canonicalTable"]), source_id_column=source_id,  # type: ignore[arg-type]
        file_format=file_format, columns=columns, path=path, properties=custom,
        limitations=(odcs.description.limitations or "") if odcs.description else "",
    )


def _column(prop, fail) -> Column:
    if not prop.name or not prop.logicalType:
        raise fail(f"every property needs a name and a logicalType (got {prop.name!r})")
    options = prop.logicalTypeOptions or {}
    classification = prop.classification or "internal"
    if classification not in CLASSIFICATIONS:
        raise fail(f"column {prop.name}: classification {classification!r} is not one of {sorted(CLASSIFICATIONS)}")
    return Column(
        name=prop.name,
        logical_type=prop.logicalType,
        arrow_type=_arrow_type(prop, fail),
        required=bool(prop.required),
        unique=bool(prop.unique),
        classification=classification,
        description=prop.description or "",
        pattern=options.get("pattern"),
        allowed=tuple(str(e.value) for e in prop.enum) if prop.enum else None,
        minimum=options.get("minimum"),
        maximum=options.get("maximum"),
        format=options.get("format"),
        timezone=_timezone(prop, fail),
        tags=tuple(prop.tags or ()),
        aliases=tuple(s.synonym for s in prop.synonyms or () if s.synonym),
        not_after=_custom(prop.customProperties).get("notAfter"),  # type: ignore[arg-type]
    )


def _timezone(prop, fail) -> str | None:
    """The zone of a timestamp column's values: ``UTC`` for instants, else the zone of its wall-clock times.

    ODCS says it with two options: ``timezone: true`` means the delivered values carry their UTC offset (the
    connector keeps them as UTC instants); otherwise they are local wall-clock times in ``defaultTimezone``.
    """
    options = prop.logicalTypeOptions or {}
    carries_offset = options.get("timezone")
    if carries_offset is not None and not isinstance(carries_offset, bool):
        raise fail(f"column {prop.name}: logicalTypeOptions.timezone must be true or false (ODCS); "
                   f"name the zone of wall-clock times in defaultTimezone")
    if carries_offset:
        return "UTC"
    return options.get("defaultTimezone")


def _arrow_type(prop, fail) -> pa.DataType:
    logical, physical = prop.logicalType, (prop.physicalType or "").lower()
    if logical == "string":
        return pa.string()
    if logical == "integer":
        return pa.int64()
    if logical == "number":
        m = _DECIMAL.match(physical)
        return pa.decimal128(int(m[1]), int(m[2])) if m else pa.float64()
    if logical == "boolean":
        return pa.bool_()
    if logical == "date":
        return pa.date32()
    if logical == "timestamp":
        # Local wall-clock time as delivered (the harmonise step attaches the contract's timezone), or an
        # instant in UTC when the contract says the source carries offsets (timezone: true).
        utc = _timezone(prop, fail) == "UTC"
        return pa.timestamp("s", tz="UTC") if utc else pa.timestamp("s")
    if logical == "array":
        items = prop.items
        if items is None or items.logicalType != "string":
            raise fail(f"column {prop.name}: only arrays of strings are supported")
        return pa.list_(pa.string())
    raise fail(f"column {prop.name}: logicalType {logical!r} is not supported")
