"""Table-metadata updates without pyiceberg's defensive deep copies (pinned to pyiceberg 0.12).

pyiceberg 0.12 applies a commit's updates to the table metadata and then deep-copies the result, every
time a transaction reads ``table_metadata`` (about 16 times per commit) and once more in the catalog's
commit. The copy walks every snapshot: 5 ms per copy at 200 snapshots, growing linearly, so commits slowed
from 60 ms to seconds as a table's history grew. The metadata models are frozen pydantic models and the
updates build new objects (``model_copy(update=…)``), so the copy protects nothing we rely on: this module
applies the same updates without it, and keeps parsed metadata by location (:data:`_PARSED`).
``tests/unit/test_lean_metadata.py`` holds the results equal to pyiceberg's own.
"""

from __future__ import annotations

from datetime import datetime


def apply_updates(base, updates: tuple, metadata_location: str | None = None):
    """``pyiceberg.table.update.update_table_metadata`` for an existing table, minus the final deep copy."""
    from pyiceberg.table.update import (
        _apply_table_update,
        _TableMetadataUpdateContext,
        _update_table_metadata_log,
    )
    from pyiceberg.utils.datetime import datetime_to_millis

    context = _TableMetadataUpdateContext()
    metadata = base
    for update in updates:
        metadata = _apply_table_update(update, metadata, context)
    if context.has_changes():
        if metadata_location:
            metadata = _update_table_metadata_log(metadata, metadata_location, base.last_updated_ms)
        if base.last_updated_ms == metadata.last_updated_ms:
            metadata = metadata.model_copy(update={"last_updated_ms": datetime_to_millis(datetime.now().astimezone())})
    metadata.spec().check_compatible(metadata.schema())
    metadata.sort_order().check_compatible(metadata.schema())
    return metadata


def lean_transaction(tbl):
    """A pyiceberg transaction that reads its metadata through :func:`apply_updates`, once per change."""
    from pyiceberg.table import Transaction

    class _LeanTransaction(Transaction):
        _memo: tuple | None = None

        @property
        def table_metadata(self):
            key = (id(self._table.metadata), len(self._updates))
            if self._memo is None or self._memo[0] != key:
                self._memo = (key, apply_updates(self._table.metadata, self._updates))
            return self._memo[1]

    return _LeanTransaction(tbl)


def lean_sql_catalog(name: str, **properties):
    """pyiceberg's SQL catalog, whose commit applies the updates through :func:`apply_updates`."""
    from pyiceberg.catalog import Catalog, MetastoreCatalog
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import StagedTable, Table
    from pyiceberg.table.locations import load_location_provider

    from warehouse.engines import engine_for, shared

    class _LeanSqlCatalog(SqlCatalog):
        def __init__(self, name: str, **props):
            super().__init__(name, **props)
            uri = props.get("uri", "")
            if shared(uri):  # one pool per process for a server catalog (warehouse.engines), not one per open
                self.engine.dispose()
                self.engine = engine_for(uri)

        def _convert_orm_to_iceberg(self, orm_table):
            location = orm_table.metadata_location
            metadata = _PARSED.get(location)
            if metadata is None or not orm_table.table_namespace or not orm_table.table_name:
                table = super()._convert_orm_to_iceberg(orm_table)
                _remember(location, table.metadata)
                return table
            return Table(identifier=Catalog.identifier_to_tuple(orm_table.table_namespace) + (orm_table.table_name,),
                         metadata=metadata, metadata_location=location,
                         io=self._load_file_io(metadata.properties, location), catalog=self)

        def commit_table(self, table, requirements, updates):
            response = super().commit_table(table, requirements, updates)
            _remember(response.metadata_location, response.metadata)
            return response

        def _update_and_stage_table(self, current_table, table_identifier, requirements, updates):
            if current_table is None:  # a new table: pyiceberg's own path (validated, copied once)
                return MetastoreCatalog._update_and_stage_table(self, current_table, table_identifier,
                                                                requirements, updates)
            for requirement in requirements:
                requirement.validate(current_table.metadata)
            metadata = apply_updates(current_table.metadata, updates, current_table.metadata_location)
            version = self._parse_metadata_version(current_table.metadata_location) + 1
            location = load_location_provider(metadata.location, metadata.properties
                                              ).new_table_metadata_file_location(version)
            return StagedTable(identifier=table_identifier, metadata=metadata, metadata_location=location,
                               io=self._load_file_io(properties=metadata.properties, location=location), catalog=self)

    return _LeanSqlCatalog(name, **properties)


_PARSED: dict[str, object] = {}
"""Parsed table metadata by its file's location. A metadata file is written once under a new name and
never changed (Iceberg's rule), so a location's parse stays right: the catalog's commit, which loads the
table again, and the next commit of a long-running process skip re-parsing (17 ms at 1,000 snapshots,
93 ms at 5,000)."""


def _remember(location: str, metadata) -> None:
    if len(_PARSED) >= 64:
        _PARSED.pop(next(iter(_PARSED)))
    _PARSED[location] = metadata
