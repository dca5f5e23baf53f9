"""Connectors: I/O only. Each discovers a feed's deliveries and reads one delivery as Arrow batches
in the feed's contract schema (see ``contracts``). They know formats and transports, not meaning.

Every module in this package is imported once; each :class:`FileConnector` subclass with a ``feed``
attribute becomes that feed's connector.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from connectors.base import DeliveryRejected, FileConnector, LandedFile


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


@cache
def registry() -> dict[str, type[FileConnector]]:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    found: dict[str, type[FileConnector]] = {}
    for cls in _subclasses(FileConnector):
        feed = cls.__dict__.get("feed")
        if feed:
            if feed in found:
                raise RuntimeError(f"two connectors for feed {feed!r}: {found[feed].__name__}, {cls.__name__}")
            found[feed] = cls
    return found


def for_feed(feed: str) -> FileConnector:
    """The connector of a feed, e.g. ``for_feed("city_visits")``."""
    try:
        return registry()[feed]()
    except KeyError:
        raise KeyError(f"no connector for feed {feed!r}; known: {', '.join(sorted(registry()))}") from None


__all__ = ["DeliveryRejected", "FileConnector", "LandedFile", "for_feed", "registry"]
