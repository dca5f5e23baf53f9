"""The feed registry: every feed is declared once, in ``config/feeds.yaml``, and read here.

An entry says what the feed is — its connector class, its harmonise function, the canonical tables it
writes (its contract is ``contracts/<feed>.yaml``) — and how and when it runs (cadence, transport, waits,
deadline). :func:`load` reads the file with nothing but ``yaml``: the DAG files ask it for schedules and
tables at every parse, so it imports no connector, harmonise module, ``contracts``, pyarrow or Airflow.
:func:`resolve` imports what an entry names, when a step needs it (``tesoma.feeds.pipeline``,
``tesoma.feeds.connector_for``).

``TESOMA_FEEDS_CONFIG`` points at another registry (the Docker image's copy, a test's temporary one).

Also the names the DAGs share: the Airflow asset of each harmonised table (:func:`asset_uri`) and the
partition key of a published partner × delivery date (:func:`partition_key`).
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tesoma.config import PROJECT_DIR

if TYPE_CHECKING:
    import contracts

CONFIG = PROJECT_DIR / "config" / "feeds.yaml"
"""The registry in the checkout. An installed (non-editable) package has no config/ beside it: the Docker
image sets ``TESOMA_FEEDS_CONFIG`` instead (see :func:`config_path`)."""

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")

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
        if r.get("state") != "published" and not r.get("restored"):
            continue  # (a rejected correction's result names the earlier delivery it put back: ``restored``)
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


HISTORY_FROM = "TESOMA_HISTORY_FROM"
"""Environment variable: load history from this date on (``YYYY-MM-DD``), before the contracts' service
periods. Unset (the default), every feed covers what its contract says and nothing earlier."""


def history_from() -> dt.date | None:
    """The operator's :data:`HISTORY_FROM` date, or None when it is not set.

    It extends every feed's covered period backwards (:func:`covered_from`) so that history from before
    the contracts' ``servicePeriodStart`` can be loaded (a backfill of five years of a county's deliveries).
    Set it where the tasks run (the Airflow workers' environment, ``.env`` of the stack) and where
    ``tesoma backfill`` runs (it checks the range against it). It only widens which dates are accepted:
    the daily runs and the contracts are unchanged."""
    value = os.environ.get(HISTORY_FROM, "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{HISTORY_FROM}={value!r} is not a date: give the first delivery date of the history "
                         "to load as YYYY-MM-DD (e.g. 2021-11-01), or unset it") from None


def _service_start(feed: str) -> dt.date | None:
    import contracts  # not at the top: reading the registry stays free of pyarrow

    start = contracts.load(feed).properties.get("servicePeriodStart")
    return start if start is None or isinstance(start, dt.date) else dt.date.fromisoformat(str(start))


def covered_from(feed: str) -> dt.date | None:
    """The first delivery date ``feed`` covers: its contract's ``servicePeriodStart``, or the operator's
    :func:`history_from` when that is earlier; None when neither limits it."""
    start, history = _service_start(feed), history_from()
    return start if start is None or history is None else min(start, history)


def not_covered(feed: str, delivery_date: dt.date) -> str | None:
    """Why ``feed`` can have no delivery for ``delivery_date`` — the date is before the contract's
    ``servicePeriodStart`` (and before :data:`HISTORY_FROM`, when the operator set it) — or None when the
    date is covered. The message says how to load history from before the service period."""
    contract_start, start = _service_start(feed), covered_from(feed)
    if start is None or delivery_date >= start:
        return None
    if start != contract_start:
        return (f"{feed} has no deliveries before {start.isoformat()} ({HISTORY_FROM}; the contract's "
                f"servicePeriodStart is {contract_start.isoformat()}); this run's delivery date is "
                f"{delivery_date.isoformat()}. To load it, set {HISTORY_FROM} to an earlier date")
    return (f"{feed} has no deliveries before {start.isoformat()} (contract servicePeriodStart); "
            f"this run's delivery date is {delivery_date.isoformat()}. To load history from before the contract's "
            f"service period, set {HISTORY_FROM}=<its first date, YYYY-MM-DD> where the tasks run and where "
            "`tesoma backfill` runs (docs/operations.md, \"Backfilling history\")")


def canonical_tables(feed: str) -> tuple[str, ...]:
    """The canonical tables a feed writes, as its registry entry declares them (``tables:``)."""
    return entry(feed).tables


@dataclass(frozen=True)
class FeedRun:
    """One feed as the registry declares it: what it is (connector, harmonise function, tables) and how it runs."""

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
    connector: str = ""
    """``<module>:<class>`` of the feed's connector, e.g. ``connectors.city:CityVisitsCsv``."""
    harmonise: str = ""
    """``<module>:<function>`` mapping the feed onto its canonical tables; the module may declare the code
    maps the function needs as ``MAPPINGS``."""
    declared_tables: tuple[str, ...] = ()
    registry: Path = CONFIG
    """The file that declares the feed (for error messages)."""

    @property
    def contract(self) -> contracts.FeedContract:
        """The feed's contract: ``<contracts dir>/<feed>.yaml`` (``TESOMA_CONTRACTS_DIR``, else ``contracts/``)."""
        import contracts

        return contracts.load(self.feed)

    @property
    def partners(self) -> tuple[str, ...]:
        return self.contract.partners

    @property
    def tables(self) -> tuple[str, ...]:
        """Canonical tables the feed writes; the first is the one each accepted source row becomes."""
        if not self.declared_tables:
            raise ValueError(f"{self.registry}: feed {self.feed} declares no tables "
                             "(tables: [<canonical table>, ...])")
        return self.declared_tables

    @property
    def waits_for_files(self) -> bool:
        """Drop feeds wait for the partner's files; a pull feed fetches from the source at run time."""
        return self.transport == "drop"

    def doc_md(self) -> str:
        """The operator's page for the feed's DAG (Airflow shows it on the DAG's page)."""
        c = self.contract
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
atomically and emits an asset event per table with the published partitions `<partner>/<YYYY-MM-DD>`
in the event's extra. Those events start the **`catalog` DAG** (a burst of them makes one run), which
rebuilds the analysts' DuckDB views
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


def config_path() -> Path:
    """The registry file: ``TESOMA_FEEDS_CONFIG``, else ``config/feeds.yaml`` of the checkout."""
    return Path(os.environ.get("TESOMA_FEEDS_CONFIG") or CONFIG)


def load(path: Path | None = None) -> dict[str, FeedRun]:
    """Every feed of the registry (``path``, else :func:`config_path`), by name; cheap (yaml only, cached)."""
    return _read(Path(path) if path else config_path())


def entry(feed: str) -> FeedRun:
    """The registry entry of ``feed``; a KeyError names the feeds there are."""
    runs = load()
    if feed not in runs:
        raise KeyError(f"no feed {feed!r}; known: {', '.join(sorted(runs))} (declared in {config_path()})")
    return runs[feed]


def resolve(feed: str, part: str) -> Any:
    """Import what the entry of ``feed`` names as ``part`` (``"connector"`` or ``"harmonise"``): the
    connector class or the harmonise function. Errors say which entry names what that is not there."""
    run = entry(feed)
    target = getattr(run, part)
    where = f"{run.registry}: feed {feed}"
    if not target:
        example = {"connector": "connectors.<module>:<Class>", "harmonise": "transforms.harmonise.<module>:harmonise"}
        raise LookupError(f"{where} names no {part} ({part}: {example[part]})")
    module_name, name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise LookupError(f"{where}: {part} {target} cannot be imported: {exc}") from exc
    try:
        return getattr(module, name)
    except AttributeError:
        raise LookupError(f"{where}: {part} {target}: module {module_name} has no {name}") from None


@cache
def _read(path: Path) -> dict[str, FeedRun]:
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
        for part in ("connector", "harmonise"):
            if part in merged and not _DOTTED.match(str(merged[part])):
                raise ValueError(f"{where}: {part} must be <module>:<name>, e.g. connectors.city:CityVisitsCsv")
        tables = merged.get("tables") or []
        if not isinstance(tables, list) or not all(isinstance(t, str) and t for t in tables):
            raise ValueError(f"{where}: tables must be a list of canonical table names")
        run = FeedRun(feed=feed, cadence=merged["cadence"], summary=merged.get("summary", ""),
                      owner=merged["owner"], retries=int(merged["retries"]), run_at=str(merged["run_at"]),
                      transport=merged.get("transport", "drop"),
                      late_after=duration(merged.get("late_after", "3h"), f"{where}: late_after"),
                      wait_up_to=duration(merged.get("wait_up_to", "1d"), f"{where}: wait_up_to"),
                      poll_every=duration(merged.get("poll_every", "5m"), f"{where}: poll_every"),
                      expect=merged.get("expect", "all"), if_not_delivered=merged.get("if_not_delivered", "fail"),
                      connector=str(merged.get("connector", "")), harmonise=str(merged.get("harmonise", "")),
                      declared_tables=tuple(tables), registry=path)
        if run.poll_every >= run.wait_up_to:
            raise ValueError(f"{where}: poll_every must be shorter than wait_up_to")
        runs[feed] = run
    return runs
