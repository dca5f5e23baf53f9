"""The canonical tables as Apache Iceberg tables (format v2) in a pyiceberg SQL catalog.

One Iceberg table per canonical table, ``tesoma.<table>``, partitioned by ``partner`` and
``delivery_date`` (identity): a delivery replaces exactly one partition of each of its tables. The data
files are our own deterministic Parquet files (``warehouse.publish.write_parquet``), added to the table
rather than rewritten by pyiceberg. Column descriptions are the Iceberg fields' docs.

Where the catalog is:

- ``TESOMA_ICEBERG_CATALOG_URL``: SQLAlchemy URL of the catalog database; by default
  ``sqlite:///<data root>/warehouse/iceberg/catalog.sqlite``;
- ``TESOMA_ICEBERG_WAREHOUSE``: where table data and metadata files go; by default
  ``file://<data root>/warehouse/iceberg``.

The catalog's tables (``iceberg_tables``) have the schema of Apache Iceberg's JDBC catalog, so Spark,
Trino and Flink open the same tables (docs/operations.md, "Other engines").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from warehouse.schemas import TABLES

CATALOG_NAME = "tesoma"
NAMESPACE = "tesoma"

PARTITION_COLUMNS = ("partner", "delivery_date")

PARTITION_FIELDS = {
    "partner": pa.field("partner", pa.string(), nullable=False,
                        metadata={"description": "Alliance partner whose delivery the row came in."}),
    "delivery_date": pa.field("delivery_date", pa.date32(), nullable=False,
                              metadata={"description": "Date of the delivery the row came in (its partition)."}),
}

PSEUDONYM_COLUMNS = frozenset({"person_id", "event_id"})
"""Pseudonyms and record ids: never in Iceberg metadata (no lower/upper bounds in manifests)."""


def is_pseudonym(column: str) -> bool:
    """A pseudonym or record id: the named ones and any later ``*_id`` column but the ledger's delivery id."""
    return column in PSEUDONYM_COLUMNS or (column.endswith("_id") and column != "delivery_id")


class WarehouseError(RuntimeError):
    """A problem with the Iceberg warehouse, worded for the operator: the table and what to do."""


class NeedsMigration(WarehouseError):
    """A data root with the pre-Iceberg layout (``warehouse/harmonised``)."""


@dataclass(frozen=True)
class Place:
    """Where a data root's Iceberg catalog and warehouse files are."""

    catalog_url: str
    warehouse: str  # a file:// URL
    ledger_url: str  # where the warehouse states are (the ledger)

    @classmethod
    def for_root(cls, data_root: Path, ledger_url: str | None = None) -> Place:
        root = Path(data_root).resolve()
        files = root / "warehouse" / "iceberg"
        url = os.environ.get("TESOMA_ICEBERG_CATALOG_URL") or f"sqlite:///{files / 'catalog.sqlite'}"
        warehouse = os.environ.get("TESOMA_ICEBERG_WAREHOUSE") or files.as_uri()
        ledger = ledger_url or os.environ.get("TESOMA_LEDGER_URL") or f"sqlite:///{root / 'ledger.sqlite'}"
        return cls(url, warehouse, ledger)

    @property
    def is_embedded(self) -> bool:
        return self.catalog_url.startswith("sqlite")


def refuse_old_layout(data_root: Path) -> None:
    """Stop on a data root whose warehouse is still one Parquet file per partition (before Iceberg)."""
    old = Path(data_root) / "warehouse" / "harmonised"
    if old.is_dir() and next(old.rglob("*.parquet"), None) is not None:
        raise NeedsMigration(f"{old} holds the warehouse in its pre-Iceberg layout: run `tesoma warehouse migrate` "
                             "once to turn it into Iceberg tables (the ledger's accounting is kept)")


def warehouse_schema(table: str) -> pa.Schema:
    """The canonical schema of ``table`` with the partition columns (``partner``, ``delivery_date``)."""
    schema = TABLES[table]
    for name, field in PARTITION_FIELDS.items():
        if name not in schema.names:
            schema = schema.append(field)
    return schema


def describe_warehouse(table: str) -> list[tuple[str, str, str]]:
    """(column, type, description) of a table as stored and read: with its partition columns."""
    return [(f.name, str(f.type), (f.metadata or {}).get(b"description", b"").decode())
            for f in warehouse_schema(table)]


