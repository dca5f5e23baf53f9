"""`tesoma audit`: proves that no identifying data left the restricted zones.

Scans every file under the warehouse (the Iceberg tables' Parquet data files, their metadata and Avro
manifests, the Iceberg catalog database and the analysts' DuckDB catalog; also the Iceberg warehouse and
catalog file when ``TESOMA_ICEBERG_WAREHOUSE`` or ``TESOMA_ICEBERG_CATALOG_URL`` put them elsewhere),
staging, the docs (the repository's and generated ones: ``docs/quality.md`` and the Great Expectations
Data Docs in ``docs/data-docs/``), the recorded validation results (``quality/``) and the run logs for
identity codes (any century sign), names that appear in the source deliveries, phone numbers and e-mail
addresses. A finding names the file and the column (Parquet) or line (text) and the kind — never the value.

Manifests are read block by block, decompressed: column bounds copied into them would be values of the
data (``warehouse.iceberg.table_properties`` keeps text and pseudonyms out; the audit checks it). A file
that disappears while the audit runs (old table metadata deleted by a concurrent publish) is skipped.

The catalog DAG audits after every publication, so the audit reads only what changed
(:func:`scan_incrementally`): a record under ``<data root>/restricted/metadata/`` keeps the files found
clean (path, size, modification time) and the version of the rules they were scanned under; new and
changed files are read, a change of the rules reads everything again, ``tesoma audit --full`` forces a
full scan. A file with findings is never recorded as clean, so it is reported on every audit until fixed.

Files that are byte-for-byte copies of Great Expectations' own Data Docs assets (fonts, logos, styles,
which GX copies into every site) are skipped: they are GX's, not data, and its fonts carry their
designer's e-mail address. A file under ``static/`` that differs from GX's is scanned like any other.

Beside the findings, :func:`k_anonymity` measures how well the pseudonymous analyst layer hides people:
how many persons share each combination of birth year, sex and postal code. It is informational, not a
finding: the audit fails only on identifying data that must not be there, while small classes are a known
residual risk of person-level data, to watch from run to run (``docs/privacy.md``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import contracts
from connectors.base import DeliveryRejected, ReadReport
from tesoma.config import PROJECT_DIR, Settings
from tesoma.feeds import connector_for
from transforms.pseudonymise.detect import names_from, scan, scan_values
from warehouse.layout import Layout
from warehouse.ledger import Ledger

K = 5
"""Classes smaller than this are counted as at risk: the usual threshold of k-anonymity for person-level
data kept for analysis. (Published counts follow the stricter disclosure rules of ``docs/analysts.md``.)"""

DUCKDB_MEMORY_LIMIT = "600MB"
"""DuckDB's memory for the audit's k-anonymity query (a task's limit is 1 GiB; measured peak 738 MiB over five
years of a county, 11.6 s)."""

TEXT_SUFFIXES = {".md", ".txt", ".json", ".log", ".html", ".csv", ".yaml", ".yml", ".ndjson"}


@dataclass(frozen=True)
class Finding:
    path: Path
    where: str  # "column X" or "line N"
    kind: str
    count: int

    def __str__(self) -> str:
        return f"{self.path}: {self.where}: {self.count} × {self.kind}"


def default_targets(settings: Settings) -> list[Path]:
    import os

    layout = Layout(settings.data_root)
    targets = [layout.warehouse, *_iceberg_locations(settings), layout.staging, PROJECT_DIR / "docs",
               settings.data_root / "docs", settings.data_root / "quality", settings.data_root / "logs",
               settings.data_root / "airflow" / "logs", *sorted((settings.data_root / "airflow").glob("*.log"))]
    airflow_home = os.environ.get("AIRFLOW_HOME")
    if airflow_home:
        targets.append(Path(airflow_home) / "logs")
    existing: dict[Path, Path] = {}
    for target in targets:
        if target.exists():
            existing.setdefault(target.resolve(), target)
    # A target inside another (the Iceberg warehouse under warehouse/, by default) is scanned once.
    return [target for real, target in existing.items()
            if not any(other != real and real.is_relative_to(other) for other in existing)]


def _iceberg_locations(settings: Settings) -> list[Path]:
    """The Iceberg warehouse folder and the SQLite catalog file, wherever they are configured (by default
    both are under ``warehouse/``, already a target). Object-store locations cannot be scanned here."""
    from warehouse.iceberg import Place

    place = Place.for_root(settings.data_root, settings.ledger_url)
    found = []
    if place.warehouse.startswith("file://"):
        from warehouse.commits import local_path

        found.append(local_path(place.warehouse))
    if place.is_embedded:
        found.append(Path(place.catalog_url.removeprefix("sqlite:///")))
    return found


def delivered_names(settings: Settings) -> set[str]:
    """Names in the archived deliveries (columns tagged as names in their contracts).

    Reading every archived delivery on every audit would grow with the history, so each delivery's names are
    kept beside the archive, in the restricted ``raw/`` zone (``raw/.names/<delivery id>.txt``): written by
    ingest, which reads the delivery anyway (:func:`keep_names`), or else read here once; purged with the
    archive (``steps.purge``). A delivery whose archive is gone (purged) adds no names."""
    layout, ledger = Layout(settings.data_root), Ledger(settings.ledger_url)
    names: set[str] = set()
    version = rules_id()
    for delivery in ledger.all():
        columns = name_columns(delivery.feed)
        raw = layout.root / delivery.raw_path
        cached = names_file(layout, delivery.delivery_id)
        if not columns or not raw.exists():
            cached.unlink(missing_ok=True)
            continue
        try:
            head, *found = cached.read_text(encoding="utf-8").split("\n")
            if head == version:
                names.update(found)
                continue
        except FileNotFoundError:
            pass
        found_here: set[str] = set()
        try:
            for batch in connector_for(delivery.feed).read(raw, ReadReport()):
                found_here |= _names_in(batch, columns)
        except (DeliveryRejected, FileNotFoundError):
            continue
        _write_names(cached, version, found_here)
        names |= found_here
    names.discard("")
    return names


def name_columns(feed: str) -> list[str]:
    """The feed's columns its contract tags as names (direct identifiers); none for a feed without one."""
    try:
        contract = contracts.load(feed)
    except contracts.ContractError:
        return []
    return [c.name for c in contract.columns if c.classification == "direct_identifier" and "name" in c.tags]


