"""The NGOs' group activities (contracts: ngo_activity, ngo_attendance).

Each NGO drops one delivery a day it had sessions into ``landing/<partner>/ngo_activity/``: an Excel
workbook with a sessions sheet and an attendance sheet (ngo_mll), or a sessions CSV plus an
``_osallistujat.csv`` attendance file (ngo_setlementti). The sessions are the feed ``ngo_activity``; the
attendance is the feed ``ngo_attendance``, which finds its files in the same folder. A workbook is thus
landed twice, once per feed (the ledger keys deliveries by feed and SHA-256), and each feed reads its sheet.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

import contracts
from connectors.base import ROW_ERRORS, ROW_NUMBER, ReadReport
from connectors.spreadsheet import SpreadsheetConnector, read_delivery

RECORD_ID_SEPARATOR = "|"


class NgoActivity(SpreadsheetConnector):
    """Sessions: date, activity type, group, participants, volunteers."""

    feed = "ngo_activity"


class NgoAttendance(SpreadsheetConnector):
    """Consented members' attendance, with a ``record_id`` composed from the columns the contract names
    in ``sourceIdFrom``.

    The files carry no id of an attendance, and the pipeline takes a record's id (hashed into
    ``event_id``) from one column. Joining the named columns into one is I/O-level flattening, like
    naming a header: which columns identify an attendance is the contract's statement, not logic here.
    Dates are joined as ISO text, so a workbook's date cell and a CSV's ``dd.mm.yyyy`` give the same id.
    """

    feed = "ngo_attendance"

    def read(self, path: Path, report: ReadReport, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        contract = self.contract
        record_id = contract.source_id_column
        as_delivered = replace(contract, columns=tuple(c for c in contract.columns if c.name != record_id))
        parts = [str(p) for p in contract.properties["sourceIdFrom"]]  # type: ignore[union-attr]
        for batch in read_delivery(path, as_delivered, report, batch_rows):
            yield with_composed_column(batch, contract, record_id, parts)


def with_composed_column(batch: pa.RecordBatch, contract: contracts.FeedContract, name: str,
                         parts: list[str]) -> pa.RecordBatch:
    """``batch`` in the full contract schema, with column ``name`` = the ``parts`` joined by ``|`` (null
    when any part is null: those rows already carry a reason for the missing or unreadable part)."""
    texts = [batch.column(p).cast(pa.string()) for p in parts]
    composed = pc.binary_join_element_wise(*texts, RECORD_ID_SEPARATOR)
    arrays = [composed if c.name == name else batch.column(c.name) for c in contract.columns]
    arrays += [batch.column(ROW_NUMBER), batch.column(ROW_ERRORS)]
    schema = pa.schema([pa.field(c.name, c.arrow_type) for c in contract.columns]
                       + [pa.field(ROW_NUMBER, pa.int64()), pa.field(ROW_ERRORS, pa.string())])
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
