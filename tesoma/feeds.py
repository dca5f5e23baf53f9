"""Which feeds the pipeline carries end to end, and how each maps onto the canonical tables.

A feed = a contract (``contracts/<feed>.yaml``) + a connector (``connectors``, registered by its
``feed`` attribute) + a harmonise module (``transforms/harmonise/<feed>.py``). Nothing to register here:
a feed with all three is carried.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from types import ModuleType

import pyarrow as pa

import contracts
from tesoma.config import TIMEZONE, Settings
from tesoma.mappings import load_maps
from transforms.harmonise import Context, HarmoniseReport
from transforms.pseudonymise import IdentitySpec


@dataclass(frozen=True)
class FeedPipeline:
    feed: str
    module: ModuleType

    @property
    def contract(self) -> contracts.FeedContract:
        return contracts.load(self.feed)

    @property
    def tables(self) -> tuple[str, ...]:
        """Canonical tables the feed writes; the first is the one each accepted source row becomes."""
        return tuple(self.module.TABLES)

    def identity_spec(self, partner: str) -> IdentitySpec | None:
        """How the feed's person columns are pseudonymised, from the contract; None for aggregate feeds."""
        c = self.contract
        codes = c.columns_classified("identity_code")
        local = c.columns_classified("partner_local_id")
        direct = tuple(c.columns_classified("direct_identifier"))
        if not codes and not local:
            return IdentitySpec(identity_code=None, direct_identifiers=direct) if direct else None
        return IdentitySpec(
            identity_code=codes[0] if codes else None, direct_identifiers=direct,
            event_time=c.event_time_column, source_id=c.source_id_column, partner=partner,
            partner_local_id=local[0] if local else None,
        )

    def harmonise(self, table: pa.Table, settings: Settings, partner: str,
                  delivery_id: str) -> tuple[dict[str, pa.Table], HarmoniseReport]:
        maps = load_maps(settings.mappings_dir, self.module.MAPPINGS, partner)
        context = Context(partner=partner, feed=self.feed, delivery_id=delivery_id, timezone=TIMEZONE)
        return self.module.harmonise(table, maps, context)


@cache
def pipeline(feed: str) -> FeedPipeline:
    contracts.load(feed)  # a clear error when there is no contract
    try:
        module = importlib.import_module(f"transforms.harmonise.{feed}")
    except ModuleNotFoundError:
        raise KeyError(f"feed {feed!r} has no harmonise module transforms/harmonise/{feed}.py yet") from None
    return FeedPipeline(feed, module)


def carried() -> list[str]:
    """Feeds with a contract and a harmonise module."""
    out = []
    for feed in contracts.available():
        try:
            pipeline(feed)
        except KeyError:
            continue
        out.append(feed)
    return out
