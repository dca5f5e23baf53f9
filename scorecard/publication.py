"""The monthly publication: the scorecard's tables as anyone may see them, reproducible from a tagged state.

``publish(settings, month)`` does, in order (nothing is visible until the last step):

1. resolves the warehouse's current state (``warehouse.states``), the one every figure comes from;
2. builds a *sources catalog* for that state (the analysts' views, ``warehouse.catalog.build_views``)
   into ``restricted/sources/state-<state id>.duckdb`` and runs the marts (dbt, ``scorecard.marts``) on
   it into ``restricted/marts.duckdb`` (exact, restricted);
3. passes every published mart model (``meta: {publish: true}``) through disclosure control
   (``scorecard.disclosure``) and writes it as deterministic Parquet (same rows → same bytes; the rule
   version in the file's metadata);
4. scores the alliance's KPIs and budget (``scorecard.alliance``) on the *published* ``kpi_monthly``
   values, so anyone can recompute every score from what is published: ``kpi_scorecard``, ``kpi_budget``;
5. copies the two configurations used (``config/alliance.yaml``, ``config/disclosure.yaml``), writes
   ``manifest.json`` (state, tag, deliveries behind it, late or rejected deliveries of the month, code,
   rule and alliance config versions, the SHA-256 of every table) and ``report.html``
   (``scorecard.report``);
6. tags the state ``publication-<id>`` (kept from expiry for good), renames the finished folder to
   ``published/<id>/`` and points ``published/latest.json`` at it.

Everything is written into a hidden temporary folder beside ``published/`` first: an error anywhere
leaves no publication behind (fail closed). A publication id is ``<YYYY-MM>-<n>``, ``n`` the next free
number for the month.

``reproduce(settings, id)`` rebuilds the tables from the publication's tag with its stored
configurations, in a temporary place under ``restricted/``, and compares them table by table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from scorecard.months import add_months, month_end, month_start
from tesoma.config import PROJECT_DIR, Settings
from warehouse.commits import file_sha256
from warehouse.layout import Layout

ID_PATTERN = re.compile(r"^(\d{4})-(\d{2})-(\d+)$")
TAG_PREFIX = "publication-"
CONFIGS = {"alliance": "alliance.yaml", "disclosure": "disclosure.yaml"}
"""The configurations a publication depends on, copied into it (``config/<name>``) so reproduce uses them."""

SCORECARD, BUDGET = "kpi_scorecard", "kpi_budget"
WINDOW_MONTHS = 12
"""A month's KPIs look back 12 months (reach, integration, continuity): its deliveries are those of the window."""

MONEY = pa.decimal128(18, 2)
CODE_DIRS = ("marts", "scorecard")
"""The code behind a publication's figures, hashed into its code version."""


class PublicationError(ValueError):
    """A publication cannot be made or read; the message says what to do."""


@dataclass(frozen=True)
class Publication:
    publication_id: str
    month: dt.date
    folder: Path
    manifest: dict

    @property
    def report(self) -> Path:
        return self.folder / "report.html"

    @property
    def tables(self) -> dict[str, str]:
        """Published table → its SHA-256."""
        return {name: t["sha256"] for name, t in self.manifest["tables"].items()}

    def table(self, name: str) -> pa.Table:
        return pq.read_table(self.folder / f"{name}.parquet")


@dataclass(frozen=True)
class ReproduceResult:
    publication_id: str
    state_id: int
    tables: dict[str, str]
    """table → ``identical`` | ``same content`` (equal rows, other bytes) | ``different`` | ``missing`` |
    ``new`` (a table the rebuild makes that the publication does not have)."""
    details: dict[str, str] = field(default_factory=dict)
    code_changed: bool = False

    @property
    def identical(self) -> bool:
        return all(v == "identical" for v in self.tables.values())


# --- publication ids ---------------------------------------------------------------------------------------

def parse_id(publication_id: str) -> tuple[dt.date, int]:
    m = ID_PATTERN.match(publication_id)
    if not m or not 1 <= int(m[2]) <= 12:
        raise PublicationError(f"{publication_id!r} is not a publication id like 2026-10-1 (<YYYY-MM>-<n>); "
                               "`ls data/published` lists them")
    return dt.date(int(m[1]), int(m[2]), 1), int(m[3])


