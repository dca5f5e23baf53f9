"""`tesoma audit`: proves that no identifying data left the restricted zones.

Scans every file under the warehouse (harmonised tables, marts, the catalog), staging, the docs (the
repository's and generated ones: ``docs/quality.md`` and the Great Expectations Data Docs in
``docs/data-docs/``), the recorded validation results (``quality/``) and the run logs for identity codes
(any century sign), names that appear in the source deliveries, phone numbers and e-mail addresses. A
finding names the file and the column (Parquet) or line (text) and the kind — never the value.

Files that are byte-for-byte copies of Great Expectations' own Data Docs assets (fonts, logos, styles,
which GX copies into every site) are skipped: they are GX's, not data, and its fonts carry their
designer's e-mail address. A file under ``static/`` that differs from GX's is scanned like any other.

Beside the findings, :func:`k_anonymity` measures how well the pseudonymous analyst layer hides people:
how many persons share each combination of birth year, sex and postal code. It is informational, not a
finding: the audit fails only on identifying data that must not be there, while small classes are a known
residual risk of person-level data, to watch from run to run (``docs/privacy.md``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import contracts
from connectors.base import DeliveryRejected, ReadReport
from tesoma.config import PROJECT_DIR, Settings
from tesoma.feeds import connector_for
from transforms.pseudonymise.detect import names_from, scan
from warehouse.layout import Layout
from warehouse.ledger import Ledger

K = 5
"""Classes smaller than this are counted as at risk: the usual threshold of k-anonymity for person-level
data kept for analysis. (Published counts follow the stricter disclosure rules of ``docs/analysts.md``.)"""

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
    targets = [layout.warehouse, layout.staging, PROJECT_DIR / "docs", settings.data_root / "docs",
               settings.data_root / "quality", settings.data_root / "logs", settings.data_root / "airflow" / "logs",
               *sorted((settings.data_root / "airflow").glob("*.log"))]
    airflow_home = os.environ.get("AIRFLOW_HOME")
    if airflow_home:
        targets.append(Path(airflow_home) / "logs")
    return [t for t in dict.fromkeys(targets) if t.exists()]


def delivered_names(settings: Settings) -> set[str]:
    """Names in the archived deliveries (columns tagged as names in their contracts)."""
    layout, ledger = Layout(settings.data_root), Ledger(settings.ledger_url)
    names: set[str] = set()
    for delivery in ledger.all():
        try:
            contract = contracts.load(delivery.feed)
        except contracts.ContractError:
            continue
        columns = [c.name for c in contract.columns if c.classification == "direct_identifier" and "name" in c.tags]
        if not columns:
            continue
        try:
            for batch in connector_for(delivery.feed).read(layout.root / delivery.raw_path, ReadReport()):
                for column in columns:
                    names |= names_from(batch.column(column).to_pylist())
        except (DeliveryRejected, FileNotFoundError):
            continue
    return names


def _files(targets: list[Path]) -> Iterator[Path]:
    for target in targets:
        if target.is_file():
            yield target
        else:
            yield from sorted(p for p in target.rglob("*") if p.is_file())


def audit_file(path: Path, names: set[str]) -> list[Finding]:
    if path.suffix == ".parquet":
        return _audit_parquet(path, names)
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
        found: Counter = Counter()
        for value in pc.unique(column).to_pylist():
            if value:
                found.update(scan(value, names))
        findings += [Finding(path, f"column {name}", kind, n) for kind, n in found.items()]
    return findings


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
    """Audit the targets (default: warehouse, staging, docs, quality results, logs); returns (findings,
    files scanned). Copies of GX's own Data Docs assets are not counted."""
    names = delivered_names(settings)
    assets = _packaged_assets()
    findings, scanned = [], 0
    for path in _files(targets if targets is not None else default_targets(settings)):
        if _is_packaged_asset(path, assets):
            continue
        scanned += 1
        findings += audit_file(path, names)
    return findings, scanned


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
    """Measure k-anonymity over the catalog's ``person`` view (one row per pseudonymous person, with the
    birth year, sex and latest postal code an analyst sees). A missing value is a class of its own, as it
    is to anyone reading the data. Reads the catalog only; no catalog or no person view gives 0 persons."""
    import duckdb

    layout = Layout(settings.data_root)
    if not layout.catalog.exists():
        return KAnonymity(0, 0, 0, 0, k)
    con = duckdb.connect(str(layout.catalog), read_only=True)
    try:
        if not con.execute("select count(*) from duckdb_views() where view_name = 'person'").fetchone()[0]:
            return KAnonymity(0, 0, 0, 0, k)
        persons, smallest, under, classes = con.execute("""
            with classes as (
                select count(*) as size from person group by birth_year, sex, latest_postal_code
            )
            select coalesce(sum(size), 0), coalesce(min(size), 0),
                   coalesce(sum(size) filter (where size < $k), 0), count(*) filter (where size < $k)
            from classes
        """, {"k": k}).fetchone()
    finally:
        con.close()
    return KAnonymity(int(persons), int(smallest), int(under), int(classes), k)
