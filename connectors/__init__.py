"""Connectors: I/O only. Each discovers a feed's deliveries and reads one delivery as Arrow batches
in the feed's contract schema (see ``contracts``). They know formats and transports, not meaning.

Which class is a feed's connector is declared in the feed registry (``config/feeds.yaml``,
``connector: <module>:<class>``); nothing in this package is scanned for it.
"""

from __future__ import annotations

from connectors.base import DeliveryRejected, FileConnector, LandedFile


def for_feed(feed: str) -> FileConnector:
    """The connector the feed registry names for ``feed``, e.g. ``for_feed("city_visits")``.

    A KeyError names the known feeds. Kept here, for the steps, the sensor and the tests that ask it;
    the lookup itself is :func:`tesoma.feeds.connector` (imported late: the registry is the front
    package's, and connectors must not need it to be imported).
    """
    from tesoma.feeds import connector

    return connector(feed)


def registry() -> dict[str, type[FileConnector]]:
    """Each declared feed's connector class, by feed (imports every connector the registry names)."""
    from tesoma.feed_config import load
    from tesoma.feeds import connector_class

    return {feed: connector_class(feed) for feed in load()}


__all__ = ["DeliveryRejected", "FileConnector", "LandedFile", "for_feed", "registry"]
