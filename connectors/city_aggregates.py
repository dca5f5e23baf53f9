"""The City of Tampere's aggregate feeds: daily activity counts and T3 (contracts: city_activity,
city_access). Both are the city's ordinary CSV exports; everything about the format is in the contracts."""

from __future__ import annotations

from connectors.delimited import DelimitedFileConnector


class CityActivityCsv(DelimitedFileConnector):
    """Daily counts per unit and measure (youth centre, library): ``city_activity_YYYYMMDD.csv``."""

    feed = "city_activity"


class CityAccessCsv(DelimitedFileConnector):
    """T3 per unit and professional group per day: ``city_access_YYYYMMDD.csv``."""

    feed = "city_access"
