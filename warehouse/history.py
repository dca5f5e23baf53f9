"""The warehouse's history: tags that pin a state for good, and the expiry of everything else past retention.

Every publish makes a new *warehouse state* (``warehouse.states``) and, per changed table, a new Iceberg
snapshot; the replaced partition's old file stays on disk for the older snapshots. History is kept for
``TESOMA_SNAPSHOT_RETENTION_DAYS`` (400 days by default), after that it is expired:

- :func:`tag` pins a state under a name: the ledger's tag (``warehouse.states.tag``, never moved) and an
  Iceberg tag of the same name on each table's snapshot of that state, so other engines read it with
  ``VERSION AS OF '<name>'`` and Iceberg's own maintenance keeps it too;
- :func:`expire` removes the snapshots that no kept state needs and are older than the retention, marks
  the states that can no longer be read as expired (``warehouse.as_of`` then says so), and deletes the
  files that no remaining snapshot references. pyiceberg's expiry only edits the metadata and leaves
  every file on disk, so this module deletes them itself.

Kept always: the current state, every tagged state, every state younger than the retention, and each
table's current snapshot and Iceberg refs (tags and branches).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from warehouse import states
from warehouse.commits import local_path
from warehouse.iceberg import NAMESPACE, Place, WarehouseError, identifier, load_table, open_catalog

RETENTION_VARIABLE = "TESOMA_SNAPSHOT_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 400

FRESH = dt.timedelta(minutes=15)
"""Files this young are never deleted, referenced or not: a writer may be placing one and about to commit
it. The warehouse lock already keeps our publishes out during expiry; this also covers anything else."""

TAG_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")
"""Tag names: safe as Iceberg ref names in every engine's SQL (``VERSION AS OF '<name>'``) and in the
ledger's column (200 characters)."""