def keep_names(layout: Layout, feed: str, delivery_id: str, table: pa.Table | pa.RecordBatch) -> None:
    """Keep a delivery's names for the audit while ingest has the delivery read (see :func:`delivered_names`):
    an audit after a five-year backfill then reads 15,000 small files, not every delivery again."""
    columns = name_columns(feed)
    if columns:
        _write_names(names_file(layout, delivery_id), rules_id(), _names_in(table, columns))


def _names_in(table: pa.Table | pa.RecordBatch, columns: list[str]) -> set[str]:
    import pyarrow.compute as pc

    found: set[str] = set()
    for column in columns:
        if column in table.schema.names:
            found |= names_from(pc.unique(table.column(column)).to_pylist())
    return found


def _write_names(cached: Path, version: str, names: set[str]) -> None:
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text("\n".join([version, *sorted(names)]), encoding="utf-8")
    tmp.replace(cached)


def names_file(layout: Layout, delivery_id: str) -> Path:
    """Where the names of one delivery are kept for the audit (restricted, like the archive it comes from)."""
    return layout.raw / ".names" / f"{delivery_id}.txt"


def _files(targets: list[Path]) -> Iterator[Path]:
    for target in targets:
        if target.is_file():
            yield target
        else:
            yield from sorted(p for p in target.rglob("*") if p.is_file())


