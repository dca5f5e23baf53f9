"""What the steps need of a feed, built from its registry entry (``config/feeds.yaml``, :mod:`tesoma.feed_config`).

:func:`pipeline` gives the feed's contract, its pseudonymisation spec, its canonical tables and its
harmonise step; :func:`connector` its connector. Both import only what the registry entry names.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import pyarrow as pa

import contracts
from connectors.base import FileConnector
from tesoma import feed_config
from tesoma.config import TIMEZONE, Settings
from tesoma.mappings import load_maps
from transforms.harmonise import Context, HarmoniseReport, Mapping
from transforms.pseudonymise import IdentitySpec

HarmoniseFunction = Callable[[pa.Table, dict, Context], tuple[dict[str, pa.Table], HarmoniseReport]]


@dataclass(frozen=True)
class FeedPipeline:
    feed: str
    run: feed_config.FeedRun
    harmonise_function: HarmoniseFunction
    mappings: dict[str, Mapping]
    """The code maps the harmonise function needs: ``MAPPINGS`` of the module that defines it (none if absent)."""

    @property
    def contract(self) -> contracts.FeedContract:
        return contracts.load(self.feed)

    @property
    def tables(self) -> tuple[str, ...]:
        """Canonical tables the feed writes; the first is the one each accepted source row becomes."""
        return self.run.tables

    def identity_spec(self, partner: str) -> IdentitySpec | None:
        """How the feed's person columns are pseudonymised, from the contract; None for aggregate feeds."""
        c = self.contract
        codes = c.columns_classified("identity_code")
        local = c.columns_classified("partner_local_id")
        direct = tuple(c.columns_classified("direct_identifier"))
        staff = c.columns_classified("staff_identifier")
        if not codes and not local:
            return IdentitySpec(identity_code=None, direct_identifiers=direct) if direct else None
        return IdentitySpec(
            identity_code=codes[0] if codes else None, direct_identifiers=direct,
            event_time=c.event_time_column, source_id=c.source_id_column, partner=partner,
            partner_local_id=local[0] if local else None,
            staff_id=staff[0] if staff else None,
        )

    def harmonise(self, table: pa.Table, settings: Settings, partner: str,
                  delivery_id: str) -> tuple[dict[str, pa.Table], HarmoniseReport]:
        maps = load_maps(settings.mappings_dir, self.mappings, partner)
        context = Context(partner=partner, feed=self.feed, delivery_id=delivery_id, timezone=TIMEZONE)
        return self.harmonise_function(table, maps, context)


@cache
def pipeline(feed: str) -> FeedPipeline:
    """The feed's pipeline; a KeyError for a feed the registry does not declare, a clear error for an entry
    whose contract, harmonise function or tables are missing."""
    run = feed_config.entry(feed)
    contracts.load(feed)  # raises ContractError naming the expected file
    function = feed_config.resolve(feed, "harmonise")
    if not callable(function):
        raise TypeError(f"{run.registry}: feed {feed}: harmonise {run.harmonise} is not a function")
    run.tables  # noqa: B018 — raises when the entry declares no tables
    mappings = getattr(sys.modules[function.__module__], "MAPPINGS", {})
    return FeedPipeline(feed, run, function, mappings)


def connector_class(feed: str) -> type[FileConnector]:
    """The connector class the registry names for ``feed``; checked to be a connector of that feed."""
    run = feed_config.entry(feed)
    cls = feed_config.resolve(feed, "connector")
    if not (isinstance(cls, type) and issubclass(cls, FileConnector)):
        raise TypeError(f"{run.registry}: feed {feed}: connector {run.connector} is not a FileConnector class")
    if getattr(cls, "feed", None) != feed:
        raise ValueError(f"{run.registry}: feed {feed}: connector {run.connector} is the connector of feed "
                         f"{getattr(cls, 'feed', None)!r} (its `feed` attribute)")
    return cls


def connector_for(feed: str) -> FileConnector:
    """The connector of a feed, e.g. ``connector_for("city_visits")``."""
    return connector_class(feed)()


def carried() -> list[str]:
    """Every feed the registry declares, by name."""
    return sorted(feed_config.load())
