"""The alliance's commercial model: target cost, gain/pain share and the KPI incentive.

The parameters live in ``config/alliance.yaml`` (versioned; docs/alliance.md explains every key and
formula). :func:`load` reads and validates the file into an :class:`Alliance`; everything else here is a
pure function of that object and the figures passed in:

- :meth:`Alliance.period_for` / :meth:`Alliance.monthly_target` — the contract period a month falls in
  and its share of the period's adjusted target cost (the target budget, by month);
- :meth:`Alliance.gain_pain` — Δ = adjusted target − actual cost, split between the providers and the
  orderer with the providers' cap applied;
- :meth:`Alliance.score` / :meth:`Alliance.kpi_pool` — each KPI's score
  clamp((x − floor) / (target − floor), 0, 1) and the KPI pool = pool × Σ weight × score;
- :meth:`Alliance.budget_table` — target and actual by month, cumulatively per contract period.

The scores are computed on the *published* (disclosure-controlled) KPI values, so anyone holding a
publication and this file can recompute every euro. A parameter that cannot be used is refused with an
:class:`AllianceConfigError`, one line naming the file, the key and the fix.

Money is :class:`~decimal.Decimal` throughout (rounded to cents, half away from zero); KPI values and
scores are floats.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import difflib
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, NoReturn

import yaml

from scorecard.months import month_end, months_between
from tesoma.config import PROJECT_DIR

CONFIG = PROJECT_DIR / "config" / "alliance.yaml"
"""The alliance file of the checkout (a publication passes its stored copy instead)."""

KPI_DEFINITIONS = PROJECT_DIR / "marts" / "seeds" / "kpi_definitions.csv"
"""The single list of KPI ids (dbt seed of the marts); an incentive KPI must be one of them."""

WEIGHT_TOLERANCE = 1e-9
"""How far the KPI weights' sum (and each side's shares) may be from 1."""

MONTHLY_PROFILES = ("even_by_month", "even_by_day")
"""How a period's adjusted target is spread over its months: equally per month, or by calendar days."""

CENT = Decimal("0.01")

Outcome = Literal["gain", "pain", "on_target"]


class AllianceConfigError(ValueError):
    """A parameter that cannot be used. The message is one line: ``<file>: <key>: <problem> — fix: <fix>``."""

    def __init__(self, file: str, key: str, problem: str, fix: str):
        self.file, self.key, self.problem, self.fix = file, key, problem, fix
        super().__init__(f"{file}: {key}: {problem} — fix: {fix}")


# ---------------------------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Change:
    """One entry of the file's change log."""

    version: str
    date: dt.date
    change: str


@dataclass(frozen=True)
class Adjustment:
    """An agreed change to a period's target cost (positive raises the target, negative lowers it)."""

    amount: Decimal
    reason: str
    agreed: dt.date


@dataclass(frozen=True)
class ContractPeriod:
    """A contract period (whole months) with its target cost, adjustments and monthly target budget."""

    id: str
    start: dt.date
    end: dt.date
    target_cost: Decimal
    adjustments: tuple[Adjustment, ...]
    months: tuple[dt.date, ...]
    """First day of every month of the period, in order."""
    month_targets: tuple[Decimal, ...]
    """The adjusted target spread over ``months`` (same order); sums exactly to :attr:`adjusted_target`."""

    @property
    def adjusted_target(self) -> Decimal:
        """Target cost + Σ agreed adjustments."""
        return self.target_cost + sum((a.amount for a in self.adjustments), Decimal(0))

    def target_between(self, first: dt.date, last: dt.date) -> Decimal:
        """The target budget of the months from ``first`` through ``last`` (inclusive; any day of each)."""
        first, last = first.replace(day=1), last.replace(day=1)
        pairs = zip(self.months, self.month_targets, strict=True)
        return sum((t for m, t in pairs if first <= m <= last), Decimal(0))

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= _as_date(day) <= self.end


@dataclass(frozen=True)
class ProvidersCap:
    """The most the providers' share may reach: a fixed € amount or a fraction of the adjusted target."""

    eur: Decimal | None = None
    fraction_of_target: Decimal | None = None

    def amount(self, adjusted_target: Decimal) -> Decimal:
        if self.eur is not None:
            return self.eur
        assert self.fraction_of_target is not None
        return _cents(self.fraction_of_target * adjusted_target)


@dataclass(frozen=True)
class ShareRule:
    """How one side (gain or pain) is split: the providers' and the orderer's shares; the providers' cap."""

    providers: Decimal
    orderer: Decimal
    providers_cap: ProvidersCap | None


