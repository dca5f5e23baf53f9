"""The City of Tampere's person-level visits (contract: city_visits)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from connectors.base import ROW_ERRORS, ROW_NUMBER, DeliveryRejected, ReadReport
from connectors.delimited import DelimitedFileConnector


class CityVisitsCsv(DelimitedFileConnector):
    """Visits as the city's reporting system exports them to CSV, or as pulled from its database
    (``connectors.city_reporting_db`` writes those as Parquet in the contract's schema)."""

    feed = "city_visits"

    def read(self, path: Path, report: ReadReport, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        if path.suffix != ".parquet":
            yield from super().read(path, report, batch_rows)
            return
        schema = self.contract.arrow_schema()
        schema = pa.schema([f.with_nullable(True) for f in schema]
                           + [pa.field(ROW_NUMBER, pa.int64()), pa.field(ROW_ERRORS, pa.string())])
        first = 1
        try:
            batches = pq.ParquetFile(path).iter_batches(batch_size=batch_rows)
            for batch in batches:
                arrays = [batch.column(name).cast(schema.field(name).type) for name in self.contract.column_names]
                n = batch.num_rows
                arrays += [pa.array(np.arange(first, first + n, dtype=np.int64)), pa.nulls(n, pa.string())]
                first += batch.num_rows
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)
        except (pa.ArrowException, KeyError):  # damaged, or not in the contract's columns and types
            raise DeliveryRejected(
                "malformed",
                f"The Parquet extract cannot be read after row {first - 1}: it is damaged or lacks the contract's "
                "columns. Pull it again (it is written by the city's reporting-database pull).",
            ) from None