def audit_file(path: Path, names: set[str]) -> list[Finding]:
    if path.suffix == ".parquet":
        return _audit_parquet(path, names)
    if path.suffix == ".avro":
        return _audit_avro(path, names)
    if path.suffix in TEXT_SUFFIXES or path.suffix == "":
        return _audit_text(path, names)
    # Binary files (e.g. the DuckDB catalog): look at their printable bytes as a whole.
    found = scan(path.read_bytes().decode("latin-1"), names)
    return [Finding(path, "file", kind, n) for kind, n in found.items()]


WHOLE_FILE_PRESCAN_BYTES = 64 << 20


def _audit_text(path: Path, names: set[str]) -> list[Finding]:
    # A clean file (nearly all of them) is settled by one scan of its whole text, not one per line: the
    # Data Docs pages and recorded results have thousands of short lines. A whole-text scan finds at
    # least what the line scans find, so only a file with a hit is scanned line by line.
    if path.stat().st_size <= WHOLE_FILE_PRESCAN_BYTES and not scan(
            path.read_text(encoding="utf-8", errors="replace"), names):
        return []
    findings = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            findings += [Finding(path, f"line {number}", kind, n) for kind, n in scan(line, names).items()]
    return findings


def _audit_parquet(path: Path, names: set[str]) -> list[Finding]:
    findings = []
    table = pq.read_table(path)
    for name in table.column_names:
        column = table[name]
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        found = scan_values(column, names)
        findings += [Finding(path, f"column {name}", kind, n) for kind, n in found.items()]
    return findings


def _audit_avro(path: Path, names: set[str]) -> list[Finding]:
    try:
        text = avro_text(path.read_bytes())
    except ValueError as exc:
        # A manifest the audit cannot read might hold anything: say so rather than pass it.
        return [Finding(path, "file", f"unreadable Avro ({exc})", 1)]
    return [Finding(path, "file", kind, n) for kind, n in scan(text, names).items()]


def avro_text(data: bytes) -> str:
    """The text of an Avro object container file (an Iceberg manifest or manifest list): its header and
    every data block, decompressed, decoded as UTF-8 so the strings in it read as written. Raises
    ValueError for a file that is not Avro or a codec pyiceberg cannot decompress."""
    from pyiceberg.avro.codecs import KNOWN_CODECS

    if data[:4] != b"Obj\x01":
        raise ValueError("not an Avro container file")
    pos = 0

    def read_long() -> int:  # Avro's zig-zag varint
        nonlocal pos
        shift = value = 0
        while True:
            if pos >= len(data):
                raise ValueError("truncated Avro file")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return (value >> 1) ^ -(value & 1)

    def read_bytes() -> bytes:
        nonlocal pos
        size = read_long()
        chunk = data[pos:pos + size]
        pos += size
        return chunk

    pos = 4
    meta: dict[str, bytes] = {}
    while count := read_long():
        if count < 0:  # a map block with its size in bytes first
            read_long()
            count = -count
        for _ in range(count):
            key = read_bytes().decode("utf-8", "replace")
            meta[key] = read_bytes()
    pos += 16  # the sync marker
    codec_name = meta.get("avro.codec", b"null").decode()
    if codec_name not in KNOWN_CODECS:
        raise ValueError(f"codec {codec_name!r}")
    codec = KNOWN_CODECS[codec_name]
    parts = [f"{key} {value.decode('utf-8', 'replace')}" for key, value in meta.items()]
    while pos < len(data):
        read_long()  # records in the block
        block = read_bytes()
        pos += 16
        try:
            parts.append((codec.decompress(block) if codec else block).decode("utf-8", "replace"))
        except Exception as exc:  # a codec's own error (zlib.error, a missing snappy module, …)
            raise ValueError(f"codec {codec_name!r}: {exc}") from exc
    return "\n".join(parts)


