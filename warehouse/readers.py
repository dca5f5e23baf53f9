"""What a warehouse state holds: the data files of every table's snapshot, for DuckDB to read directly.

DuckDB cannot load its Iceberg extension on these machines (it is downloaded at run time), and it does not
need it: the tables are copy-on-write only (a correction replaces whole files, no delete files), so a
snapshot's list of data files *is* the table.
"""

from __future__ import annotations

from pathlib import Path

from warehouse.commits import local_path
from warehouse.iceberg import WarehouseError, identifier, load_table, open_catalog, require_catalog
from warehouse.states import State


def state_files(catalog, state: State) -> dict[str, list[Path]]:
    """The data files of every table at ``state`` (tables without data left out), checked to exist."""
    files = {}
    for table, snapshot_id in sorted(state.snapshots.items()):
        tbl = load_table(catalog, table)
        if tbl.snapshot_by_id(snapshot_id) is None:
            raise WarehouseError(f"table {identifier(table)} no longer has snapshot {snapshot_id} of warehouse "
                                 f"state {state.state_id}: restore the catalog database and warehouse/iceberg "
                                 "from the same backup (docs/operations.md, 'The warehouse')")
        tasks = list(tbl.scan(snapshot_id=snapshot_id).plan_files())
        if any(task.delete_files for task in tasks):
            raise WarehouseError(f"table {identifier(table)} has delete files (written by another engine?); "
                                 "these readers expect copy-on-write tables only")
        paths = sorted(local_path(task.file.file_path) for task in tasks)
        missing = [p for p in paths if not p.exists()]
        if missing:
            raise WarehouseError(f"table {identifier(table)}: {len(missing)} data file(s) of warehouse state "
                                 f"{state.state_id} are missing, e.g. {missing[0]}; restore them from the backup "
                                 f"of warehouse/iceberg, or publish their delivery again: {_rerun(missing[0])}")
        if paths:
            files[table] = paths
    return files


def _rerun(path: Path) -> str:
    """The command that republishes a data file's delivery (its name starts with the delivery id,
    ``<feed>-<partner>-<YYYYMMDD>-<sequence>-<sha>``)."""
    parts = path.name.split("-")
    if len(parts) >= 3 and parts[2].isdigit() and len(parts[2]) == 8:
        day = f"{parts[2][:4]}-{parts[2][4:6]}-{parts[2][6:]}"
        return f"`tesoma run --feed {parts[0]} --date {day}`"
    return "`tesoma run --feed <feed> --date <date>` (the file name starts with the delivery id)"


def files_for(place, state: State) -> dict[str, list[Path]]:
    if not state.snapshots:
        return {}
    require_catalog(place, state.snapshots)
    return state_files(open_catalog(place), state)


def read_table(data_root: Path, table: str, partner: str | None = None, delivery_date=None,
               state: State | None = None, ledger_url: str | None = None):
    """The published rows of ``table`` (one partition when ``partner``/``delivery_date`` are given) at
    ``state`` (default: the current one), as an Arrow table; None when nothing is published there."""
    import pyarrow.dataset as ds

    from warehouse import states
    from warehouse.iceberg import Place
    from warehouse.ledger import Ledger

    place = Place.for_root(Path(data_root), ledger_url)
    state = state or states.head(Ledger(place.ledger_url).engine)
    paths = files_for(place, state).get(table, [])
    if partner is not None:
        paths = [p for p in paths if p.parent.parent.name == f"partner={partner}"]
    if delivery_date is not None:
        paths = [p for p in paths if p.parent.name == f"delivery_date={delivery_date}"]
    if not paths:
        return None
    return ds.dataset([str(p) for p in paths], format="parquet").to_table()