@dataclass(frozen=True)
class KpiTerms:
    """An incentive KPI's floor (scores 0), target (scores 1) and weight in the pool."""

    kpi_id: str
    floor: float
    target: float
    weight: float

    def score(self, value: float | None) -> float | None:
        """clamp((value − floor) / (target − floor), 0, 1); ``None`` when there is no value.

        A lower-is-better KPI has its target below its floor; the same formula then rewards lower values.
        """
        number = _kpi_number(self.kpi_id, value)
        if number is None:
            return None
        return min(1.0, max(0.0, (number - self.floor) / (self.target - self.floor)))


@dataclass(frozen=True)
class GainPain:
    """Δ and its split. Amounts are signed: a gain is positive, a pain negative; providers + orderer = Δ."""

    period_id: str
    since: dt.date | None
    through: dt.date | None
    """``None``: the whole period (the settlement). Months: to date, against the target of months
    ``since`` (the period's first month unless the data start later) through ``through``."""
    adjusted_target: Decimal
    """The period's target cost + adjustments."""
    target: Decimal
    """What the actual cost is compared with: the adjusted target, or its cumulative budget to date."""
    actual_cost: Decimal
    delta: Decimal
    """target − actual cost: positive = gain (cost below target), negative = pain."""
    outcome: Outcome
    providers_before_cap: Decimal
    providers_cap: Decimal | None
    """The cap on the providers' share (to date: pro rata), as a positive amount; ``None`` = no cap."""
    capped: bool
    providers: Decimal
    orderer: Decimal


@dataclass(frozen=True)
class KpiScore:
    """One incentive KPI's value and score, with the terms it was scored by."""

    kpi_id: str
    value: float | None
    floor: float
    target: float
    weight: float
    score: float | None
    """``None`` when the KPI has no value (not delivered, no data, withheld by disclosure control)."""

    @property
    def weighted(self) -> float:
        """weight × score: this KPI's part of the pool's weighted score (0 when it has no score)."""
        return 0.0 if self.score is None else self.weight * self.score


@dataclass(frozen=True)
class KpiPool:
    """The KPI incentive for one set of KPI values."""

    scores: tuple[KpiScore, ...]
    weighted_score: float
    """Σ weight × score over the KPIs with a score (0..1)."""
    unscored_weight: float
    """Σ weight of the KPIs without a value: that part of the pool is not earned (never redistributed)."""
    pool_eur: Decimal
    """The pool of a contract period."""
    amount_eur: Decimal
    """pool × weighted score: what these values would earn as the period's values."""
    month: dt.date | None = None
    month_pool_eur: Decimal | None = None
    """With a month: the period's pool ÷ the period's number of months."""
    month_amount_eur: Decimal | None = None
    """With a month: month pool × weighted score (an indicative monthly accrual)."""


@dataclass(frozen=True)
class BudgetRow:
    """One month of the target budget against the actual cost, cumulative within its contract period."""

    month: dt.date
    period_id: str
    target: Decimal
    actual: Decimal | None
    cumulative_from: dt.date | None
    """The month the cumulative figures count from: the period's first month with an actual cost (its first
    month, unless the data start later in the period); ``None`` before it."""
    cumulative_target: Decimal | None
    """Σ target from ``cumulative_from`` through this month (``None`` before ``cumulative_from``)."""
    cumulative_actual: Decimal | None
    """Σ actual from ``cumulative_from`` through this month; ``None`` from the first month without an actual
    cost on (unknown, not zero)."""

    @property
    def cumulative_delta(self) -> Decimal | None:
        """Cumulative target − cumulative actual (positive = under budget so far)."""
        if self.cumulative_actual is None or self.cumulative_target is None:
            return None
        return self.cumulative_target - self.cumulative_actual


