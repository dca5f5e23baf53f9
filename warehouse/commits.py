"""Commits to the Iceberg tables: a delivery's partition replaced in one commit per table.

A commit is always made on top of the snapshot the current *warehouse state* records for the table
(``warehouse.states``). A commit that no state records — left by a publish killed after its table commit
but before the state was advanced — is rolled back first, so readers and the ledger never disagree about
what a table holds. Publishing the same staged file again finds it already in place and commits nothing.

:func:`replace_partitions` does the same for several partitions of a table in one commit: a backfill's
batch of deliveries pays one commit per table, not one per delivery.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow.parquet as pq

from warehouse.iceberg import WarehouseError, identifier, load_table, warehouse_schema, with_partition_columns
from warehouse.lean_metadata import lean_transaction


class _NoMissingStatistics(logging.Filter):
    """pyiceberg warns for every column a data file has no statistics for; ours are left out on purpose
    (pseudonyms and free text: ``warehouse.publish._with_statistics``), so the warning is only noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("PyArrow statistics missing")


logging.getLogger("pyiceberg.io.pyarrow").addFilter(_NoMissingStatistics())


@dataclass(frozen=True)
class PartitionChange:
    """One table's part of a delivery: its partition becomes exactly ``staged`` (or empty with 0 rows)."""

    table: str
    partner: str
    delivery_date: dt.date
    staged: Path
    delivery_id: str
    content_sha256: str  # of the delivered file, as the ledger has it


def replace_partition(catalog, change: PartitionChange, base_snapshot_id: int | None) -> int | None:
    """Make the partition of ``change`` hold exactly its staged rows, in one commit on top of
    ``base_snapshot_id``; returns the snapshot the warehouse state should now record for the table."""
    tbl = load_table(catalog, change.table, create=True)
    tbl = roll_back_to(tbl, base_snapshot_id)
    current = partition_files(tbl, base_snapshot_id, change.partner, change.delivery_date)
    rows = pq.read_metadata(change.staged).num_rows
    target = data_file_path(tbl, change) if rows else None
    if sorted(f.file_path for f in current) == ([target] if target else []):
        if target is not None and not local_path(target).exists():
            place_file(change, local_path(target))  # deleted behind the catalog's back: the same bytes again
        return base_snapshot_id  # already published: no new snapshot
    if not current and target is None:
        return base_snapshot_id
    summary = {"tesoma.delivery-id": change.delivery_id, "tesoma.content-sha256": change.content_sha256,
               "tesoma.partition": f"{change.partner}/{change.delivery_date.isoformat()}"}
    new_file = None
    if target is not None:
        place_file(change, local_path(target))
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    try:
        with lean_transaction(tbl) as tx:
            if target is not None:
                new_file = data_file(tbl, tx.table_metadata, target)
            update = tx.update_snapshot(snapshot_properties=summary)
            # A new partition is an append that merges small manifests as they pile up (one per delivery
            # otherwise); a correction replaces the files in an overwrite.
            with (update.overwrite() if current else update.merge_append()) as change_files:
                for old in current:
                    change_files.delete_data_file(old)
                if new_file is not None:
                    change_files.append_data_file(new_file)
    except (CommitFailedException, ValidationException) as exc:
        retries = tbl.properties.get("commit.retry.num-retries", "?")
        raise WarehouseError(f"table {identifier(change.table)}: the commit of {change.delivery_id} still conflicted "
                             f"with other writers after {retries} retries ({exc}); nothing of it is visible and the "
                             "ledger is unchanged — rerun the publish when the other writers are done") from exc
    return tbl.current_snapshot().snapshot_id


def replace_partitions(catalog, table: str, changes: list[PartitionChange], base_snapshot_id: int | None
                       ) -> int | None:
    """:func:`replace_partition` for several partitions of one table at once: each partition of ``changes``
    holds exactly its staged rows after ONE commit on top of ``base_snapshot_id`` (a batch of deliveries,
    ``tesoma.steps.batches``). Partitions already holding their staged file are left as they are; when
    all are, nothing is committed. Returns the snapshot the warehouse state should now record for the table.

    The partitions must differ (one change per partner and date): which delivery of a date counts is the
    caller's decision, made before (``warehouse.ledger.newest``).
    """
    keys = [(c.partner, c.delivery_date) for c in changes]
    if len(set(keys)) != len(keys):
        doubled = sorted({f"{p}/{d.isoformat()}" for p, d in keys if keys.count((p, d)) > 1})
        raise ValueError(f"table {table}: several changes for partition(s) {', '.join(doubled)}; "
                         "a batch publishes one delivery per partner and date")
    if any(c.table != table for c in changes):
        raise ValueError(f"replace_partitions({table!r}) was given changes of other tables")
    if not changes:
        return base_snapshot_id
    tbl = load_table(catalog, table, create=True)
    tbl = roll_back_to(tbl, base_snapshot_id)
    current = _files_by_partition(tbl, base_snapshot_id, keys)
    deletes, appends, committed = [], [], []
    for change in changes:
        files = current.get((change.partner, change.delivery_date), [])
        rows = pq.read_metadata(change.staged).num_rows
        target = data_file_path(tbl, change) if rows else None
        if sorted(f.file_path for f in files) == ([target] if target else []):
            if target is not None and not local_path(target).exists():
                place_file(change, local_path(target))  # deleted behind the catalog's back: the same bytes again
            continue  # this partition is already published
        if target is not None:
            place_file(change, local_path(target))
            appends.append(target)
        deletes += files
        committed.append(change)
    if not committed:
        return base_snapshot_id
    summary = {"tesoma.delivery-ids": ",".join(c.delivery_id for c in committed),
               "tesoma.partitions": ",".join(f"{c.partner}/{c.delivery_date.isoformat()}" for c in committed)}
    if len(committed) == 1:  # the same summary as a single delivery's commit
        summary.update({"tesoma.delivery-id": committed[0].delivery_id,
                        "tesoma.content-sha256": committed[0].content_sha256})
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    try:
        with lean_transaction(tbl) as tx:
            new_files = [data_file(tbl, tx.table_metadata, path) for path in appends]
            update = tx.update_snapshot(snapshot_properties=summary)
            # As in replace_partition: new partitions only are an append that merges small manifests;
            # any replaced partition makes it an overwrite.
            with (update.overwrite() if deletes else update.merge_append()) as change_files:
                for old in deletes:
                    change_files.delete_data_file(old)
                for new_file in new_files:
                    change_files.append_data_file(new_file)
    except (CommitFailedException, ValidationException) as exc:
        retries = tbl.properties.get("commit.retry.num-retries", "?")
        raise WarehouseError(f"table {identifier(table)}: the commit of a batch of {len(committed)} deliveries "
                             f"still conflicted with other writers after {retries} retries ({exc}); nothing of it is "
                             "visible and the ledger is unchanged — rerun the batch when the other writers are done"
                             ) from exc
    return tbl.current_snapshot().snapshot_id


