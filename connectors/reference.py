"""Reference data the alliance receives rather than produces (contract: population)."""

from __future__ import annotations

from connectors.delimited import DelimitedFileConnector


class PopulationCsv(DelimitedFileConnector):
    """Residents per postal code, age band and sex: one ``population_YYYY.csv`` per statistics year."""

    feed = "population"