@dataclass(frozen=True, eq=False)
class Alliance:
    """The validated contents of the alliance file, and the computations on it."""

    path: Path
    sha256: str
    """Of the file's bytes: which parameters a publication used."""
    example: bool
    version: str
    changed: dt.date
    changes: tuple[Change, ...]
    monthly_profile: str
    periods: tuple[ContractPeriod, ...]
    gain: ShareRule
    pain: ShareRule
    pool_eur: Decimal
    kpis: Mapping[str, KpiTerms]

    # -- target budget

    def period(self, period_id: str) -> ContractPeriod:
        for period in self.periods:
            if period.id == period_id:
                return period
        raise KeyError(f"no contract period {period_id!r} in {self.path} (periods: {', '.join(self._ids())})")

    def period_for(self, month: dt.date) -> ContractPeriod:
        """The contract period a day (any day of a month) falls in."""
        for period in self.periods:
            if month in period:
                return period
        raise AllianceConfigError(
            _display(self.path),
            "periods",
            f"no contract period covers {month:%Y-%m} (periods {self.periods[0].start} to {self.periods[-1].end})",
            "add a period that covers it (and bump the version)",
        )

    def monthly_target(self, month: dt.date) -> Decimal:
        """The target budget of the month ``month`` falls in (its share of the period's adjusted target)."""
        period = self.period_for(month)
        return period.month_targets[period.months.index(_as_date(month).replace(day=1))]

    def budget_table(self, monthly_actuals: Mapping[dt.date, Decimal]) -> list[BudgetRow]:
        """Target and actual by month for every month of every contract period that has an actual cost.

        ``monthly_actuals`` maps the first day of a month to its actual cost (alliance level, all partners).
        Whole periods are listed, so the target runs to the period's end. Cumulative figures count from the
        period's first month with an actual cost (``cumulative_from``: the period's first month, or later
        when the data start mid-period), target and actual alike so that they compare. A month without an
        actual has ``actual`` ``None``, and the cumulative actual is ``None`` from that month on.
        """
        actuals = {_month_key(m): _money_arg(f"actual cost of {m}", a) for m, a in monthly_actuals.items()}
        touched = {self.period_for(m).id for m in actuals}
        rows: list[BudgetRow] = []
        for period in self.periods:
            if period.id not in touched:
                continue
            since = min(m for m in actuals if m in period)
            cumulative_target: Decimal | None = None
            cumulative_actual: Decimal | None = None
            for month, target in zip(period.months, period.month_targets, strict=True):
                actual = actuals.get(month)
                if month == since:
                    cumulative_target, cumulative_actual = Decimal(0), Decimal(0)
                if cumulative_target is not None:
                    cumulative_target += target
                    unknown = actual is None or cumulative_actual is None
                    cumulative_actual = None if unknown else cumulative_actual + actual
                rows.append(BudgetRow(month, period.id, target, actual, since if month >= since else None,
                                      cumulative_target, cumulative_actual))
        return rows

    # -- gain / pain

    def gain_pain(
        self, period_id: str, actual_cost: Decimal, *, through: dt.date | None = None, since: dt.date | None = None
    ) -> GainPain:
        """Δ = adjusted target − actual cost, split between the providers and the orderer.

        A gain (Δ > 0) is split by ``gain_pain.gain``, a pain (Δ < 0) by ``gain_pain.pain``. The cap limits
        the *providers'* share (their bonus, or their liability); what lies beyond it falls to the orderer,
        so providers + orderer = Δ always. The providers' share is rounded to cents; the orderer gets the rest.

        ``through`` (a month of the period) compares ``actual_cost`` — the cost from the period's start (or
        from the month ``since``, when the data start later) through that month — with the target budget of
        the same months, and scales the cap by the same fraction of the period: an indication during the
        period. Without it: the period's settlement.
        """
        period = self.period(period_id)
        actual = _money_arg("actual_cost", actual_cost)
        adjusted = period.adjusted_target
        if through is None:
            if since is not None:
                raise ValueError("since= needs through= (the settlement is on the whole period)")
            target = adjusted
        else:
            first = period.start if since is None else since
            for name, day in (("through", through), ("since", first)):
                if day not in period:
                    raise ValueError(f"{name}={day} is not in period {period.id} ({period.start}..{period.end})")
            if first.replace(day=1) > through.replace(day=1):
                raise ValueError(f"since={since} is after through={through}")
            target = period.target_between(_as_date(first), _as_date(through))
        delta = target - actual
        outcome: Outcome = "gain" if delta > 0 else "pain" if delta < 0 else "on_target"
        rule = self.gain if delta >= 0 else self.pain
        before_cap = _cents(delta * rule.providers)
        cap = None
        if rule.providers_cap is not None:
            cap = rule.providers_cap.amount(adjusted)
            if through is not None:
                cap = _cents(cap * target / adjusted)
        capped = cap is not None and abs(before_cap) > cap
        providers = before_cap if cap is None or not capped else (cap if delta > 0 else -cap)
        providers += 0  # no negative zero (a pain with a providers' share of 0 reads 0.00, not -0.00)
        return GainPain(
            period_id=period.id,
            since=None if through is None else _as_date(since or period.start).replace(day=1),
            through=None if through is None else _as_date(through).replace(day=1),
            adjusted_target=adjusted,
            target=target,
            actual_cost=actual,
            delta=delta,
            outcome=outcome,
            providers_before_cap=before_cap,
            providers_cap=cap,
            capped=capped,
            providers=providers,
            orderer=delta - providers,
        )

    # -- KPI incentive

    def score(self, kpi_id: str, value: float | None) -> float | None:
        """The KPI's score 0..1 for ``value`` (``None`` when the value is ``None`` or NaN)."""
        return self._terms(kpi_id).score(value)

    def kpi_pool(self, values: Mapping[str, float | None], month: dt.date | None = None) -> KpiPool:
        """Each incentive KPI's score and the pool earned: pool × Σ weight × score.

        ``values`` maps KPI ids to their (published) values; ids outside the incentive are ignored. An
        incentive KPI whose value is ``None``, NaN or absent scores ``None``: its weight earns nothing and is
        reported as ``unscored_weight`` — it is never shared out among the other KPIs.
        With ``month``, also the month's accrual: the period's pool ÷ its months × weighted score.
        """
        scores = tuple(
            KpiScore(t.kpi_id, _kpi_number(t.kpi_id, values.get(t.kpi_id)), t.floor, t.target, t.weight,
                     t.score(values.get(t.kpi_id)))
            for t in self.kpis.values()
        )
        # Summed as decimals of the weights and scores as written, so that 0.1 + 0.2 is 0.3 and the euros
        # do not depend on binary rounding.
        weighted = sum((_exact(s.weight) * _exact(s.score) for s in scores if s.score is not None), Decimal(0))
        unscored = sum((_exact(s.weight) for s in scores if s.score is None), Decimal(0))
        amount = _cents(self.pool_eur * weighted)
        if month is None:
            return KpiPool(scores, float(weighted), float(unscored), self.pool_eur, amount)
        period = self.period_for(month)
        month_pool = _cents(self.pool_eur / len(period.months))
        return KpiPool(scores, float(weighted), float(unscored), self.pool_eur, amount,
                       _as_date(month).replace(day=1), month_pool, _cents(month_pool * weighted))

    def _terms(self, kpi_id: str) -> KpiTerms:
        try:
            return self.kpis[kpi_id]
        except KeyError:
            raise KeyError(
                f"KPI {kpi_id!r} has no floor and target in {self.path} (incentive.kpis: {', '.join(self.kpis)})"
            ) from None

    def _ids(self) -> list[str]:
        return [p.id for p in self.periods]


