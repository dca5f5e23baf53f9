"""How and when each feed runs (``config/feeds.yaml``), read without touching Airflow."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

import contracts
from tesoma.config import PROJECT_DIR

CONFIG = PROJECT_DIR / "config" / "feeds.yaml"


@dataclass(frozen=True)
class FeedRun:
    feed: str
    cadence: str
    summary: str
    owner: str
    retries: int
    run_at: str
    transport: str

    @property
    def partners(self) -> tuple[str, ...]:
        return contracts.load(self.feed).partners

    def doc_md(self) -> str:
        """The operator's page for the feed's DAG (Airflow shows it on the DAG's page)."""
        c = contracts.load(self.feed)
        support = c.properties.get("deliverySchedule", "see the contract")
        return f"""
### {self.feed} — {self.summary}

**Delivered by:** {", ".join(c.partners)} · **schedule:** {support} · **contract:** `contracts/{self.feed}.yaml`
(partner page `docs/partners/{self.feed}.md`) · **becomes:** `{c.canonical_table}`.

**Tasks:** `land` archives each delivery under `raw/` (SHA-256) and records it in the ledger
{"(here: a pull from the city's reporting database by watermark)" if self.transport == "pull" else ""} →
`ingest` (one per delivery) reads, validates (Great Expectations suite generated from the contract),
pseudonymises and harmonises into staging, quarantining bad rows → `publish` replaces the partitions
atomically → `refresh_catalog` rebuilds the analysts' DuckDB views → `audit` scans the warehouse, docs
and logs for identifying data.

**When it fails or is late:**
- *No delivery:* `land` logs "no delivery found"; ask the partner (contract `support`), then clear the
  run once the file has arrived. Re-running is always safe: the same file is the same delivery.
- *Rejected delivery:* the reason is in `tesoma status` and `quarantine/<partner>/<delivery>/report.md`;
  the partner sends a corrected file (`…_2`), which replaces the first.
- *Missing pseudonym key:* `ingest` stops before reading data; set `TESOMA_PSEUDONYM_KEY` or the
  Airflow Variable `tesoma_pseudonym_secret`.
- *Audit failed:* identifying data reached a shared place; the log names file and column (never the
  value). Stop sharing the warehouse and follow docs/privacy.md.
"""


@cache
def load(path: Path = CONFIG) -> dict[str, FeedRun]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    defaults = data.get("defaults", {})
    runs = {}
    for feed, settings in (data.get("feeds") or {}).items():
        merged = {**defaults, **(settings or {})}
        if merged.get("cadence") not in ("daily", "monthly", "yearly"):
            raise ValueError(f"{path}: feed {feed}: cadence must be daily, monthly or yearly")
        runs[feed] = FeedRun(feed=feed, cadence=merged["cadence"], summary=merged.get("summary", ""),
                             owner=merged["owner"], retries=int(merged["retries"]), run_at=str(merged["run_at"]),
                             transport=merged.get("transport", "drop"))
    return runs