def _next_id(layout: Layout, engine, month: dt.date) -> str:
    """The next free ``<YYYY-MM>-<n>``: past every folder and every tag of the month (a tag whose publication
    failed after tagging keeps its number)."""
    import sqlalchemy as sa

    from warehouse.ledger import warehouse_tags

    prefix = f"{month:%Y-%m}-"
    used = [0]
    if layout.published.is_dir():
        used += [int(p.name[len(prefix):]) for p in layout.published.iterdir()
                 if p.name.startswith(prefix) and p.name[len(prefix):].isdigit()]
    with engine.connect() as conn:
        names = conn.execute(sa.select(warehouse_tags.c.name)
                             .where(warehouse_tags.c.name.like(f"{TAG_PREFIX}{prefix}%"))).scalars().all()
    used += [int(n[len(TAG_PREFIX) + len(prefix):]) for n in names if n[len(TAG_PREFIX) + len(prefix):].isdigit()]
    return f"{prefix}{max(used) + 1}"


# --- versions ---------------------------------------------------------------------------------------------

def code_version(project: Path = PROJECT_DIR) -> dict:
    """What code made the figures: ``git describe`` when the checkout is a git repository (``-dirty`` when it
    has uncommitted changes), the package version, and always a SHA-256 of the marts/ and scorecard/ sources
    (the code that turns a warehouse state into these tables), which also identifies an installed copy."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("tesoma")
    except PackageNotFoundError:
        package = None
    git = None
    if (project / ".git").exists() and shutil.which("git"):
        done = subprocess.run(["git", "-C", str(project), "describe", "--always", "--dirty", "--tags"],
                              capture_output=True, text=True, check=False)
        git = done.stdout.strip() or None
    return {"git": git, "package": package, "sources_sha256": sources_sha256(project)}


def sources_sha256(project: Path = PROJECT_DIR) -> str:
    digest = hashlib.sha256()
    for folder in CODE_DIRS:
        base = project / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(project).as_posix()
            if not path.is_file() or "__pycache__" in rel or "/target/" in rel or "/logs/" in rel:
                continue
            if path.suffix not in (".py", ".sql", ".yml", ".yaml", ".csv", ".md", ".html", ".j2", ".css"):
                continue
            digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# --- what the ledger knows about the month ----------------------------------------------------------------

def _ledger(settings: Settings):
    from warehouse.ledger import Ledger

    return Ledger(settings.ledger_url)


def _feed_runs() -> dict:
    import contracts
    from tesoma.feed_config import load

    return {f: run for f, run in load().items() if f in contracts.available()}


def _days(month: dt.date) -> list[dt.date]:
    return [month + dt.timedelta(days=i) for i in range((month_end(month) - month).days + 1)]


def expected_dates(cadence: str, month: dt.date) -> list[dt.date]:
    """The delivery dates a feed has in ``month``: each day (daily), the 1st (monthly), none (yearly)."""
    if cadence == "daily":
        return _days(month)
    if cadence == "monthly":
        return [month]
    return []


def month_deliveries(settings: Settings, month: dt.date, state=None) -> dict:
    """What the ledger says about ``month`` and the 12 months behind it (up to ``state``'s creation):

    - ``behind``: per ``feed/partner``, the deliveries that count (the newest published one per date,
      :func:`warehouse.ledger.newest`) with dates in the window: count, first and last date, rows;
    - ``missing``: per feed, the dates of the month a partner has no published delivery for (not for feeds
      where a day without a delivery is normal, ``if_not_delivered: skip``, nor before the contract's
      ``servicePeriodStart``);
    - ``rejected``: rejected deliveries dated in the month (id, reason), ``quarantined``: published deliveries
      of the month with rows set aside, ``late``: deliveries of the month that arrived after their feed's
      deadline (scheduled run + ``late_after``).
    """
    from tesoma.feed_config import not_covered
    from tesoma.schedule import run_time_for
    from warehouse.ledger import newest

    month = month_start(month)
    first, last = add_months(month, 1 - WINDOW_MONTHS), month_end(month)
    cutoff = state.created_at if state is not None and state.created_at else None
    runs = _feed_runs()
    behind: dict[str, dict] = {}
    counted: dict[tuple[str, str, dt.date], object] = {}
    rejected, quarantined, late = [], [], []
    for d in _ledger(settings).all():
        if not first <= d.delivery_date <= last:
            continue
        landed = _aware(d.landed_at)
        if cutoff is not None and landed is not None and landed > cutoff:
            continue  # arrived after the state: not behind these figures
        in_month = d.delivery_date >= month
        if d.state in ("published", "superseded"):
            key = (d.feed, d.partner, d.delivery_date)
            counted[key] = newest([counted[key], d]) if key in counted else d
        elif d.state == "rejected" and in_month:
            rejected.append({"delivery_id": d.delivery_id, "feed": d.feed, "partner": d.partner,
                             "delivery_date": d.delivery_date.isoformat(), "reason": (d.reason or "")[:300]})
    for (feed, partner, day), d in sorted(counted.items()):
        entry = behind.setdefault(f"{feed}/{partner}", {"feed": feed, "partner": partner, "deliveries": 0,
                                                        "first_date": day.isoformat(), "rows_published": 0})
        entry["deliveries"] += 1
        entry["last_date"] = day.isoformat()
        entry["rows_published"] += d.rows_published or 0
        if day >= month and d.rows_quarantined:
            quarantined.append({"delivery_id": d.delivery_id, "feed": feed, "partner": partner,
                                "delivery_date": day.isoformat(), "rows_quarantined": d.rows_quarantined})
        run = runs.get(feed)
        arrived = _aware(d.arrived_at)
        if day >= month and run is not None and arrived is not None:
            deadline = run_time_for(day, run.cadence, run.run_at) + run.late_after
            if arrived > deadline:
                late.append({"delivery_id": d.delivery_id, "feed": feed, "partner": partner,
                             "delivery_date": day.isoformat(), "arrived_at": arrived.isoformat(),
                             "deadline": deadline.isoformat()})
    missing: dict[str, list[str]] = {}
    for feed, run in sorted(runs.items()):
        if run.if_not_delivered == "skip":
            continue  # a day without a delivery is normal for the feed (justified skip)
        for day in expected_dates(run.cadence, month):
            if day > last or not_covered(feed, day):
                continue
            partners = [p for p in run.partners if (feed, p, day) not in counted]
            for p in partners:
                missing.setdefault(f"{feed}/{p}", []).append(day.isoformat())
    return {"window": [first.isoformat(), last.isoformat()], "behind": dict(sorted(behind.items())),
            "missing": missing, "rejected": rejected, "quarantined": quarantined, "late": late}


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def missing_summary(deliveries: dict, limit: int = 6) -> list[str]:
    """One line per feed/partner with missing dates, e.g. ``city_visits/city: 2 day(s) (2026-10-03, 2026-10-04)``."""
    lines = []
    for key, days in deliveries["missing"].items():
        shown = ", ".join(days[:limit]) + (", …" if len(days) > limit else "")
        lines.append(f"{key}: {len(days)} date(s) without a published delivery ({shown})")
    return lines


def check_month_published(settings: Settings, month: dt.date) -> dict:
    """Refuse to publish a month before its deliveries are in: every carried daily feed (but those where a
    day without a delivery is normal) has a published delivery of every partner for each day, the monthly
    feeds have the month's. Returns :func:`month_deliveries`; raises :class:`PublicationError` listing
    what is missing."""
    found = month_deliveries(settings, month)
    if found["missing"]:
        raise PublicationError(f"{month:%Y-%m} is not complete: " + "; ".join(missing_summary(found))
                               + ". Publish the missing deliveries (rerun the feed DAGs for those dates, "
                               "or ask the partner) and run again")
    return found


# --- building the tables ----------------------------------------------------------------------------------

def _check_month(settings: Settings, month: dt.date, state, today: dt.date | None = None) -> None:
    today = today or dt.datetime.now(dt.UTC).date()
    if month > today:
        raise PublicationError(f"{month:%Y-%m} is in the future (today is {today.isoformat()}); "
                               "choose a month that has begun, e.g. --month "
                               f"{add_months(month_start(today), -1):%Y-%m}")
    if state.state_id is None:
        raise PublicationError("the warehouse is empty: nothing is published yet; run the feed DAGs "
                               "(or `tesoma demo`) first")
    ledger = _ledger(settings)
    if not any(month <= d.delivery_date <= month_end(month) and d.state in ("published", "superseded")
               for d in ledger.all()):
        dates = sorted(d.delivery_date for d in ledger.all() if d.state in ("published", "superseded"))
        span = f"; published data covers {dates[0]:%Y-%m} to {dates[-1]:%Y-%m}" if dates else ""
        raise PublicationError(f"no data for {month:%Y-%m}: no delivery dated in that month is published{span}")


def build_sources(settings: Settings, state, target: Path) -> Path:
    """The analysts' views of ``state`` in a DuckDB file of their own (what the marts read); written beside
    ``target`` and renamed, so a half-built catalog is never read."""
    import duckdb

    from warehouse import catalog, readers
    from warehouse.iceberg import Place

    target.parent.mkdir(parents=True, exist_ok=True)
    place = Place.for_root(settings.data_root, settings.ledger_url)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        catalog.build_views(con, readers.files_for(place, state), state)
        con.execute("checkpoint")
    finally:
        con.close()
    tmp.replace(target)
    return target


def _read_mart(marts_db: Path, model: str, month: dt.date):
    """The model's rows of months up to ``month``, in a stable order (as a pandas DataFrame)."""
    import duckdb

    with duckdb.connect(str(marts_db), read_only=True) as con:
        columns = dict(con.execute(
            "select column_name, data_type from information_schema.columns where table_schema = 'main' "
            "and table_name = ? order by ordinal_position", [model]).fetchall())
        if not columns:
            raise PublicationError(f"published model {model} is not in {marts_db}: the marts build did not make "
                                   "it (see the dbt log under restricted/dbt/)")
        # The model name comes from dbt's manifest (our own project), quoted as an identifier.
        query = f'select * from main."{model}"'  # noqa: S608
        if "month" in columns:
            query += " where month <= ?"
            return con.execute(query + " order by all", [month]).df(), columns
        return con.execute(query + " order by all").df(), columns


def _money(value) -> Decimal | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _pinned(frame, spec: dict, name: str, types: dict[str, str]) -> pa.Table:
    """The protected rows as Arrow with a fixed schema: text as string, dates as date32, whole numbers as
    int64, euro columns as decimal(18,2) (money is never a float in a published file). ``types``: the
    mart's DuckDB column types."""
    euros = set((spec.get("euros") or {}).get("columns", []))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    arrays, fields = [], []
    for column in table.column_names:
        data = table[column]
        kind = data.type
        if column in euros:
            values = [_money(v) for v in data.to_pylist()]
            arrays.append(pa.array(values, MONEY))
            fields.append(pa.field(column, MONEY))
            continue
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_dictionary(kind) \
                or pa.types.is_null(kind):
            target = pa.string()
        elif types.get(column) == "DATE" or pa.types.is_date(kind):
            target = pa.date32()
        elif pa.types.is_integer(kind) or (pa.types.is_floating(kind) and _whole(frame[column])
                                           and _integer_origin(column, spec)):
            target = pa.int64()
        elif pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            target = pa.float64()
        else:
            target = kind
        arrays.append(data.cast(target))
        fields.append(pa.field(column, target))
    meta = {b"tesoma.table": name.encode()}
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=meta))