def _packaged_assets() -> dict[int, set[str]]:
    """Size → SHA-256s of the files GX copies into every Data Docs site (found without importing GX)."""
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("great_expectations")
    assets: dict[int, set[str]] = {}
    for root in (spec.submodule_search_locations or []) if spec else []:
        for path in (Path(root) / "render" / "view" / "static").rglob("*"):
            if path.is_file():
                assets.setdefault(path.stat().st_size, set()).add(hashlib.sha256(path.read_bytes()).hexdigest())
    return assets


def _is_packaged_asset(path: Path, assets: dict[int, set[str]]) -> bool:
    import hashlib

    digests = assets.get(path.stat().st_size)
    return bool(digests) and hashlib.sha256(path.read_bytes()).hexdigest() in digests


def run(settings: Settings, targets: list[Path] | None = None) -> tuple[list[Finding], int]:
    """Audit every file of the targets (default: warehouse, staging, docs, quality results, logs); returns
    (findings, files scanned). A full scan that neither reads nor writes the record of
    :func:`scan_incrementally`. Copies of GX's own Data Docs assets are not counted."""
    files = _files(targets if targets is not None else default_targets(settings))
    findings, scanned, _, _ = _scan(files, _Names(settings), _packaged_assets(), record=None)
    return findings, scanned


# --- incremental audit -----------------------------------------------------------------------------------

RULES_VERSION = 1
"""Bump when what the audit looks for changes outside the two modules digested by :func:`rules_id` (a new
kind of file read differently, say). Any change of the record's rules scans everything again."""

SETTLE_SECONDS = 2.0
"""A file written this recently is scanned but not recorded as clean: on a file system with coarse file
times a second write within the same tick would keep its size and time, and go unseen."""


def rules_id() -> str:
    """The version of the audit rules: :data:`RULES_VERSION` and a digest of the detectors
    (``transforms/pseudonymise/detect.py``) and of this module. A digest rather than only a number to bump:
    a forgotten bump would leave files unscanned under new rules; an edit that changes nothing costs one
    full scan."""
    return f"{RULES_VERSION}-{_code_digest()}"


@functools.cache
def _code_digest() -> str:
    """The digest of the detectors' and this module's code (read once per process: ingest asks per delivery)."""
    import hashlib

    from transforms.pseudonymise import detect

    digest = hashlib.sha256()
    for module_file in (detect.__file__, __file__):
        digest.update(Path(module_file).read_bytes())
    return digest.hexdigest()[:16]


def record_path(settings: Settings) -> Path:
    """Where the record of clean files lives: ``<data root>/restricted/metadata/audit-scanned.json`` (file
    paths, sizes and times only — no content; outside every audit target)."""
    return Layout(settings.data_root).restricted / "metadata" / "audit-scanned.json"


