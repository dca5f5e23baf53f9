"""How and when each feed runs (``config/feeds.yaml``), read without touching Airflow.

Also the names the DAGs share: the Airflow asset of each harmonised table (:func:`asset_uri`) and the
partition key of a published partner × delivery date (:func:`partition_key`).
"""

from __future__ import annotations

import ast
import datetime as dt
import importlib.util
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

import contracts
from tesoma.config import PROJECT_DIR

# An installed (non-editable) package has no config/ beside it: the Docker image points here instead.
CONFIG = Path(os.environ.get("TESOMA_FEEDS_CONFIG", PROJECT_DIR / "config" / "feeds.yaml"))

ASSET_PREFIX = "tesoma://warehouse/harmonised/"
"""Each harmonised table is the Airflow asset ``tesoma://warehouse/harmonised/<table>``."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(value: object, where: str = "duration") -> dt.timedelta:
    """``"90s"``, ``"10m"``, ``"3h"``, ``"2d"`` → timedelta (the unit is required)."""
    m = _DURATION.match(str(value))
    if not m or float(m[1]) <= 0:
        raise ValueError(f"{where}: {value!r} is not a duration such as 10m, 3h or 2d")
    return dt.timedelta(**{_UNITS[m[2]]: float(m[1])})


def asset_uri(table: str) -> str:
    return f"{ASSET_PREFIX}{table}"


def partition_key(partner: str, delivery_date: dt.date | str) -> str:
    """The partition of a harmonised table that one delivery replaces: ``<partner>/<YYYY-MM-DD>``."""
    day = delivery_date if isinstance(delivery_date, str) else delivery_date.isoformat()
    return f"{partner}/{day}"


def published_partitions(results: list[dict], ledger_url: str | None = None) -> list[str]:
    """Partition keys of the deliveries ``steps.publish_in_order`` reports as published (sorted, unique).

    Uses ``partner``/``delivery_date`` when a result carries them, else the ledger.
    """
    keys = set()
    ledger = None
    for r in results:
        if r.get("state") != "published":
            continue
        if r.get("partner") and r.get("delivery_date"):
            keys.add(partition_key(r["partner"], str(r["delivery_date"])))
            continue
        if ledger is None:
            from tesoma.config import settings
            from warehouse.ledger import Ledger

            ledger = Ledger(ledger_url or settings().ledger_url)
        d = ledger.get(r["delivery_id"])
        keys.add(partition_key(d.partner, d.delivery_date))
    return sorted(keys)


@cache
def canonical_tables(feed: str) -> tuple[str, ...]:
    """The canonical tables a feed writes: ``TABLES`` of ``transforms/harmonise/<feed>.py``.

    Read from the module's source, not imported, so that parsing the DAG files stays cheap (the harmonise
    modules pull in pandas). Without a harmonise module, the contract's canonical table.
    """
    spec = importlib.util.find_spec("transforms.harmonise")
    folder = Path(next(iter(spec.submodule_search_locations)))
    source = folder / f"{feed}.py"
    if source.exists():
        for node in ast.parse(source.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "TABLES"):
                return tuple(ast.literal_eval(node.value))
    return (contracts.load(feed).canonical_table,)


@dataclass(frozen=True)
class FeedRun:
    feed: str
    cadence: str
    summary: str
    owner: str
    retries: int
    run_at: str
    transport: str
    late_after: dt.timedelta = dt.timedelta(hours=3)
    """Deadline alert: the run has not finished this long after it was queued (its scheduled time)."""
    wait_up_to: dt.timedelta = dt.timedelta(days=1)
    """How long ``wait_for_delivery`` waits (deferred, in the triggerer) before giving up."""
    poll_every: dt.timedelta = dt.timedelta(minutes=5)
    """How often the triggerer looks in landing/ while waiting."""
    expect: str = "all"
    """``all``: every partner of the contract must have delivered; ``any``: one partner is enough."""
    if_not_delivered: str = "fail"
    """When the wait gives up: ``fail`` the run, or ``skip`` (a day without a delivery is normal)."""

    @property
    def partners(self) -> tuple[str, ...]:
        return contracts.load(self.feed).partners

    @property
    def tables(self) -> tuple[str, ...]:
        return canonical_tables(self.feed)

    @property
    def waits_for_files(self) -> bool:
        """Drop feeds wait for the partner's files; a pull feed fetches from the source at run time."""
        return self.transport == "drop"

    def doc_md(self) -> str:
        """The operator's page for the feed's DAG (Airflow shows it on the DAG's page)."""
        c = contracts.load(self.feed)
        support = c.properties.get("deliverySchedule", "see the contract")
        tables = ", ".join(f"`{t}`" for t in self.tables)
        expected = "every partner listed above" if self.expect == "all" else "at least one partner"
        if self.waits_for_files:
            folder = c.properties.get("landingFolder") or self.feed
            then = "fails" if self.if_not_delivered == "fail" else "skips its tasks (a day without files is normal)"
            first = (f"`wait_for_delivery` checks `landing/<partner>/{folder}/` for the delivery date's files "
                     f"({expected}); when they are not there yet it waits in the triggerer (deferrable, looks every "
                     f"{_human(self.poll_every)}, gives up after {_human(self.wait_up_to)}: the run then {then}) → "
                     "`land` archives each delivery under `raw/` (SHA-256) and records it in the ledger")
        else:
            first = ("`land` pulls the date's rows from the city's reporting database by watermark, archives them "
                     "under `raw/` (SHA-256) and records the delivery in the ledger (no wait: the source is queried)")
        return f"""
### {self.feed} — {self.summary}

**Delivered by:** {", ".join(c.partners)} · **schedule:** {support} · **contract:** `contracts/{self.feed}.yaml`
(partner page `docs/partners/{self.feed}.md`) · **becomes:** {tables}.

**Tasks:** {first} →
`ingest` (one per delivery) reads, validates (Great Expectations suite generated from the contract),
pseudonymises and harmonises into staging, quarantining bad rows → `publish` replaces the partitions
atomically and emits an asset event per table with one partition key `<partner>/<YYYY-MM-DD>` per
published delivery. Those events start the **`catalog` DAG**, which rebuilds the analysts' DuckDB views
and the data docs and runs the privacy audit. Nothing published (all rejected or superseded): `publish`
is skipped and the catalog is not started.

**Deadline alert:** if the run has not finished {_human(self.late_after)} after it was queued (for a
scheduled run: its scheduled time), Airflow's triggerer logs a *delivery late* message naming the feed,
the delivery date, the partners whose files are missing and the contacts in the contract.

**When it fails or is late:**
- *Late delivery (deadline alert, `wait_for_delivery` still deferred):* ask the partner named in the
  alert (contract `team`/`support`). Nothing else to do: the run continues by itself once the file
  arrives. To go ahead without a missing partner, mark `wait_for_delivery` *success*; `land` takes what
  is there and the late file is picked up by clearing the run later.
- *Never delivered (`wait_for_delivery` failed with a sensor timeout):* once the file has arrived, clear
  the run. Re-running is always safe: the same file is the same delivery.
- *Rejected delivery:* the reason is in `tesoma status` and `quarantine/<partner>/<delivery>/report.md`;
  the partner sends a corrected file (`…_2`), which replaces the first.
- *Missing pseudonym key:* `ingest` stops before reading data; set `TESOMA_PSEUDONYM_KEY` or the
  Airflow Variable `tesoma_pseudonym_secret`.
- *Catalog or audit failed:* see the `catalog` DAG's page.
"""