def _whole(series) -> bool:
    values = series.dropna()
    return bool(len(values) == 0 or (values == values.round()).all())


def _integer_origin(column: str, spec: dict) -> bool:
    """Counts stay whole numbers after suppression (pandas turns an int column with NULLs into floats)."""
    return column in set(spec.get("person_counts", [])) | set(spec.get("counts", [])) | {
        (spec.get("euros") or {}).get("producers")} | {(spec.get("mixed") or {}).get("persons")}


def write_table(table: pa.Table, path: Path, rules_version: str, metadata: dict[str, str] | None = None) -> str:
    """Write ``table`` deterministically (``warehouse.publish.write_parquet``) with the disclosure rule
    version (and disclosure control's other ``metadata``) in the file's metadata; returns its SHA-256."""
    from warehouse.publish import write_parquet

    meta = dict(table.schema.metadata or {})
    meta.update({k.encode(): v.encode() for k, v in sorted((metadata or {}).items())})
    meta[b"tesoma.disclosure_rules"] = rules_version.encode()
    write_parquet(table.replace_schema_metadata(meta), path)
    return file_sha256(path)


@dataclass
class Built:
    tables: dict[str, dict]  # name → {"sha256", "rows", "suppressed"}
    rules_version: str
    alliance_version: str
    example: bool
    marts: dict  # models built, tests passed, seconds