class ScanRecord:
    """The files the audit found clean under the current rules, each with the size and modification time
    (ns) it had then. A file is scanned again when either changed, when it is new, or when the rules
    changed (a record of other rules is ignored). Files with findings are never recorded: they are scanned
    and reported on every audit until they are fixed."""

    def __init__(self, path: Path, rules: str, clean: dict[str, tuple[int, int]] | None = None,
                 contents: dict[str, str] | None = None):
        self.path, self.rules = path, rules
        self.clean: dict[str, tuple[int, int]] = clean or {}
        self.seen: set[str] = set()
        self.contents: dict[str, str] = contents or {}
        """Clean Parquet files' SHA-256 digests by path (the files a digest is checked for: see :func:`_scan`)."""
        self._clean_digests: set[str] = set(self.contents.values())

    @classmethod
    def load(cls, path: Path, rules: str) -> ScanRecord:
        import json

        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):  # none yet, or damaged: scan everything
            return cls(path, rules)
        if data.get("rules") != rules:
            return cls(path, rules)
        return cls(path, rules, {p: (int(size), int(mtime)) for p, (size, mtime) in data.get("clean", {}).items()},
                   {p: str(d) for p, d in data.get("contents", {}).items()})

    def is_clean(self, path: Path, size: int, mtime_ns: int) -> bool:
        key = str(path)
        self.seen.add(key)
        return self.clean.get(key) == (size, mtime_ns)

    def is_clean_content(self, digest: str) -> bool:
        """Whether a file of exactly these bytes was found clean under these rules (in this audit or one kept)."""
        return digest in self._clean_digests

    def clean_content(self, path: Path, digest: str) -> None:
        self._clean_digests.add(digest)
        self.contents[str(path)] = digest

    def forget(self, path: Path) -> None:
        self.clean.pop(str(path), None)
        self.contents.pop(str(path), None)

    def settle(self, path: Path, size: int, mtime_ns: int, now: float) -> None:
        if now - mtime_ns / 1e9 >= SETTLE_SECONDS:
            self.clean[str(path)] = (size, mtime_ns)
        else:
            self.clean.pop(str(path), None)

    def save(self) -> None:
        """Write the record (files no longer present are dropped from it), atomically."""
        import json

        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = {p: list(v) for p, v in sorted(self.clean.items()) if p in self.seen}
        contents = {p: d for p, d in sorted(self.contents.items()) if p in kept}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"rules": self.rules, "clean": kept, "contents": contents}), encoding="utf-8")
        tmp.replace(self.path)


@dataclass(frozen=True)
class Audit:
    """The result of :func:`scan_incrementally`."""

    findings: list[Finding]
    scanned: int  # files read this time
    unchanged: int  # files clean at an earlier audit and unchanged since: not read
    full: bool
    copies: int = 0  # Parquet files byte for byte the same as one found clean (a published copy of a staged file)

    def __str__(self) -> str:
        how = "full scan" if self.full else f"{self.unchanged} unchanged file(s) already found clean"
        same = f"; {self.copies} exact copies of clean files" if self.copies else ""
        return f"{self.scanned} files scanned ({how}{same}), {len(self.findings)} finding(s)"


def scan_incrementally(settings: Settings, full: bool = False) -> Audit:
    """Audit the default targets, reading only the files that are new or changed since an audit found them
    clean (:class:`ScanRecord`, kept at :func:`record_path`). ``full`` scans every file and rewrites the
    record. Findings are never skipped: a file with findings is not recorded, so it is read and reported
    again until it is fixed.

    An unchanged file is not scanned again for names delivered after it was found clean: data copied out
    of a delivery is written after the delivery arrived, so it is in a new or changed file."""
    import time

    rules = rules_id()
    path = record_path(settings)
    record = ScanRecord(path, rules) if full else ScanRecord.load(path, rules)
    findings, scanned, unchanged, copies = _scan(_files(default_targets(settings)), _Names(settings),
                                                 _packaged_assets(), record, now=time.time())
    record.save()
    return Audit(findings, scanned, unchanged, full or unchanged == 0, copies)