def _human(d: dt.timedelta) -> str:
    seconds = int(d.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


@cache
def load(path: Path = CONFIG) -> dict[str, FeedRun]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    defaults = data.get("defaults", {})
    runs = {}
    for feed, settings in (data.get("feeds") or {}).items():
        merged = {**defaults, **(settings or {})}
        where = f"{path}: feed {feed}"
        if merged.get("cadence") not in ("daily", "monthly", "yearly"):
            raise ValueError(f"{where}: cadence must be daily, monthly or yearly")
        if merged.get("transport", "drop") not in ("drop", "pull"):
            raise ValueError(f"{where}: transport must be drop or pull")
        if merged.get("expect", "all") not in ("all", "any"):
            raise ValueError(f"{where}: expect must be all or any")
        if merged.get("if_not_delivered", "fail") not in ("fail", "skip"):
            raise ValueError(f"{where}: if_not_delivered must be fail or skip")
        run = FeedRun(feed=feed, cadence=merged["cadence"], summary=merged.get("summary", ""),
                      owner=merged["owner"], retries=int(merged["retries"]), run_at=str(merged["run_at"]),
                      transport=merged.get("transport", "drop"),
                      late_after=duration(merged.get("late_after", "3h"), f"{where}: late_after"),
                      wait_up_to=duration(merged.get("wait_up_to", "1d"), f"{where}: wait_up_to"),
                      poll_every=duration(merged.get("poll_every", "5m"), f"{where}: poll_every"),
                      expect=merged.get("expect", "all"), if_not_delivered=merged.get("if_not_delivered", "fail"))
        if run.poll_every >= run.wait_up_to:
            raise ValueError(f"{where}: poll_every must be shorter than wait_up_to")
        runs[feed] = run
    return runs