def build_tables(settings: Settings, state, month: dt.date, config_dir: Path, out: Path, work: Path,
                 sources_db: Path, marts_db: Path, echo: Callable[[str], object] = print) -> Built:
    """Everything a publication's tables need, from ``state`` into the folder ``out``: sources catalog →
    marts → disclosure → Parquet → alliance scoring. ``config_dir`` holds the alliance and disclosure
    configurations to use; ``work`` dbt's working files."""
    import time

    from scorecard import alliance, disclosure, marts

    rules = disclosure.load_rules(config_dir / CONFIGS["disclosure"])
    terms = alliance.load(config_dir / CONFIGS["alliance"])
    echo(f"sources: the analysts' views of warehouse state {state.state_id} → {sources_db}")
    build_sources(settings, state, sources_db)
    started = time.monotonic()
    try:
        run = marts.build(sources_db, marts_db, work, last_month=month)
    except marts.MartsError as exc:  # one clear line for the command and the task log's first line
        raise PublicationError(f"the marts could not be built, nothing was published: {exc}") from exc
    seconds = time.monotonic() - started
    echo(f"marts: {len(run.models)} model(s) built and {run.tests_passed} test(s) passed in {seconds:.1f}s")
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, dict] = {}
    for name, spec in sorted(marts.published_models(run.manifest).items()):
        frame, types = _read_mart(marts_db, name, month)
        protected = disclosure.protect(frame, spec, rules, name)
        table = _pinned(protected.table, spec, name, types)
        sha = write_table(table, out / f"{name}.parquet", rules.version, protected.metadata)
        tables[name] = {"sha256": sha, "rows": table.num_rows, "suppressed": dict(protected.suppressed)}
        echo(f"published {name}: {table.num_rows} row(s); cells withheld: "
             + ", ".join(f"{k} {v}" for k, v in protected.suppressed.items()))
    if "kpi_monthly" not in tables:
        raise PublicationError("the marts publish no kpi_monthly (meta: {publish: true}): the scorecard needs it; "
                               "see marts/models and docs/kpis.md")
    kpi_monthly = pq.read_table(out / "kpi_monthly.parquet")
    for name, table in ((SCORECARD, scorecard_table(kpi_monthly, terms)), (BUDGET, budget_table(kpi_monthly, terms))):
        sha = write_table(table, out / f"{name}.parquet", rules.version)
        tables[name] = {"sha256": sha, "rows": table.num_rows, "suppressed": None,
                        "derived_from": "kpi_monthly (published values) and config/alliance.yaml"}
        echo(f"published {name}: {table.num_rows} row(s), scored from the published kpi_monthly")
    return Built(tables, rules.version, terms.version, terms.example,
                 {"models": len(run.models), "tests_passed": run.tests_passed, "seconds": round(seconds, 1)})