class _Names:
    """The delivered names, read from the archived deliveries only when a file has to be scanned (an audit
    that finds nothing new to read does not open a single delivery)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._names: set[str] | None = None

    def get(self) -> set[str]:
        if self._names is None:
            self._names = delivered_names(self.settings)
        return self._names


def _scan(files: Iterator[Path], names: _Names, assets: dict[int, set[str]], record: ScanRecord | None,
          now: float = 0.0) -> tuple[list[Finding], int, int, int]:
    """Audit ``files``: (findings, files read, files unchanged, copies). With a ``record``, skip the ones it
    holds as clean and unchanged, and the Parquet files that are byte-for-byte copies of one found clean.
    Every published data file is such a copy of its staged file (publish copies it into the table under its
    SHA-256): hashing costs ~1 ms per MB, reading a column of a month's pseudonyms far more. The same bytes
    give the same verdict; names delivered after the first copy was found clean cannot be in it (see
    :func:`scan_incrementally`)."""
    findings: list[Finding] = []
    scanned = unchanged = copies = 0
    for path in files:
        digest = None
        try:
            stat = path.stat()
            if record is not None and record.is_clean(path, stat.st_size, stat.st_mtime_ns):
                unchanged += 1
                continue
            if _is_packaged_asset(path, assets):
                if record is not None:
                    record.settle(path, stat.st_size, stat.st_mtime_ns, now)
                continue
            if record is not None and path.suffix == ".parquet":
                digest = _sha256(path)
                if record.is_clean_content(digest):
                    copies += 1
                    record.settle(path, stat.st_size, stat.st_mtime_ns, now)
                    record.clean_content(path, digest)
                    continue
            found = audit_file(path, names.get())
        except FileNotFoundError:
            continue  # removed since it was listed (a concurrent publish's old metadata): nothing to leak
        scanned += 1
        findings += found
        if record is not None:
            if found:
                record.forget(path)
            else:
                record.settle(path, stat.st_size, stat.st_mtime_ns, now)
                if digest is not None:
                    record.clean_content(path, digest)
    return findings, scanned, unchanged, copies


def _sha256(path: Path) -> str:
    import hashlib

    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass(frozen=True)
class KAnonymity:
    """Equivalence classes of (birth year, sex, postal code) over the persons of the warehouse."""

    persons: int
    smallest_class: int
    persons_under_k: int
    classes_under_k: int
    k: int = K

    def __str__(self) -> str:
        head = f"k-anonymity (birth_year, sex, home_postal_code) over {self.persons:,} persons"
        if not self.persons:
            return f"{head}: nothing to measure"
        return (f"{head}: smallest class {self.smallest_class:,}; {self.persons_under_k:,} persons in "
                f"{self.classes_under_k:,} classes under {self.k}")


def k_anonymity(settings: Settings, k: int = K) -> KAnonymity:
    """Measure k-anonymity over the persons of the catalog's ``person`` view (one row per pseudonymous person,
    with the birth year, sex and latest postal code an analyst sees: ``warehouse.catalog.PERSON_TRAITS``,
    aggregated here without the view's other columns). A missing value is a class of its own, as it is to
    anyone reading the data. Reads the catalog only; no catalog or no person view gives 0 persons.

    DuckDB is held to :data:`DUCKDB_MEMORY_LIMIT` (spilling to a temporary folder beyond it): it runs in the
    catalog DAG's audit task, and five years of a county's service events took 4 GiB without a limit."""
    import tempfile

    import duckdb

    from warehouse.catalog import PERSON_TRAITS

    layout = Layout(settings.data_root)
    if not layout.catalog.exists():
        return KAnonymity(0, 0, 0, 0, k)
    with tempfile.TemporaryDirectory(prefix="tesoma-audit-") as spill:
        con = duckdb.connect(str(layout.catalog), read_only=True,
                             config={"memory_limit": DUCKDB_MEMORY_LIMIT, "temp_directory": spill})
        try:
            con.execute("set enable_progress_bar = false")  # a task's log is no terminal
            if not con.execute("select count(*) from duckdb_views() where view_name = 'person'").fetchone()[0]:
                return KAnonymity(0, 0, 0, 0, k)
            persons, smallest, under, classes = con.execute(f"""
                with persons as (
                    select person_id, {PERSON_TRAITS} from service_event_current group by person_id
                ), classes as (
                    select count(*) as size from persons group by birth_year, sex, latest_postal_code
                )
                select coalesce(sum(size), 0), coalesce(min(size), 0),
                       coalesce(sum(size) filter (where size < $k), 0), count(*) filter (where size < $k)
                from classes
            """, {"k": k}).fetchone()  # noqa: S608 — PERSON_TRAITS is our own SQL, k a bound parameter
        finally:
            con.close()
    return KAnonymity(int(persons), int(smallest), int(under), int(classes), k)
