"""`tesoma warehouse migrate`: a data root of the pre-Iceberg layout turned into the Iceberg tables, once.

Before Iceberg, each partition was one Parquet file,
``warehouse/harmonised/<table>/partner=<p>/delivery_date=<YYYY-MM-DD>/part-0.parquet``, in the table's
canonical schema without the partition columns; its ``delivery_id`` column names the delivery whose rows
it holds. The migration adds every such partition to the table ``tesoma.<table>`` and records one
warehouse state for all of them, in four steps:

1. **Survey** (reads only): every old file is checked — a canonical table, a folder naming a partner and
   a date, the canonical columns, one ``delivery_id`` that the ledger has for that partner and date —
   and compared with what the tables hold at the current state. Any problem stops the migration here,
   before anything is written, with a :class:`WarehouseError` naming the files and what to do. It stops
   rather than skips: the old folder is renamed at the end, so a skipped file would silently take its
   published rows out of the warehouse. (A file without rows has nothing to migrate: it is left out,
   with a line saying so.)
2. **Place**: each file is copied to its data path in the table (``warehouse.commits.data_file_path``,
   named by delivery and content), the partition columns added. This is the slow part, so it runs
   before the warehouse lock is taken (the lock holds the ledger's write lock on SQLite); a file placed
   but never committed is harmless, and a rerun finds it in place.
3. **Commit**, under the warehouse lock (:class:`warehouse.states.Publishing`): per table, the commits
   no state records are rolled back, then one Iceberg commit adds all of the table's partitions that are
   not there yet (summary ``tesoma.migration``); then one warehouse state records every table. The
   ledger's deliveries are not touched: their ``rows_published`` stay as they are.
4. **Rename** ``warehouse/harmonised`` to ``warehouse/harmonised.pre-iceberg``, so the other commands
   stop refusing the data root (:func:`warehouse.iceberg.refuse_old_layout`); it is deleted by hand
   once the warehouse is checked.

Idempotent: killed before step 4, nothing is visible (no state, the old folder in place) and a rerun
completes; a partition the table already holds at the current state with the same file is skipped; after
step 4 a rerun finds nothing to migrate. The analysts' catalog is not rebuilt here (``steps.refresh_catalog``).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from warehouse import commits, states
from warehouse.iceberg import Place, WarehouseError, identifier, load_table, open_catalog
from warehouse.ledger import Ledger, deliveries
from warehouse.publish import PART_FILE
from warehouse.schemas import TABLES

OLD_FOLDER = "harmonised"
MIGRATED_FOLDER = "harmonised.pre-iceberg"
SUMMARY = {"tesoma.migration": "pre-iceberg layout"}

_PARTITION = re.compile(r"^partner=(?P<partner>[^/]+)/delivery_date=(?P<date>\d{4}-\d{2}-\d{2})$")
_EPOCH = dt.date(1970, 1, 1)
_SHOWN = 5  # problems named in one error; the rest are counted


@dataclass(frozen=True)
class OldPartition:
    """One file of the old layout, checked against the ledger."""

    table: str
    partner: str
    delivery_date: dt.date
    path: Path
    delivery_id: str
    content_sha256: str  # of the delivered file, as the ledger has it
    rows: int

    @property
    def key(self) -> tuple[str, dt.date]:
        return self.partner, self.delivery_date

    def change(self) -> commits.PartitionChange:
        return commits.PartitionChange(self.table, self.partner, self.delivery_date, self.path, self.delivery_id,
                                       self.content_sha256)


def migrate(data_root: Path, ledger_url: str | None = None, echo: Callable[[str], None] = print) -> dict:
    """Turn ``data_root``'s old layout into the Iceberg tables (see the module's docstring).

    Returns ``partitions`` (added now), ``tables`` (found in the old layout), ``skipped`` (already in the
    tables), ``empty`` (old files without rows, left out) and ``state_id`` (the current warehouse state).
    """
    root = Path(data_root).resolve()
    old = root / "warehouse" / OLD_FOLDER
    place = Place.for_root(root, ledger_url)
    engine = Ledger(place.ledger_url).engine
    files = _old_files(old)
    if not files:
        head = states.head(engine)
        where = root / "warehouse" / MIGRATED_FOLDER
        echo(f"nothing to migrate: {old} holds no Parquet files"
             + (f" (the old files are in {where})" if where.is_dir() else ""))
        return {"partitions": 0, "tables": 0, "skipped": 0, "empty": 0, "state_id": head.state_id}

    echo(f"found {len(files)} partition files in {old}; checking them against the ledger")
    by_table, empty = _survey(old, files, engine, echo)
    catalog = open_catalog(place)
    tables = {t: load_table(catalog, t, create=True) for t in by_table}
    everything = [p for parts in by_table.values() for p in parts]
    # Named by the old file's content (a hash of every file): the same file always gets the same path.
    targets = dict(zip(everything, _parallel(lambda p: commits.data_file_path(tables[p.table], p.change()),
                                             everything), strict=True))
    head = states.head(engine)
    for table, parts in by_table.items():  # conflicts found before anything is written
        _plan(tables[table], head.snapshots.get(table), parts, targets)
    _place(t for t in targets.items() if not commits.local_path(t[1]).exists())

    added = skipped = 0
    with states.Publishing(engine, "migration") as session:
        plans = {}
        for table, parts in by_table.items():
            base = session.head.snapshots.get(table)
            tables[table] = commits.roll_back_to(tables[table], base)
            plans[table] = _plan(tables[table], base, parts, targets)
        # Placed before the lock; put back if anything (a hand, an expiry) removed it since.
        _place((p, targets[p]) for new, there in plans.values() for p in new + there
               if not commits.local_path(targets[p]).exists())
        snapshots = {}
        for table, (new, there) in plans.items():
            snapshots[table] = _commit(tables[table], new, targets) if new else None
            added, skipped = added + len(new), skipped + len(there)
            echo(f"{table}: {len(new)} partitions added ({sum(p.rows for p in new)} rows), "
                 f"{len(there)} already there")
        state = session.advance(snapshots, None)

    moved = _set_aside(old)
    echo(f"warehouse state {state.state_id} holds the migrated tables; the old files are now in {moved}")
    echo("check the warehouse against a figure noted before the migration, e.g. "
         '`tesoma query "select count(*) from service_event"`, and refresh the analysts\' catalog (the `catalog` '
         "DAG) so their views read the Iceberg tables")
    echo(f"once checked, delete the old files: rm -r '{moved}'")
    return {"partitions": added, "tables": len(by_table), "skipped": skipped, "empty": empty,
            "state_id": state.state_id}


def _old_files(old: Path) -> list[Path]:
    if not old.is_dir():
        return []
    return sorted(p for p in old.rglob("*.parquet") if not p.name.startswith("."))


def _survey(old: Path, files: list[Path], engine: sa.Engine,
            echo: Callable[[str], None]) -> tuple[dict[str, list[OldPartition]], int]:
    """The old files by table (canonical table order), checked; stops on any problem. Also the number of
    files without rows (left out)."""
    problems: list[str] = []
    found: list[tuple[str, str, dt.date, Path, str, int]] = []
    empty = 0
    for path in files:
        parsed = _where(old, path)
        if isinstance(parsed, str):
            problems.append(f"{path}: {parsed}")
            continue
        table, partner, delivery_date = parsed
        read = _delivery_of(table, path)
        if isinstance(read, str):
            problems.append(f"{path}: {read}")
        elif read is None:
            empty += 1
            echo(f"{table}: {path.relative_to(old)} holds no rows: nothing to migrate, left out")
        else:
            found.append((table, partner, delivery_date, path, *read))
    ledger = _ledger_rows(engine, {f[4] for f in found})
    by_table: dict[str, list[OldPartition]] = {}
    unsettled: dict[str, str] = {}
    for table, partner, delivery_date, path, delivery_id, rows in found:
        row = ledger.get(delivery_id)
        if row is None:
            problems.append(f"{path}: its delivery {delivery_id} is not in the ledger — restore the ledger from "
                            "the backup taken with this data root, or move the file out of the warehouse folder "
                            "(its rows then leave the warehouse; rerun its feed and date after the migration)")
            continue
        if (row["partner"], row["delivery_date"]) != (partner, delivery_date):
            problems.append(f"{path}: the ledger has its delivery {delivery_id} for partner {row['partner']}, "
                            f"{row['delivery_date']}, not for this folder — move the file out of the warehouse "
                            "folder and rerun that feed and date after the migration")
            continue
        if row["state"] != "published":
            unsettled[delivery_id] = f"{row['feed']} --date {delivery_date.isoformat()}"
        by_table.setdefault(table, []).append(
            OldPartition(table, partner, delivery_date, path, delivery_id, row["sha256"], rows))
    if problems:
        more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
        raise WarehouseError(f"{len(problems)} file(s) of the old warehouse layout cannot be migrated; nothing "
                             f"was changed: " + "; ".join(problems[:_SHOWN]) + more
                             + ". Then run `tesoma warehouse migrate` again")
    for delivery_id, rerun in sorted(unsettled.items()):
        echo(f"note: delivery {delivery_id} is not 'published' in the ledger, yet its rows were in the old "
             f"warehouse: they are migrated as readers saw them; settle it afterwards with "
             f"`tesoma run --feed {rerun}`")
    return {t: sorted(by_table[t], key=lambda p: p.key) for t in TABLES if t in by_table}, empty


def _where(old: Path, path: Path) -> tuple[str, str, dt.date] | str:
    """(table, partner, delivery date) from an old file's place, or what is wrong with it."""
    parts = path.relative_to(old).parts
    if len(parts) != 4 or parts[3] != PART_FILE:
        return (f"not a partition file of the old layout (<table>/partner=<p>/delivery_date=<d>/{PART_FILE}) — "
                "move it out of the warehouse folder")
    table = parts[0]
    if table not in TABLES:
        return f"{table} is not a canonical table ({', '.join(TABLES)}) — move it out of the warehouse folder"
    match = _PARTITION.match(f"{parts[1]}/{parts[2]}")
    try:
        return table, match["partner"], dt.date.fromisoformat(match["date"])
    except (TypeError, ValueError):
        return "its folders name no partner and delivery date — move it out of the warehouse folder"