def with_partition_columns(table: str, data: pa.Table, partner: str, delivery_date) -> pa.Table:
    """``data`` (a canonical table) with the partition columns filled in, in the warehouse schema's order."""
    n = data.num_rows
    constants = {"partner": pa.array([partner] * n, pa.string()),
                 "delivery_date": pa.array([delivery_date] * n, pa.date32())}
    # A file staged before a nullable column was added to the schema holds none of it: null there.
    columns = [data.column(f.name) if f.name in data.column_names
               else constants[f.name] if f.name in constants or not f.nullable else pa.nulls(n, f.type)
               for f in warehouse_schema(table)]
    return pa.Table.from_arrays(columns, schema=warehouse_schema(table))


def table_properties(table: str) -> dict[str, str]:
    """Iceberg table properties: format v2, no bounds for pseudonyms, compact metadata, commit retries."""
    props = {
        "format-version": "2",
        "write.parquet.compression-codec": "zstd",
        # A new partition's commit merges the manifests as they accumulate (warehouse.commits), so a
        # commit reads a handful, not one per delivery.
        "commit.manifest-merge.enabled": "true",
        "commit.manifest.min-count-to-merge": "50",
        # Small merged manifests: a correction rewrites the manifest holding the partition it replaces, and
        # at pyiceberg's 8 MiB that was every file of the table (p95 1.2 s at 5,000 snapshots).
        "commit.manifest.target-size-bytes": str(256 * 1024),
        # Old metadata.json files are deleted after each commit (the snapshots stay in the current one).
        "write.metadata.delete-after-commit.enabled": "true",
        "write.metadata.previous-versions-max": "20",
        # Parallel publishes of other writers: retry on fresh metadata with a jittered back-off.
        "commit.retry.num-retries": "10",
        "commit.retry.min-wait-ms": "50",
        "commit.retry.max-wait-ms": "2000",
        "commit.retry.total-timeout-ms": "120000",
        # A correction conflicts only with a writer of its own partition (the files it deletes must still
        # be there), not with new files elsewhere in the table (pyiceberg's default: serializable).
        "write.delete.isolation-level": "snapshot",
        "write.update.isolation-level": "snapshot",
    }
    # Bounds of a text column would copy its values into every manifest: text gets counts only, and
    # pseudonyms nothing at all. Numbers, dates and the partition columns keep their bounds (file skipping).
    props["write.metadata.metrics.default"] = "counts"
    for field in warehouse_schema(table):
        text = pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
        if is_pseudonym(field.name):
            mode = "none"
        elif field.name in PARTITION_COLUMNS or not text:
            mode = "full"
        else:
            continue
        props[f"write.metadata.metrics.column.{field.name}"] = mode
    return props


def identifier(table: str) -> str:
    return f"{NAMESPACE}.{table}"


