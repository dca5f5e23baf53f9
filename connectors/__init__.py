"""Connectors: I/O only. Each discovers a feed's deliveries and reads one delivery as Arrow batches
in the feed's contract schema (see ``contracts``). They know formats and transports, not meaning."""

from __future__ import annotations

from connectors.base import DeliveryRejected, FileConnector, LandedFile
from connectors.city import CityVisitsCsv

_CONNECTORS: dict[str, type[FileConnector]] = {c.feed: c for c in (CityVisitsCsv,)}


def for_feed(feed: str) -> FileConnector:
    """The connector of a feed, e.g. ``for_feed("city_visits")``."""
    try:
        return _CONNECTORS[feed]()
    except KeyError:
        raise KeyError(f"no connector for feed {feed!r}; known: {', '.join(sorted(_CONNECTORS))}") from None


__all__ = ["DeliveryRejected", "FileConnector", "LandedFile", "for_feed"]