# --- alliance scoring on the published values -------------------------------------------------------------

def _kpi_terms(terms, kpi_id: str) -> tuple[float | None, float | None, float | None]:
    """(target, floor, weight) of an incentive KPI in the alliance configuration; Nones for any other KPI."""
    k = terms.kpis.get(kpi_id)
    return (None, None, None) if k is None else (k.target, k.floor, k.weight)


def _published_values(kpi_monthly: pa.Table) -> dict[dt.date, dict[str, dict]]:
    by_month: dict[dt.date, dict[str, dict]] = {}
    for row in kpi_monthly.to_pylist():
        by_month.setdefault(row["month"], {})[row["kpi_id"]] = row
    return by_month


SCORECARD_SCHEMA = pa.schema([
    ("month", pa.date32()), ("kpi_id", pa.string()), ("result_area", pa.string()), ("unit", pa.string()),
    ("value", pa.float64()), ("target", pa.float64()), ("floor", pa.float64()), ("weight", pa.float64()),
    ("score", pa.float64()), ("weighted_score", pa.float64()), ("previous_month_value", pa.float64()),
    ("trend_previous_month", pa.float64()), ("value_12_months_earlier", pa.float64()),
    ("trend_12_months", pa.float64()), ("status", pa.string()),
], metadata={b"tesoma.table": SCORECARD.encode(),
             b"tesoma.derived": b"scored from the published kpi_monthly with config/alliance.yaml"})


def scorecard_table(kpi_monthly: pa.Table, terms) -> pa.Table:
    """One row per month and KPI: the published value, the alliance's target, floor and weight, the score
    (``clamp((value - floor) / (target - floor), 0, 1)``), the change from the previous month and from 12
    months earlier, and the status: ``delivered``, ``not_delivered`` (no feed: never 0), ``no_data``,
    ``suppressed`` (withheld by disclosure control)."""
    by_month = _published_values(kpi_monthly)
    rows = []
    for month in sorted(by_month):
        values = by_month[month]
        prev, year_ago = by_month.get(add_months(month, -1), {}), by_month.get(add_months(month, -12), {})
        for kpi_id in sorted(values):
            r = values[kpi_id]
            value = r["value"]
            target, floor, weight = _kpi_terms(terms, kpi_id)
            score = terms.score(kpi_id, value) if kpi_id in terms.kpis else None
            status = r.get("status") or "delivered"
            if status == "delivered" and value is None:
                status = "suppressed"
            p = (prev.get(kpi_id) or {}).get("value")
            y = (year_ago.get(kpi_id) or {}).get("value")
            rows.append({"month": month, "kpi_id": kpi_id, "result_area": r.get("result_area"), "unit": r.get("unit"),
                         "value": value, "target": target, "floor": floor, "weight": weight,
                         "score": None if score is None else round(float(score), 6),
                         "weighted_score": None if score is None or weight is None else round(float(score) * weight, 6),
                         "previous_month_value": p, "trend_previous_month": _diff(value, p),
                         "value_12_months_earlier": y, "trend_12_months": _diff(value, y), "status": status})
    return pa.Table.from_pylist(rows, schema=SCORECARD_SCHEMA)


