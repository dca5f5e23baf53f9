"""Which feeds the pipeline carries end to end, and how each maps onto its canonical table.

A feed = a contract (``contracts/<feed>.yaml``) + a connector (``connectors``) + a harmonise function
(``transforms/harmonise/<feed>.py``). Adding a feed means adding one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

import contracts
from tesoma.config import TIMEZONE, Settings
from tesoma.mappings import city_visit_maps
from transforms.harmonise import HarmoniseReport
from transforms.harmonise.city_visits import to_service_event
from transforms.pseudonymise import IdentitySpec

Harmoniser = Callable[[pa.Table, Settings, str], tuple[pa.Table, HarmoniseReport]]


@dataclass(frozen=True)
class FeedPipeline:
    feed: str
    event_time: str
    harmonise: Harmoniser

    @property
    def contract(self) -> contracts.FeedContract:
        return contracts.load(self.feed)

    def identity_spec(self) -> IdentitySpec:
        c = self.contract
        codes = c.columns_classified("identity_code")
        if len(codes) != 1:
            raise contracts.ContractError(f"{c.path}: exactly one column must be classified identity_code")
        return IdentitySpec(
            identity_code=codes[0], direct_identifiers=tuple(c.columns_classified("direct_identifier")),
            event_time=self.event_time, source_id=c.source_id_column, partner=c.partner,
        )


def _city_visits(table: pa.Table, settings: Settings, delivery_id: str) -> tuple[pa.Table, HarmoniseReport]:
    return to_service_event(table, city_visit_maps(settings.mappings_dir), partner="city", feed="city_visits",
                            delivery_id=delivery_id, timezone=TIMEZONE)


PIPELINES: dict[str, FeedPipeline] = {
    "city_visits": FeedPipeline("city_visits", event_time="alkuaika", harmonise=_city_visits),
}


def pipeline(feed: str) -> FeedPipeline:
    try:
        return PIPELINES[feed]
    except KeyError:
        raise KeyError(f"feed {feed!r} is not carried end to end yet; known: {', '.join(PIPELINES)}") from None
