"""The City of Tampere's feeds."""

from __future__ import annotations

from connectors.delimited import DelimitedFileConnector


class CityVisitsCsv(DelimitedFileConnector):
    """Person-level visits, as the city's reporting system exports them to CSV (contract: city_visits)."""

    feed = "city_visits"