def _diff(a, b):
    return None if a is None or b is None else round(a - b, 9)


BUDGET_SCHEMA = pa.schema([
    ("month", pa.date32()), ("period", pa.string()), ("target", MONEY), ("actual", MONEY),
    ("cumulative_from", pa.date32()), ("cumulative_target", MONEY), ("cumulative_actual", MONEY),
    ("delta", MONEY), ("gain_pain_providers", MONEY), ("gain_pain_orderer", MONEY), ("kpi_pool", MONEY),
    ("kpi_weighted_score", pa.float64()),
], metadata={b"tesoma.table": BUDGET.encode(),
             b"tesoma.derived": b"the published actual_cost of kpi_monthly against config/alliance.yaml"})


def budget_table(kpi_monthly: pa.Table, terms) -> pa.Table:
    """One row per month of every contract period with a published alliance-level actual cost (whole
    periods, so the target line runs to the period's end): the month's target and actual cost, both
    cumulated from the period's first month with a published actual (``cumulative_from``), Δ = cumulative
    target − cumulative actual, the gain (+) or pain (−) that Δ means to date for the providers and the
    orderer (``Alliance.gain_pain(..., through, since)``, caps pro rata), and the month's KPI pool accrual
    (``Alliance.kpi_pool(..., month=month)``) with its weighted score. A month without a published actual
    has NULL actual figures, never 0."""
    by_month = _published_values(kpi_monthly)
    actuals = {m: _money(v["actual_cost"]["value"]) for m, v in by_month.items()
               if v.get("actual_cost") and v["actual_cost"].get("value") is not None}
    rows = []
    for r in terms.budget_table(actuals) if actuals else []:
        gain_pain = (terms.gain_pain(r.period_id, r.cumulative_actual, through=r.month, since=r.cumulative_from)
                     if r.cumulative_actual is not None else None)
        values = {k: v.get("value") for k, v in by_month.get(r.month, {}).items()}
        pool = terms.kpi_pool(values, month=r.month) if values else None
        rows.append({"month": r.month, "period": r.period_id, "target": r.target, "actual": r.actual,
                     "cumulative_from": r.cumulative_from, "cumulative_target": r.cumulative_target,
                     "cumulative_actual": r.cumulative_actual,
                     "delta": r.cumulative_delta,
                     "gain_pain_providers": gain_pain.providers if gain_pain else None,
                     "gain_pain_orderer": gain_pain.orderer if gain_pain else None,
                     "kpi_pool": pool.month_amount_eur if pool else None,
                     "kpi_weighted_score": round(pool.weighted_score, 6) if pool else None})
    return pa.Table.from_pylist(rows, schema=BUDGET_SCHEMA)


# --- publish ----------------------------------------------------------------------------------------------

