"""Connectors: I/O only. Each discovers a feed's deliveries and reads one delivery as Arrow batches
in the feed's contract schema (see ``contracts``). They know formats and transports, not meaning.

Which class is a feed's connector is declared in the feed registry (``config/feeds.yaml``,
``connector: <module>:<class>``) and looked up by the front package (``tesoma.feeds.connector_for``);
nothing in this package knows the registry or is scanned for it.
"""

from __future__ import annotations

from connectors.base import DeliveryRejected, FileConnector, LandedFile

__all__ = ["DeliveryRejected", "FileConnector", "LandedFile"]