def _files_by_partition(tbl, snapshot_id: int | None, keys: list[tuple[str, dt.date]]) -> dict[tuple, list]:
    """The data files of each (partner, delivery date) partition at ``snapshot_id``, in one scan."""
    if snapshot_id is None:
        return {}
    from pyiceberg.expressions import And, EqualTo, Or

    clauses = [And(EqualTo("partner", p), EqualTo("delivery_date", d.isoformat())) for p, d in keys]
    row_filter = clauses[0] if len(clauses) == 1 else Or(*clauses)
    wanted = set(keys)
    found: dict[tuple, list] = {}
    for task in tbl.scan(row_filter=row_filter, snapshot_id=snapshot_id).plan_files():
        key = _partition_of(tbl, task.file)
        if key in wanted:
            found.setdefault(key, []).append(task.file)
    return found


def _partition_of(tbl, data_file_) -> tuple[str, dt.date]:
    """(partner, delivery date) of a data file, from its partition record under the file's spec."""
    spec = tbl.specs()[data_file_.spec_id]
    schema = tbl.schema()
    values = {schema.find_column_name(field.source_id): data_file_.partition[i]
              for i, field in enumerate(spec.fields)}
    day = values["delivery_date"]
    if isinstance(day, int):  # Iceberg keeps a date as days since 1970-01-01
        day = _EPOCH + dt.timedelta(days=day)
    return values["partner"], day


_EPOCH = dt.date(1970, 1, 1)


def roll_back_to(tbl, snapshot_id: int | None):
    """Discard the commits after ``snapshot_id`` that no warehouse state records (a killed publish's)."""
    current = tbl.current_snapshot()
    if (current.snapshot_id if current else None) == snapshot_id:
        return tbl
    if snapshot_id is None:
        from pyiceberg.expressions import AlwaysTrue

        with lean_transaction(tbl) as tx:
            tx.delete(AlwaysTrue(), snapshot_properties={"tesoma.rollback": "to-empty"})
        return tbl
    if tbl.snapshot_by_id(snapshot_id) is None:
        raise WarehouseError(f"table {identifier(tbl.name()[-1])}: the warehouse state records snapshot "
                             f"{snapshot_id}, which the table no longer has; restore the catalog database and "
                             "warehouse/iceberg from the same backup (docs/operations.md, 'The warehouse')")
    tbl.manage_snapshots().set_current_snapshot(snapshot_id=snapshot_id).commit()
    return tbl


def partition_files(tbl, snapshot_id: int | None, partner: str, delivery_date: dt.date) -> list:
    """The data files of one partition at ``snapshot_id`` (none before the table's first state)."""
    if snapshot_id is None:
        return []
    from pyiceberg.expressions import And, EqualTo

    row_filter = And(EqualTo("partner", partner), EqualTo("delivery_date", delivery_date.isoformat()))
    return [task.file for task in tbl.scan(row_filter=row_filter, snapshot_id=snapshot_id).plan_files()]


def data_file_path(tbl, change: PartitionChange) -> str:
    """Where the staged file goes: named by delivery and content, so the same content is the same file."""
    digest = file_sha256(change.staged)[:16]
    return (f"{tbl.location().rstrip('/')}/data/partner={change.partner}/"
            f"delivery_date={change.delivery_date.isoformat()}/{change.delivery_id}-{digest}.parquet")


def place_file(change: PartitionChange, final: Path) -> None:
    """Copy the staged file to ``final`` (the partition columns added if an older staging lacks them),
    written beside it and renamed, so a file in place is always whole."""
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.*"):
        stale.unlink(missing_ok=True)  # left by a publish killed while copying
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", dir=final.parent)
    tmp = Path(name)
    try:
        os.close(fd)
        if set(warehouse_schema(change.table).names) <= set(pq.read_schema(change.staged).names):
            with change.staged.open("rb") as src, tmp.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
        else:
            from warehouse.publish import write_parquet

            data = with_partition_columns(change.table, pq.read_table(change.staged), change.partner,
                                          change.delivery_date)
            write_parquet(data, tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def data_file(tbl, metadata, path: str):
    from pyiceberg.io.pyarrow import parquet_file_to_data_file

    return parquet_file_to_data_file(tbl.io, metadata, path)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def local_path(uri: str) -> Path:
    """A ``file://`` URI of a data file as a local path (DuckDB reads the files directly)."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise WarehouseError(f"warehouse location {uri} is not a local path; TESOMA_ICEBERG_WAREHOUSE must be "
                             "a file:// URL (object stores are not supported yet)")
    return Path(unquote(parsed.path))