def _delivery_of(table: str, path: Path) -> tuple[str, int] | str | None:
    """(delivery id, rows) of an old file; None when it has no rows; or what is wrong with it."""
    canonical = TABLES[table]
    try:
        schema = pq.read_schema(path)
        # A nullable column added to the canonical table later (schema evolution) may be missing: the
        # Iceberg table reads it as null from such a file.
        wrong = [f.name for f in canonical
                 if (f.name not in schema.names and not f.nullable)
                 or (f.name in schema.names and not schema.field(f.name).type.equals(f.type))]
        if wrong:
            return (f"its columns {', '.join(wrong)} are missing or not of the canonical type of {table} — move "
                    "the file out of the warehouse folder and rerun its feed and date after the migration")
        ids = pc.unique(pq.read_table(path, columns=["delivery_id"]).column("delivery_id")).drop_null()
        rows = pq.read_metadata(path).num_rows
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        return (f"cannot be read ({type(exc).__name__}: {exc}) — restore it from the backup, or move it out of the "
                "warehouse folder and rerun its feed and date after the migration")
    if rows == 0:
        return None
    if len(ids) != 1:
        return (f"holds {len(ids)} delivery ids, not one — move it out of the warehouse folder and rerun its "
                "feed and date after the migration")
    return ids[0].as_py(), rows