def publish(settings: Settings, month: dt.date, *, echo: Callable[[str], object] = print,
            check_complete: bool = False) -> Publication:
    """Publish ``month`` (any day of it) from the warehouse's current state; see the module's docstring.

    ``check_complete``: first refuse when the month's deliveries are not all published
    (:func:`check_month_published`; the monthly DAG's first task does that check on its own)."""
    from warehouse import history, states
    from warehouse.iceberg import Place

    month = month_start(month)
    layout = Layout(settings.data_root)
    engine = _ledger(settings).engine
    state = states.head(engine)
    _check_month(settings, month, state)
    if check_complete:
        check_month_published(settings, month)
    publication_id = _next_id(layout, engine, month)
    tag = f"{TAG_PREFIX}{publication_id}"
    echo(f"publication {publication_id}: {month:%Y-%m} from warehouse state {state.state_id}")
    layout.published.mkdir(parents=True, exist_ok=True)
    _remove_stale(layout.published)
    tmp = Path(tempfile.mkdtemp(prefix=f".{publication_id}.", dir=layout.published))
    try:
        config_dir = tmp / "config"
        config_dir.mkdir()
        for name in CONFIGS.values():
            shutil.copyfile(PROJECT_DIR / "config" / name, config_dir / name)
        built = build_tables(settings, state, month, config_dir, tmp, layout.restricted / "dbt",
                             layout.restricted / "sources" / f"state-{state.state_id}.duckdb",
                             layout.restricted / "marts.duckdb", echo)
        deliveries = month_deliveries(settings, month, state)
        manifest = _manifest(publication_id, month, state, tag, built, deliveries, config_dir)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n",
                                           encoding="utf-8")
        from scorecard import report

        report.write(tmp, manifest)
        # Tag last: a failed build leaves no tag. Tags never move; an expiry cannot take the state meanwhile
        # (the head state is always kept; by now it may no longer be the head, so tag it by id).
        history.tag(Place.for_root(settings.data_root, settings.ledger_url), tag, state.state_id,
                    note=f"publication {publication_id} of the scorecard for {month:%Y-%m}")
        final = layout.published / publication_id
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _write_latest(layout, publication_id, month)
    echo(f"published {final} (report: {final / 'report.html'})")
    return Publication(publication_id, month, final, manifest)


STALE = dt.timedelta(hours=6)
"""A hidden build folder this old is left by a killed publish (a build takes minutes): it is removed."""


def _remove_stale(published: Path) -> None:
    now = dt.datetime.now(dt.UTC).timestamp()
    for path in published.glob(".*"):
        if path.is_dir() and now - path.stat().st_mtime > STALE.total_seconds():
            shutil.rmtree(path, ignore_errors=True)