def retention_days() -> int:
    """Days of history to keep: ``TESOMA_SNAPSHOT_RETENTION_DAYS``, 400 when unset."""
    raw = os.environ.get(RETENTION_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    try:
        days = int(raw)
    except ValueError:
        days = -1
    if days < 0:
        raise ValueError(f"{RETENTION_VARIABLE}={raw!r} is not a number of days: set it to a whole number of "
                         f"days (0 or more, e.g. {DEFAULT_RETENTION_DAYS}), or unset it for the default "
                         f"{DEFAULT_RETENTION_DAYS}")
    return days


def check_tag_name(name: str) -> None:
    """Refuse a name that is no valid Iceberg ref or that ``as_of`` would read as something else."""
    if not TAG_NAME.fullmatch(name):
        problem = "use only letters, digits, '.', '_' and '-' (at most 200 characters)"
    elif name == "main":
        problem = "'main' is each Iceberg table's current branch"
    elif name.isdigit():
        problem = "a number is read as a warehouse state id"
    elif _reads_as_time(name):
        problem = "it is read as a time"
    else:
        return
    raise WarehouseError(f"tag name {name!r}: {problem}; choose another name, e.g. scorecard-2026-10")


def _reads_as_time(name: str) -> bool:
    try:
        dt.datetime.fromisoformat(name)
    except ValueError:
        return False
    return True


def tag(place: Place, name: str, state_id: int | None = None, note: str | None = None) -> states.State:
    """Pin a warehouse state (the current one by default) under ``name`` for good; returns the state.

    Under the warehouse lock, the ledger's tag (what keeps the state from expiry and what ``as_of`` reads; it
    never moves) and an Iceberg tag on each table's snapshot of the state, committed together: if a table
    cannot be tagged, the ledger's tag is not written either. Tagging the same state again is a no-op.
    """
    check_tag_name(name)
    engine = _ledger(place)
    catalog = open_catalog(place)
    # One lock for both: an expiry never sees the state untagged after the tag was asked for.
    with states.Publishing(engine, f"tag {name}") as session:
        state = session.tag(name, state_id, note)
        for table, snapshot_id in sorted(state.snapshots.items()):
            _tag_table(load_table(catalog, table), table, name, snapshot_id, state.state_id)
    return state


def _tag_table(tbl, table: str, name: str, snapshot_id: int, state_id: int) -> None:
    from pyiceberg.table.refs import SnapshotRefType

    ref = tbl.metadata.refs.get(name)
    if ref is not None and ref.snapshot_id == snapshot_id and ref.snapshot_ref_type == SnapshotRefType.TAG:
        return
    if ref is not None:
        raise WarehouseError(
            f"table {identifier(table)} already has an Iceberg {ref.snapshot_ref_type.value} {name!r} on snapshot "
            f"{ref.snapshot_id}, not on snapshot {snapshot_id} of warehouse state {state_id}: another engine wrote "
            "it (other engines must only read). Nothing was tagged; remove that ref, or choose another name, and "
            f"run `tesoma warehouse tag {name} --state {state_id}` again")
    if tbl.snapshot_by_id(snapshot_id) is None:
        raise WarehouseError(f"table {identifier(table)} no longer has snapshot {snapshot_id} of warehouse state "
                             f"{state_id}: restore the catalog database and warehouse/iceberg from the same "
                             "backup (docs/operations.md, 'The warehouse')")
    tbl.manage_snapshots().create_tag(snapshot_id, name).commit()


def expire(place: Place, keep_days: int, echo: Callable[[str], object] = print,
           now: dt.datetime | None = None) -> dict[str, int]:
    """Expire the history older than ``keep_days`` (but the kept states) and delete the files it held.

    Runs under the warehouse lock, so no publish commits meanwhile. ``now`` (default: the clock) is the
    moment the retention and the freshness of files are counted from. Returns the counts
    ``snapshots_expired``, ``states_expired``, ``files_deleted`` and ``bytes_deleted``. Safe to rerun:
    a second run finds nothing more to do.
    """
    if keep_days < 0:
        raise ValueError(f"keep_days must be 0 or more, not {keep_days}")
    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(days=keep_days)
    engine = _ledger(place)
    catalog = open_catalog(place)
    totals = {"snapshots_expired": 0, "states_expired": 0, "files_deleted": 0, "bytes_deleted": 0}
    with states.Publishing(engine, "expiry") as session:
        recorded = states.all_states(engine)
        expired_before = _expired_state_ids(engine)
        kept = [s for s in recorded if s.state_id == session.head.state_id or s.tags
                or (s.created_at is not None and s.created_at >= cutoff)]
        remaining: dict[str, set[int]] = {}
        for table in _tables(catalog, recorded):
            tbl = load_table(catalog, table)
            protected = {s.snapshots[table] for s in kept if table in s.snapshots}
            protected |= {ref.snapshot_id for ref in tbl.metadata.refs.values()}  # main (current), tags, branches
            doomed = [snap.snapshot_id for snap in tbl.metadata.snapshots
                      if snap.snapshot_id not in protected and snap.timestamp_ms < cutoff.timestamp() * 1000]
            if doomed:
                tbl.maintenance.expire_snapshots().by_ids(doomed).commit()
                tbl = tbl.refresh()
            remaining[table] = {snap.snapshot_id for snap in tbl.metadata.snapshots}
            files, size = _delete_unreferenced(tbl, fresh_since=now - FRESH)
            echo(f"{identifier(table)}: {len(doomed)} snapshot(s) expired, {len(remaining[table])} kept; "
                 f"{files} unreferenced file(s) deleted ({size / 1e6:.1f} MB)")
            totals["snapshots_expired"] += len(doomed)
            totals["files_deleted"] += files
            totals["bytes_deleted"] += size
    # An old, untagged state missing any of its snapshots can no longer be read: it is expired (also when
    # an earlier run died before marking it). Marked after the lock is released: on SQLite the lock is the
    # ledger's write lock, which another connection's write would wait for.
    kept_ids = {s.state_id for s in kept}
    unreadable = [s.state_id for s in recorded if s.state_id not in kept_ids and s.state_id not in expired_before
                  and any(snap not in remaining.get(t, ()) for t, snap in s.snapshots.items())]
    states.mark_expired(engine, unreadable)
    totals["states_expired"] = len(unreadable)
    return totals


def _tables(catalog, recorded: list[states.State]) -> list[str]:
    """Every table in the catalog's namespace, and every table a state names (a missing one fails clearly)."""
    from pyiceberg.exceptions import NoSuchNamespaceError

    try:
        names = {ident[-1] for ident in catalog.list_tables(NAMESPACE)}
    except NoSuchNamespaceError:
        names = set()
    return sorted(names | {t for s in recorded for t in s.snapshots})


def _expired_state_ids(engine: sa.Engine) -> set[int]:
    from warehouse.ledger import warehouse_states

    with engine.connect() as conn:
        return set(conn.execute(sa.select(warehouse_states.c.state_id)
                                .where(warehouse_states.c.expired_at.is_not(None))).scalars())


def referenced_files(tbl) -> set[Path]:
    """Every file the table's metadata still needs: the current metadata.json and those in its log, each
    snapshot's manifest list, its manifests and their live data (and delete) files, statistics files."""
    meta = tbl.metadata
    uris = {tbl.metadata_location, *(entry.metadata_file for entry in meta.metadata_log)}
    uris |= {f.statistics_path for f in (*meta.statistics, *meta.partition_statistics)}
    manifests = set()
    for snap in meta.snapshots:
        if snap.manifest_list:
            uris.add(snap.manifest_list)
        for manifest in snap.manifests(tbl.io):
            if manifest.manifest_path in manifests:
                continue  # manifests are shared between snapshots: read each once
            manifests.add(manifest.manifest_path)
            # Live entries only: a file a snapshot records as deleted is not read at that snapshot.
            uris |= {entry.data_file.file_path for entry in manifest.fetch_manifest_entry(tbl.io)}
    return {local_path(uri) for uri in uris | manifests}


def _delete_unreferenced(tbl, fresh_since: dt.datetime) -> tuple[int, int]:
    """Delete the files under the table's data/ and metadata/ that nothing references and that are older
    than ``fresh_since``, then the data folders left empty; returns (files, bytes) deleted."""
    keep = referenced_files(tbl)
    location = local_path(tbl.location())
    # Every file we think is referenced must be where we think it is; if one is not, our reading of the
    # paths may be wrong, and deleting by it could destroy live data: stop instead.
    log = {local_path(entry.metadata_file) for entry in tbl.metadata.metadata_log}  # kept, not read
    missing = sorted(p for p in keep - log if p.is_relative_to(location) and not p.exists())
    if missing:
        raise WarehouseError(f"table {identifier(tbl.name()[-1])}: {len(missing)} file(s) its snapshots reference "
                             f"are missing, e.g. {missing[0]}; expiry deletes nothing until they are back. Restore "
                             "them from the backup of warehouse/iceberg (docs/operations.md, 'The warehouse')")
    files, size = 0, 0
    for folder in (location / "data", location / "metadata"):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path in keep:
                continue
            stat = path.stat()
            if stat.st_mtime >= fresh_since.timestamp():
                continue
            path.unlink()
            files += 1
            size += stat.st_size
        # Deepest first, so a partition folder goes before its partner's folder.
        for path in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            if not any(path.iterdir()) and path.stat().st_mtime < fresh_since.timestamp():
                path.rmdir()
    return files, size


def _ledger(place: Place) -> sa.Engine:
    from warehouse.ledger import Ledger

    return Ledger(place.ledger_url).engine