def _ledger_rows(engine: sa.Engine, delivery_ids: set[str]) -> dict[str, sa.RowMapping]:
    found = {}
    ordered = sorted(delivery_ids)
    with engine.connect() as conn:
        for i in range(0, len(ordered), 500):  # within every database's limit of bound parameters
            chunk = ordered[i:i + 500]
            for row in conn.execute(sa.select(deliveries).where(deliveries.c.delivery_id.in_(chunk))).mappings():
                found[row["delivery_id"]] = row
    return found


def _plan(tbl, base: int | None, parts: list[OldPartition],
          targets: dict[OldPartition, str]) -> tuple[list[OldPartition], list[OldPartition]]:
    """(to add, already there) of a table's old partitions, at snapshot ``base``. A partition the table
    holds with other files stops the migration: which rows are right is the operator's call."""
    present = _present(tbl, base)
    new, there = [], []
    for part in parts:
        files = present.get(part.key, [])
        if not files:
            new.append(part)
        elif files == [targets[part]]:
            there.append(part)
        else:
            raise WarehouseError(
                f"table {identifier(part.table)}: partition partner={part.partner}/delivery_date="
                f"{part.delivery_date.isoformat()} already holds {', '.join(Path(f).name for f in files)} at the "
                f"current warehouse state, not the old layout's delivery {part.delivery_id} ({part.path}); nothing "
                "was changed. If the table is right, move the old file out of the warehouse folder; if the old "
                "file is, rerun its feed and date after the migration. Then run `tesoma warehouse migrate` again")
    return new, there