def _manifest(publication_id: str, month: dt.date, state, tag: str, built: Built, deliveries: dict,
              config_dir: Path) -> dict:
    return {
        "publication_id": publication_id,
        "month": month.isoformat(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "warehouse_state": {"state_id": state.state_id, "tag": tag,
                            "created_at": state.created_at.isoformat() if state.created_at else None,
                            "delivery_id": state.delivery_id, "snapshots": state.snapshots},
        "deliveries": deliveries,
        "code_version": code_version(),
        "disclosure_rules": {"version": built.rules_version,
                             "sha256": file_sha256(config_dir / CONFIGS["disclosure"])},
        "alliance_config": {"version": built.alliance_version, "example": built.example,
                            "sha256": file_sha256(config_dir / CONFIGS["alliance"])},
        "marts": built.marts,
        "tables": built.tables,
    }


def _write_latest(layout: Layout, publication_id: str, month: dt.date) -> None:
    """Point ``latest.json`` at the newest publication of the newest month (a republication of an older month
    does not move it back)."""
    path = layout.published / "latest.json"
    current = _read_json(path)
    if current and current.get("month", "") > month.isoformat():
        return
    tmp = path.with_name(f".latest.json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"publication_id": publication_id, "month": month.isoformat(),
                               "report": f"{publication_id}/report.html"}, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


# --- reading publications ---------------------------------------------------------------------------------

def load(settings_or_root, publication_id: str) -> Publication:
    """A finished publication by id (``data/published/<id>/``)."""
    root = settings_or_root.data_root if isinstance(settings_or_root, Settings) else Path(settings_or_root)
    parse_id(publication_id)
    folder = Layout(root).published / publication_id
    manifest = _read_json(folder / "manifest.json")
    if manifest is None:
        known = list_ids(root)
        raise PublicationError(f"no publication {publication_id} in {folder.parent}; "
                               f"publications: {', '.join(known) or 'none yet (tesoma report --month YYYY-MM)'}")
    return Publication(publication_id, dt.date.fromisoformat(manifest["month"]), folder, manifest)


def list_ids(root: Path) -> list[str]:
    published = Layout(Path(root)).published
    if not published.is_dir():
        return []
    ids = [p.name for p in published.iterdir() if p.is_dir() and ID_PATTERN.match(p.name)
           and (p / "manifest.json").exists()]
    return sorted(ids, key=lambda i: (parse_id(i)[0], parse_id(i)[1]))


def latest(settings_or_root) -> Publication | None:
    """The publication ``published/latest.json`` names, or None before the first."""
    root = settings_or_root.data_root if isinstance(settings_or_root, Settings) else Path(settings_or_root)
    pointer = _read_json(Layout(root).published / "latest.json")
    return None if pointer is None else load(root, pointer["publication_id"])


# --- reproduce --------------------------------------------------------------------------------------------

def reproduce(settings: Settings, publication_id: str, *, echo: Callable[[str], object] = print) -> ReproduceResult:
    """Rebuild a publication's tables from its tagged warehouse state with its stored configurations, in a
    temporary folder under ``restricted/``, and compare each table with the published one."""
    from warehouse import states

    publication = load(settings, publication_id)
    manifest = publication.manifest
    engine = _ledger(settings).engine
    tag = manifest["warehouse_state"]["tag"]
    state = states.resolve(engine, tag)
    if state.state_id != manifest["warehouse_state"]["state_id"]:
        raise PublicationError(f"tag {tag} pins warehouse state {state.state_id}, but publication {publication_id} "
                               f"was made from state {manifest['warehouse_state']['state_id']}: the ledger's tags "
                               "were changed by hand; restore the ledger from its backup")
    layout = Layout(settings.data_root)
    layout.restricted.mkdir(parents=True, exist_ok=True)
    code_now = code_version()
    code_changed = code_now["sources_sha256"] != manifest["code_version"]["sources_sha256"]
    echo(f"reproducing {publication_id} ({manifest['month'][:7]}) from {tag} (warehouse state {state.state_id})")
    if code_changed:
        echo("note: the marts/scorecard code differs from the publication's "
             f"({manifest['code_version'].get('git') or manifest['code_version']['sources_sha256'][:12]} → "
             f"{code_now.get('git') or code_now['sources_sha256'][:12]}); differences may come from the code")
    with tempfile.TemporaryDirectory(prefix=f"reproduce-{publication_id}-", dir=layout.restricted) as work:
        work = Path(work)
        out = work / "published"
        built = build_tables(settings, state, publication.month, publication.folder / "config", out, work / "dbt",
                             work / "sources.duckdb", work / "marts.duckdb", echo=lambda _line: None)
        results, details = {}, {}
        for name in sorted(set(built.tables) | set(manifest["tables"])):
            if name not in manifest["tables"]:
                results[name] = "new"
                continue
            if name not in built.tables:
                results[name] = "missing"
                continue
            if built.tables[name]["sha256"] == manifest["tables"][name]["sha256"]:
                results[name] = "identical"
                continue
            old, new = pq.read_table(publication.folder / f"{name}.parquet"), pq.read_table(out / f"{name}.parquet")
            if old.schema.remove_metadata() == new.schema.remove_metadata() and old.equals(new):
                results[name] = "same content"
                details[name] = "equal rows, other file bytes"
            else:
                results[name] = "different"
                details[name] = _difference(old, new)
    for name, verdict in results.items():
        echo(f"  {name:<24}{verdict}" + (f" — {details[name]}" if name in details else ""))
    result = ReproduceResult(publication_id, state.state_id, results, details, code_changed)
    echo(f"{publication_id}: " + ("every table identical" if result.identical else
                                  f"{sum(v != 'identical' for v in results.values())} of {len(results)} table(s) "
                                  "not identical"))
    return result


def _difference(old: pa.Table, new: pa.Table) -> str:
    if old.schema.remove_metadata() != new.schema.remove_metadata():
        return "columns or types differ"
    if old.num_rows != new.num_rows:
        return f"{old.num_rows} → {new.num_rows} rows"
    changed = sum(a != b for a, b in zip(old.to_pylist(), new.to_pylist(), strict=True))
    return f"{changed} of {old.num_rows} row(s) differ"


# --- steps (the monthly DAG's tasks and the command line) --------------------------------------------------

def publish_month(month: dt.date, settings: Settings | None = None,
                  echo: Callable[[str], object] | None = None) -> dict:
    """Publish ``month`` and refresh the analysts' catalog so its ``kpi_*`` views show the new publication;
    returns what a task may pass on (ids and paths, never figures)."""
    from tesoma.config import settings as current_settings
    from warehouse import catalog

    s = settings or current_settings()
    published = publish(s, month, echo=echo or logging.getLogger(__name__).info)
    catalog.refresh(Layout(s.data_root), s.ledger_url)
    return {"publication_id": published.publication_id, "month": published.month.isoformat(),
            "report": str(published.report), "state_id": published.manifest["warehouse_state"]["state_id"],
            "tag": published.manifest["warehouse_state"]["tag"]}


def missing_deliveries(month: dt.date, settings: Settings | None = None) -> list[str]:
    """What keeps ``month`` from being published: one line per feed/partner with dates without a published
    delivery (empty when the month is complete; see :func:`check_month_published`)."""
    from tesoma.config import settings as current_settings

    return missing_summary(month_deliveries(settings or current_settings(), month_start(month)))