def iceberg_schema(schema: pa.Schema):
    """An Iceberg schema for an Arrow schema: field ids in order, the descriptions as field docs."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import NestedField

    fields = [NestedField(field_id=i, name=f.name, field_type=_iceberg_type(f.type), required=not f.nullable,
                          doc=(f.metadata or {}).get(b"description", b"").decode() or None)
              for i, f in enumerate(schema, start=1)]
    return Schema(*fields)


def _iceberg_type(type_: pa.DataType):
    from pyiceberg import types as t

    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return t.StringType()
    if pa.types.is_timestamp(type_):
        return t.TimestamptzType() if type_.tz else t.TimestampType()
    if pa.types.is_date32(type_):
        return t.DateType()
    if pa.types.is_decimal(type_):
        return t.DecimalType(type_.precision, type_.scale)
    if pa.types.is_boolean(type_):
        return t.BooleanType()
    if pa.types.is_int8(type_) or pa.types.is_int16(type_) or pa.types.is_int32(type_):
        return t.IntegerType()  # Iceberg has no narrower integers; the files keep theirs (a valid promotion)
    if pa.types.is_int64(type_):
        return t.LongType()
    if pa.types.is_floating(type_):
        return t.DoubleType() if type_.bit_width == 64 else t.FloatType()
    raise TypeError(f"no Iceberg type for {type_}")


def partition_spec(schema):
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform

    return PartitionSpec(*[
        PartitionField(source_id=schema.find_field(name).field_id, field_id=1000 + i,
                       transform=IdentityTransform(), name=name)
        for i, name in enumerate(PARTITION_COLUMNS)])


def open_catalog(place: Place):
    """The pyiceberg SQL catalog at ``place`` (its folder created for the embedded SQLite default)."""
    from warehouse.lean_metadata import lean_sql_catalog

    if place.is_embedded:
        Path(place.catalog_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    props = {"uri": place.catalog_url, "warehouse": place.warehouse}
    try:
        return lean_sql_catalog(CATALOG_NAME, **props)
    except Exception as exc:
        raise WarehouseError(f"cannot open the Iceberg catalog at {_redact(place.catalog_url)}: {exc}. Check "
                             "TESOMA_ICEBERG_CATALOG_URL, or restore the catalog database from its backup "
                             "(docs/operations.md, 'The warehouse')") from exc


def require_catalog(place: Place, tables: dict[str, int]) -> None:
    """Refuse to go on when the embedded catalog file is gone but the ledger records tables in it (opening
    it would silently create an empty catalog)."""
    if not tables or not place.is_embedded:
        return
    path = Path(place.catalog_url.removeprefix("sqlite:///"))
    if not path.exists():
        raise WarehouseError(f"the Iceberg catalog {path} is missing, but the ledger's warehouse state records "
                             f"tables in it ({', '.join(identifier(t) for t in sorted(tables))}): restore it and "
                             "warehouse/iceberg from the same backup (docs/operations.md, 'The warehouse')")


def load_table(catalog, table: str, create: bool = False):
    """The Iceberg table ``tesoma.<table>``; created (empty) when missing and ``create``."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    try:
        return _with_name_mapping(catalog.load_table(identifier(table)))
    except (NoSuchTableError, NoSuchNamespaceError):
        if not create:
            raise WarehouseError(f"table {identifier(table)} is not in the Iceberg catalog: restore the catalog "
                                 "database and warehouse/iceberg from the same backup (docs/operations.md, "
                                 "'The warehouse')") from None
    except Exception as exc:
        raise WarehouseError(f"table {identifier(table)}: the Iceberg catalog or its metadata cannot be read "
                             f"({exc}); restore the catalog database and warehouse/iceberg from the same "
                             "backup (docs/operations.md, 'The warehouse')") from exc
    schema = iceberg_schema(warehouse_schema(table))
    # Our Parquet files carry no Iceberg field ids: every reader (pyiceberg, Spark, Trino) maps their columns
    # to the table's fields by name through the table's default name mapping.
    properties = {**table_properties(table), NAME_MAPPING: schema.name_mapping.model_dump_json()}
    try:
        catalog.create_namespace_if_not_exists(NAMESPACE)
        return catalog.create_table_if_not_exists(
            identifier(table), schema, partition_spec=partition_spec(schema), properties=properties)
    except Exception:  # another process created it first (a unique violation, worded by each driver)
        return _with_name_mapping(catalog.load_table(identifier(table)))


NAME_MAPPING = "schema.name-mapping.default"


def _with_name_mapping(tbl):
    """A table made by an earlier version gets the columns and properties added since, and the name mapping
    (once; metadata-only commits)."""
    from pyiceberg.exceptions import CommitFailedException

    name = tbl.name()[-1]
    if name in TABLES:
        tbl = _with_new_columns(tbl, name)
    mapping = tbl.schema().name_mapping.model_dump_json()
    wanted = {**(table_properties(name) if name in TABLES else {}), NAME_MAPPING: mapping}
    wanted.pop("format-version")  # a field of the metadata, not a property, once the table exists
    missing = {k: v for k, v in wanted.items() if k not in tbl.properties
               or (k == NAME_MAPPING and tbl.properties[k] != mapping)}  # columns were added: map them too
    if missing:
        try:
            with tbl.transaction() as tx:
                tx.set_properties(**missing)
        except CommitFailedException:
            tbl.refresh()  # another process upgraded it at the same moment
    return tbl


def _with_new_columns(tbl, name: str):
    """Schema evolution: the canonical columns a table made by an earlier version lacks are added (optional,
    at the end; Iceberg gives them new field ids). Files written before read them as null."""
    from pyiceberg.exceptions import CommitFailedException

    have = {f.name for f in tbl.schema().fields}
    new = [f for f in warehouse_schema(name) if f.name not in have]
    if not new:
        return tbl
    required = [f.name for f in new if not f.nullable]
    if required:
        raise WarehouseError(f"table {identifier(name)} lacks the required column(s) {', '.join(required)}, which "
                             "cannot be added to existing rows: migrate the table (warehouse.migrate)")
    try:
        with tbl.update_schema() as update:
            for f in new:
                doc = (f.metadata or {}).get(b"description", b"").decode() or None
                update.add_column(f.name, _iceberg_type(f.type), doc=doc)
    except CommitFailedException:
        tbl.refresh()  # another process added them at the same moment
    return tbl


def _redact(url: str) -> str:
    """A database URL without its password, for messages."""
    import re

    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)