# ---------------------------------------------------------------------------------------------- loading


def load(
    path: Path = CONFIG, kpi_ids: set[str] | None = None, *, definitions: Path = KPI_DEFINITIONS
) -> Alliance:
    """Read and validate the alliance file.

    ``kpi_ids``: the KPI ids an incentive KPI may name; default: those of ``definitions`` (the marts' seed
    ``kpi_definitions.csv``), whose ``direction`` column is then checked too (a lower-is-better KPI needs its
    target below its floor). Raises :class:`AllianceConfigError` for the first parameter that cannot be used.
    """
    path = Path(path)
    file = _display(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AllianceConfigError(file, "(file)", f"cannot be read ({e.strerror})",
                                  "check the path (default config/alliance.yaml)") from None
    if kpi_ids is None:
        known, source = _read_definitions(definitions, file)
    else:
        known, source = dict.fromkeys(kpi_ids), "the KPI ids given"
    return _Parser(file, known, source).alliance(path, data)


def _read_definitions(definitions: Path, file: str) -> tuple[dict[str, str | None], str]:
    """KPI id → direction (``higher``/``lower``) from the marts' seed."""
    try:
        with open(definitions, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        raise AllianceConfigError(
            file, "incentive.kpis", f"cannot check the KPI ids: {_display(definitions)} cannot be read",
            "run from the checkout (the marts' seed lists the KPIs) or pass kpi_ids to scorecard.alliance.load",
        ) from None
    return {row["kpi_id"]: (row.get("direction") or None) for row in rows if row.get("kpi_id")}, _display(definitions)


_KEY_EXAMPLES = {
    "example": "example: true",
    "version": 'version: "2026.1"',
    "changed": "changed: 2026-12-05",
    "changes": '- {version: "2026.1", date: 2026-12-05, change: what changed and why}',
    "date": "date: 2026-12-05",
    "change": "change: what changed and why",
    "monthly_profile": "monthly_profile: even_by_month",
    "periods": '- {id: "2026", start: 2026-01-01, end: 2026-12-31, target_cost: 14000000.00}',
    "id": 'id: "2026"',
    "start": "start: 2026-01-01",
    "end": "end: 2026-12-31",
    "target_cost": "target_cost: 14000000.00",
    "adjustments": "- {amount: 300000.00, reason: why, agreed: 2026-03-15}",
    "amount": "amount: 300000.00",
    "reason": "reason: what the steering group agreed",
    "agreed": "agreed: 2026-03-15",
    "gain_pain": "gain_pain: {gain: {...}, pain: {...}}",
    "gain": "gain: {providers: 0.5, orderer: 0.5}",
    "pain": "pain: {providers: 0.5, orderer: 0.5}",
    "providers": "providers: 0.5",
    "orderer": "orderer: 0.5",
    "providers_cap": "providers_cap: {eur: 500000.00}",
    "eur": "eur: 500000.00",
    "fraction_of_target": "fraction_of_target: 0.03",
    "incentive": "incentive: {pool_eur: 300000.00, kpis: {...}}",
    "pool_eur": "pool_eur: 300000.00",
    "kpis": "kpis: {reach: {floor: 55, target: 70, weight: 1.0}}",
    "floor": "floor: 55",
    "target": "target: 70",
    "weight": "weight: 0.15",
}


class _Parser:
    """Turns the file's YAML into an :class:`Alliance`, refusing the first thing it cannot use."""

    def __init__(self, file: str, known_kpis: dict[str, str | None], kpi_source: str):
        self.file, self.known_kpis, self.kpi_source = file, known_kpis, kpi_source

    def fail(self, key: str, problem: str, fix: str) -> NoReturn:
        raise AllianceConfigError(self.file, key, problem, fix)

    # -- the document

    def alliance(self, path: Path, data: bytes) -> Alliance:
        try:
            doc = yaml.load(data, Loader=_Loader)  # _Loader is a SafeLoader
        except _DuplicateKey as e:
            self.fail(f"line {e.line}", f"key {e.key!r} is written twice (YAML would silently keep the last)",
                      "keep one of them")
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"line {mark.line + 1}" if mark else "(file)"
            self.fail(where, f"is not valid YAML ({getattr(e, 'problem', None) or e})", "correct the YAML syntax")
        top = self.keys(doc, "(top level)", required=("example", "version", "changed", "changes", "periods",
                                                       "gain_pain", "incentive"), optional=("monthly_profile",))
        example = top["example"]
        if not isinstance(example, bool):
            self.fail("example", f"{example!r} is not true or false",
                      "write `example: true` for invented figures, `example: false` for the agreed ones")
        version = self.text(top["version"], "version")
        changed = self.date(top["changed"], "changed")
        changes = self.changes(top["changes"], version, changed)
        profile = top.get("monthly_profile", "even_by_month")
        if profile not in MONTHLY_PROFILES:
            self.fail("monthly_profile", f"{profile!r} is not a monthly profile",
                      f"use one of {', '.join(MONTHLY_PROFILES)} (default even_by_month)")
        periods = self.periods(top["periods"], profile)
        gain, pain = self.gain_pain(top["gain_pain"])
        pool, kpis = self.incentive(top["incentive"])
        return Alliance(path=path, sha256=hashlib.sha256(data).hexdigest(), example=example, version=version,
                        changed=changed, changes=changes, monthly_profile=profile, periods=periods, gain=gain,
                        pain=pain, pool_eur=pool, kpis=kpis)

    def changes(self, value: Any, version: str, changed: dt.date) -> tuple[Change, ...]:
        entries = []
        for i, item in enumerate(self.items(value, "changes")):
            key = f"changes[{i}]"
            entry = self.keys(item, key, required=("version", "date", "change"))
            entries.append(Change(self.text(entry["version"], f"{key}.version"),
                                  self.date(entry["date"], f"{key}.date"),
                                  self.text(entry["change"], f"{key}.change")))
        seen: set[str] = set()
        for i, entry in enumerate(entries):
            if entry.version in seen:
                self.fail(f"changes[{i}].version", f"version {entry.version} has two change log entries",
                          "give each version one entry (a new change needs a new version)")
            seen.add(entry.version)
        current = [e for e in entries if e.version == version]
        if not current:
            self.fail("changes", f"no change log entry for version {version}",
                      f'add `- {{version: "{version}", date: {changed}, change: what changed and why}}` on top')
        if current[0].date != changed:
            self.fail("changed", f"is {changed}, but the change log dates version {version} {current[0].date}",
                      "make `changed` the date of the current version's change log entry")
        return tuple(entries)

    def periods(self, value: Any, profile: str) -> tuple[ContractPeriod, ...]:
        periods: list[tuple[int, ContractPeriod]] = []
        for i, item in enumerate(self.items(value, "periods")):
            key = f"periods[{i}]"
            entry = self.keys(item, key, required=("id", "start", "end", "target_cost"), optional=("adjustments",))
            period_id = self.text(entry["id"], f"{key}.id")
            start = self.date(entry["start"], f"{key}.start")
            end = self.date(entry["end"], f"{key}.end")
            if start.day != 1:
                self.fail(f"{key}.start", f"period {period_id} starts on {start}, not on the first day of a month",
                          f"start it on {start.replace(day=1)} (the target budget is by month)")
            if end != month_end(end):
                self.fail(f"{key}.end", f"period {period_id} ends on {end}, not on the last day of a month",
                          f"end it on {month_end(end)} (the target budget is by month)")
            if end < start:
                self.fail(f"{key}.end", f"period {period_id} ends ({end}) before it starts ({start})",
                          "swap start and end, or correct the year")
            target = self.money(entry["target_cost"], f"{key}.target_cost")
            if target <= 0:
                self.fail(f"{key}.target_cost", f"is {target}; a target cost is positive",
                          "write the agreed target cost in euros")
            adjustments = tuple(
                self.adjustment(a, f"{key}.adjustments[{j}]")
                for j, a in enumerate(self.items(entry.get("adjustments", []), f"{key}.adjustments", empty=True))
            )
            adjusted = target + sum((a.amount for a in adjustments), Decimal(0))
            if adjusted <= 0:
                self.fail(f"{key}.adjustments", f"bring period {period_id}'s target to {adjusted}",
                          "check the adjustments' signs and amounts")
            months = tuple(months_between(start, end))
            periods.append((i, ContractPeriod(period_id, start, end, target, adjustments, months,
                                              _spread(adjusted, months, profile))))
        self.check_ids_unique(periods)
        ordered = sorted(periods, key=lambda p: p[1].start)
        for (_, a), (j, b) in zip(ordered, ordered[1:], strict=False):
            after_a = a.end + dt.timedelta(days=1)
            if b.start < after_a:
                self.fail(f"periods[{j}].start",
                          f"periods {a.id} ({a.start}..{a.end}) and {b.id} ({b.start}..{b.end}) overlap",
                          f"let {b.id} start on {after_a}, the day after {a.id} ends (or end {a.id} earlier)")
            if b.start > after_a:
                self.fail(f"periods[{j}].start",
                          f"gap {after_a}..{b.start - dt.timedelta(days=1)} between periods {a.id} and {b.id}",
                          f"let {b.id} start on {after_a}, or add a period covering the gap")
        return tuple(p for _, p in ordered)

    def check_ids_unique(self, periods: list[tuple[int, ContractPeriod]]) -> None:
        seen: dict[str, int] = {}
        for i, period in periods:
            if period.id in seen:
                self.fail(f"periods[{i}].id", f"id {period.id} is also the id of periods[{seen[period.id]}]",
                          "give every period its own id")
            seen[period.id] = i

    def adjustment(self, value: Any, key: str) -> Adjustment:
        entry = self.keys(value, key, required=("amount", "reason", "agreed"))
        amount = self.money(entry["amount"], f"{key}.amount")
        if amount == 0:
            self.fail(f"{key}.amount", "is 0: an adjustment of nothing", "write the agreed amount, or remove it")
        reason = self.text(entry["reason"], f"{key}.reason")
        return Adjustment(amount, reason, self.date(entry["agreed"], f"{key}.agreed"))

    def gain_pain(self, value: Any) -> tuple[ShareRule, ShareRule]:
        sides = self.keys(value, "gain_pain", required=("gain", "pain"))
        return self.share_rule(sides["gain"], "gain_pain.gain"), self.share_rule(sides["pain"], "gain_pain.pain")

    def share_rule(self, value: Any, key: str) -> ShareRule:
        entry = self.keys(value, key, required=("providers", "orderer"), optional=("providers_cap",))
        providers = self.fraction(entry["providers"], f"{key}.providers")
        orderer = self.fraction(entry["orderer"], f"{key}.orderer")
        total = providers + orderer
        if abs(total - 1) > Decimal(str(WEIGHT_TOLERANCE)):
            self.fail(key, f"providers {providers} + orderer {orderer} = {total}, not 1",
                      f"make the two shares add up to 1 (e.g. orderer: {1 - providers})")
        cap = entry.get("providers_cap")
        return ShareRule(providers, orderer, None if cap is None else self.cap(cap, f"{key}.providers_cap"))

    def cap(self, value: Any, key: str) -> ProvidersCap:
        entry = self.keys(value, key, required=(), optional=("eur", "fraction_of_target"))
        if len(entry) != 1:
            self.fail(key, f"gives {len(entry)} of eur and fraction_of_target",
                      "give exactly one: `eur: 500000.00` or `fraction_of_target: 0.03` (omit the cap for none)")
        if "eur" in entry:
            eur = self.money(entry["eur"], f"{key}.eur")
            if eur < 0:
                self.fail(f"{key}.eur", f"is {eur}; a cap cannot be negative", "write the cap as a positive amount")
            return ProvidersCap(eur=eur)
        fraction = self.number(entry["fraction_of_target"], f"{key}.fraction_of_target")
        if fraction < 0:
            self.fail(f"{key}.fraction_of_target", f"is {fraction}; a cap cannot be negative",
                      "write a fraction between 0 and 1 (0.03 = 3 % of the adjusted target)")
        if fraction > 1:
            self.fail(f"{key}.fraction_of_target", f"is {fraction}, more than the whole target",
                      "write a fraction between 0 and 1 (0.03 = 3 %, not 3)")
        return ProvidersCap(fraction_of_target=fraction)

    def incentive(self, value: Any) -> tuple[Decimal, dict[str, KpiTerms]]:
        entry = self.keys(value, "incentive", required=("pool_eur", "kpis"))
        pool = self.money(entry["pool_eur"], "incentive.pool_eur")
        if pool < 0:
            self.fail("incentive.pool_eur", f"is {pool}; a pool cannot be negative", "write the pool in euros (≥ 0)")
        kpis_value = entry["kpis"]
        if not isinstance(kpis_value, dict) or not kpis_value:
            self.fail("incentive.kpis", "is not a mapping of KPI ids to {floor, target, weight}",
                      "write e.g. `kpis: {reach: {floor: 55, target: 70, weight: 1.0}}`")
        kpis = {}
        for kpi_id, terms in kpis_value.items():
            kpis[str(kpi_id)] = self.kpi_terms(str(kpi_id), terms)
        total = float(sum((_exact(t.weight) for t in kpis.values()), Decimal(0)))
        if abs(total - 1) > WEIGHT_TOLERANCE:
            listed = ", ".join(f"{t.kpi_id} {t.weight:g}" for t in kpis.values())
            self.fail("incentive.kpis", f"the weights sum to {total:.12g}, not 1 ({listed})",
                      f"change the weights so they add up to 1 ({'add' if total < 1 else 'take away'} "
                      f"{abs(total - 1):.12g})")
        return pool, kpis

    def kpi_terms(self, kpi_id: str, value: Any) -> KpiTerms:
        key = f"incentive.kpis.{kpi_id}"
        if kpi_id not in self.known_kpis:
            close = difflib.get_close_matches(kpi_id, self.known_kpis, n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            self.fail(key, f"no KPI {kpi_id!r} in {self.kpi_source}{hint}",
                      f"use a KPI id listed in {self.kpi_source}")
        entry = self.keys(value, key, required=("floor", "target", "weight"))
        floor = float(self.number(entry["floor"], f"{key}.floor"))
        target = float(self.number(entry["target"], f"{key}.target"))
        weight = float(self.number(entry["weight"], f"{key}.weight"))
        if floor == target:
            self.fail(f"{key}.target", f"equals the floor ({floor:g}): the score would divide by zero",
                      "set the target above the floor (below it for a lower-is-better KPI)")
        direction = self.known_kpis[kpi_id]
        if direction == "higher" and target < floor:
            self.fail(f"{key}.target", f"{kpi_id} is higher-is-better, but its target {target:g} is below its "
                      f"floor {floor:g}", "swap floor and target")
        if direction == "lower" and target > floor:
            self.fail(f"{key}.target", f"{kpi_id} is lower-is-better, but its target {target:g} is above its "
                      f"floor {floor:g}", "swap floor and target (the target of a lower-is-better KPI is the lower)")
        if not 0 <= weight <= 1:
            self.fail(f"{key}.weight", f"is {weight:g}, outside 0..1", "write a weight between 0 and 1")
        return KpiTerms(kpi_id, floor, target, weight)

    # -- typed values

    def keys(self, value: Any, key: str, required: Iterable[str], optional: Iterable[str] = ()) -> dict[str, Any]:
        required, optional = tuple(required), tuple(optional)
        allowed = required + optional
        if not isinstance(value, dict):
            self.fail(key, f"is {_shown(value)}, not a mapping of {', '.join(allowed)}",
                      f"write it as `key: value` lines ({', '.join(allowed)})")
        for name in value:
            if name not in allowed:
                close = difflib.get_close_matches(str(name), allowed, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.fail(f"{_join(key, name)}", f"unknown key {name!r}{hint}",
                          f"correct or remove it; keys here: {', '.join(allowed)}")
        for name in required:
            if name not in value:
                self.fail(_join(key, name), "is missing", f"add it, e.g. `{_KEY_EXAMPLES.get(name, name + ': ...')}`")
        return value

    def items(self, value: Any, key: str, empty: bool = False) -> list[Any]:
        if not isinstance(value, list) or (not value and not empty):
            example = _KEY_EXAMPLES.get(key.rsplit(".", 1)[-1], "- ...")
            self.fail(key, f"is {_shown(value)}, not a non-empty list", f"write a list: `{example}`")
        return value

    def text(self, value: Any, key: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal) or not str(value).strip():
            example = _KEY_EXAMPLES.get(key.rsplit(".", 1)[-1], "a text")
            self.fail(key, f"is {_shown(value)}, not a text", f"write a text, e.g. `{example}`")
        return str(value).strip()

    def date(self, value: Any, key: str) -> dt.date:
        if isinstance(value, str) and _ISO_DATE.match(value):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(key, f"{_shown(value)} is not a date", "write it as YYYY-MM-DD, e.g. 2026-01-01")

    def number(self, value: Any, key: str) -> Decimal:
        if isinstance(value, bool):
            self.fail(key, f"is {_shown(value)}, not a number", "write a number")
        if isinstance(value, int):
            return Decimal(value)
        if isinstance(value, Decimal) and value.is_finite():
            return value
        if isinstance(value, str):
            try:
                number = Decimal(value.replace("_", "").strip())
                if number.is_finite():
                    return number
            except InvalidOperation:
                pass
        self.fail(key, f"is {_shown(value)}, not a finite number", "write a number, e.g. 0.5 or 14000000.00")

    def money(self, value: Any, key: str) -> Decimal:
        number = self.number(value, key)
        if number != number.quantize(CENT):
            self.fail(key, f"{number} has more than two decimals", f"round it to cents: {_cents(number)}")
        return number.quantize(CENT)

    def fraction(self, value: Any, key: str) -> Decimal:
        number = self.number(value, key)
        if not 0 <= number <= 1:
            self.fail(key, f"is {number}, outside 0..1", "write a share as a fraction between 0 and 1 (0.5 = 50 %)")
        return number


# ---------------------------------------------------------------------------------------------- YAML


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: object, line: int):
        super().__init__(f"duplicate key {key!r}")
        self.key, self.line = key, line


class _Loader(yaml.SafeLoader):
    """Safe YAML, but: dates stay text (so a bad date is refused with its key, not by the parser), decimals
    are read exactly (money as Decimal, never through a float), and a key written twice is refused."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *anchor`: a key written here may override a merged one, as YAML intends
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal | float:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation:
        return loader.construct_yaml_float(node)  # .inf, .nan: refused where a number is read


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# ---------------------------------------------------------------------------------------------- helpers


def _spread(total: Decimal, months: tuple[dt.date, ...], profile: str) -> tuple[Decimal, ...]:
    """``total`` over ``months`` by the profile, in cents; the last month takes the rounding remainder so that
    the months add up to the total exactly."""
    weights = [1 if profile == "even_by_month" else calendar.monthrange(m.year, m.month)[1] for m in months]
    whole = sum(weights)
    parts = [_cents(total * w / whole) for w in weights[:-1]]
    return (*parts, total - sum(parts, Decimal(0)))


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _exact(number: float) -> Decimal:
    """A float score as the decimal it prints as (``0.1`` → ``Decimal('0.1')``, not its binary expansion)."""
    return Decimal(repr(number))


def _as_date(day: dt.date) -> dt.date:
    """A date, also from a datetime or pandas Timestamp (both are dates by inheritance)."""
    return dt.date(day.year, day.month, day.day)


def _month_key(month: object) -> dt.date:
    if not isinstance(month, dt.date) or month.day != 1:
        raise ValueError(f"monthly actuals are keyed by the first day of the month, not {month!r}")
    return _as_date(month)


def _money_arg(what: str, amount: object) -> Decimal:
    """Money passed in by a caller: Decimal or int, never a float (binary fractions of a cent)."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise TypeError(f"{what} must be a Decimal (or int), not {type(amount).__name__}: convert with "
                        "Decimal(str(round(x, 2)))")
    amount = Decimal(amount)
    if not amount.is_finite():
        raise ValueError(f"{what} is {amount}, not a finite amount")
    return amount


def _kpi_number(kpi_id: str, value: object) -> float | None:
    """A KPI value as a float; ``None`` (or NaN, how a NULL reads in pandas) means no value."""
    if value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"value of KPI {kpi_id} is {value!r}, not a number (None or NaN mean no value)") from None
    if math.isnan(number):
        return None
    if math.isinf(number):
        raise ValueError(f"value of KPI {kpi_id} is {number}, not a finite number")
    return number


def _display(path: Path) -> str:
    """The path as a user would type it: relative to the checkout when inside it."""
    try:
        return str(Path(path).resolve().relative_to(PROJECT_DIR))
    except ValueError:
        return str(path)


def _join(key: str, name: object) -> str:
    return str(name) if key == "(top level)" else f"{key}.{name}"


def _shown(value: Any) -> str:
    text = repr(str(value)) if isinstance(value, Decimal) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