def _present(tbl, snapshot_id: int | None) -> dict[tuple[str, dt.date], list[str]]:
    """The data files of every partition of the table at ``snapshot_id``."""
    if snapshot_id is None:
        return {}
    present: dict[tuple[str, dt.date], list[str]] = {}
    for task in tbl.scan(snapshot_id=snapshot_id).plan_files():
        partner, days = task.file.partition[0], task.file.partition[1]
        present.setdefault((partner, _EPOCH + dt.timedelta(days=days)), []).append(task.file.file_path)
    return {key: sorted(files) for key, files in present.items()}


def _place(pending) -> None:
    """Copy old files to their data paths, with the partition columns."""
    _parallel(lambda item: commits.place_file(item[0].change(), commits.local_path(item[1])), list(pending))


def _parallel(work: Callable, items: list) -> list:
    """``work`` over independent files, a few at once: Arrow and hashing release the interpreter lock."""
    if len(items) < 2:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(work, items))


def _commit(tbl, new: list[OldPartition], targets: dict[OldPartition, str]) -> int:
    """One commit adding the placed files of ``new``; returns its snapshot id."""
    from pyiceberg.exceptions import CommitFailedException

    table = new[0].table
    summary = {**SUMMARY, "tesoma.partitions": str(len(new))}
    try:
        with commits.lean_transaction(tbl) as tx:
            metadata = tx.table_metadata
            data_files = _parallel(lambda p: commits.data_file(tbl, metadata, targets[p]), new)
            with tx.update_snapshot(snapshot_properties=summary).fast_append() as append:
                for data_file in data_files:
                    append.append_data_file(data_file)
    except CommitFailedException as exc:
        raise WarehouseError(f"table {identifier(table)}: the migration's commit conflicted with another writer "
                             f"({exc}); nothing of it is visible — stop the other writers (pause the DAGs) and run "
                             "`tesoma warehouse migrate` again") from exc
    return tbl.current_snapshot().snapshot_id


def _set_aside(old: Path) -> Path:
    """Rename the old folder out of the way (a free name, should an earlier one still be there)."""
    target, n = old.with_name(MIGRATED_FOLDER), 1
    while target.exists():
        n += 1
        target = old.with_name(f"{MIGRATED_FOLDER}-{n}")
    try:
        old.rename(target)
    except OSError as exc:
        raise WarehouseError(f"the migration is committed, but {old} could not be renamed to {target} ({exc}): "
                             "rename it by hand (the other commands refuse the data root while it is there)") from exc
    return target
