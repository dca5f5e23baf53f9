"""Disclosure control: the one gate between the exact marts and anything published.

:func:`protect` takes one mart table (exact figures, restricted) and the table's disclosure spec (the
model's ``meta.disclosure`` in ``marts/``) and returns the table as it may be published:

- person counts and counts of events of 1–7 are withheld (NULL); every published count is rounded to the
  nearest 5 (0 stays 0);
- a total of an additive relation (spec ``totals``) is the sum of its rounded parts, and wherever a total
  would reveal a withheld cell another cell is withheld too (secondary suppression);
- rates, means and medians only where their persons (the exact denominator) number at least 10;
- euro figures below alliance level only with at least 3 producers and the top two under 90 %;
- each row says in ``disclosure_note`` which of its cells were withheld and why; ``disclosure_rules``
  records the rule version.

It fails closed: a column the spec does not classify, a spec naming a column that is not there, a count
that is not a whole number, a kind it does not know, totals that do not add up — the table is refused
with a :class:`DisclosureError` saying what to fix, never published with a guess. The thresholds live in
``config/disclosure.yaml`` (:func:`load_rules`). docs/disclosure.md explains the rules for a newcomer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tesoma.config import PROJECT_DIR

RULES_FILE = PROJECT_DIR / "config" / "disclosure.yaml"
NOTE = "disclosure_note"
RULES_COLUMN = "disclosure_rules"
KINDS = ("rate", "mean", "count", "euro")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_SPEC_KEYS = ("keys", "labels", "person_counts", "counts", "rates", "means", "euros", "drop", "totals",
              "mixed", "numerators")
_FIX = "add it to the model's meta.disclosure (keys, labels, person_counts, counts, rates, means, euros, drop)"


class DisclosureError(ValueError):
    """A rule file or a table that cannot be published safely as it is; the message says what to fix."""


@dataclass(frozen=True)
class Rules:
    """The rule set (config/disclosure.yaml). ``min_count`` 8 means counts of 1–7 are withheld."""

    version: str
    min_count: int = 8
    rounding_base: int = 5
    min_denominator: int = 10
    min_producers: int = 3
    dominance_top_two: float = 0.9
    decimals: Mapping[str, int] = field(default_factory=lambda: {"rate": 1, "mean": 3, "euro": 2})
    unit_decimals: Mapping[str, int] = field(default_factory=dict)


@dataclass
class Protected:
    """A table as it may be published.

    ``table``: withheld cells NULL, ``drop`` columns gone, plus ``disclosure_note`` and ``disclosure_rules``.
    ``suppressed``: cells withheld by the primary rules (small counts, small denominators, euro rules) and
    by secondary suppression (to protect them from totals, or a rate of a withheld count).
    ``metadata``: key/value strings for the Parquet file's metadata.
    """

    table: pd.DataFrame
    suppressed: dict[str, int]
    metadata: dict[str, str]
    withheld: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """Per published column, which rows were withheld (for :func:`audit`)."""


# ---------------------------------------------------------------------------------------------- rules


def load_rules(path: Path = RULES_FILE) -> Rules:
    """Read and check a rule file; a bad one is refused with the file, the key and the fix."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DisclosureError(f"{path}: no such rule file — restore config/disclosure.yaml") from None
    except yaml.YAMLError as e:
        raise DisclosureError(f"{path}: not valid YAML ({e.__class__.__name__}) — fix the syntax") from None
    if not isinstance(raw, dict):
        raise DisclosureError(f"{path}: expected a mapping of rule: value — see docs/disclosure.md")
    known = {f for f in Rules.__dataclass_fields__}
    for key in raw:
        if key not in known:
            raise DisclosureError(f"{path}: {key}: unknown rule — remove it or use one of {sorted(known)}")
    version = raw.get("version")
    if not isinstance(version, str) or not _VERSION.match(version):
        raise DisclosureError(f"{path}: version: {version!r} is not a version like 1.0.0 — "
                              "write it as major.minor.patch")

    def integer(key: str, low: int) -> int:
        value = raw.get(key, Rules.__dataclass_fields__[key].default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise DisclosureError(f"{path}: {key}: {value!r} — must be a whole number ≥ {low}")
        return value

    share = raw.get("dominance_top_two", Rules.dominance_top_two)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise DisclosureError(f"{path}: dominance_top_two: {share!r} — must be a share in (0, 1], e.g. 0.9")

    def decimals(key: str, allowed: tuple[str, ...] | None) -> dict[str, int]:
        value = raw.get(key, {} if allowed is None else Rules.__dataclass_fields__[key].default_factory())
        if not isinstance(value, dict):
            raise DisclosureError(f"{path}: {key}: must be a mapping of name: decimals")
        for k, d in value.items():
            if allowed is not None and k not in allowed:
                raise DisclosureError(f"{path}: {key}.{k}: unknown kind — use {', '.join(allowed)}")
            if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= 6:
                raise DisclosureError(f"{path}: {key}.{k}: {d!r} — decimals must be a whole number 0..6")
        return dict(value)

    dec = decimals("decimals", ("rate", "mean", "euro"))
    for kind in ("rate", "mean", "euro"):
        if kind not in dec:
            raise DisclosureError(f"{path}: decimals.{kind}: missing — give the decimals of every kind")
    return Rules(version=version, min_count=integer("min_count", 1), rounding_base=integer("rounding_base", 1),
                 min_denominator=integer("min_denominator", 1), min_producers=integer("min_producers", 1),
                 dominance_top_two=float(share), decimals=dec, unit_decimals=decimals("unit_decimals", None))


# ----------------------------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class _Relation:
    """One additive relation: total = sum of parts, within each group of the other keys."""

    index: int
    dimension: str
    total: str
    parts: tuple[str, ...]
    where: Mapping[str, Any]
    columns: tuple[str, ...]


@dataclass(frozen=True)
class _Spec:
    keys: tuple[str, ...]
    labels: tuple[str, ...]
    person_counts: tuple[str, ...]
    counts: tuple[str, ...]
    rates: Mapping[str, str]
    means: Mapping[str, str]
    numerators: Mapping[str, str]
    euro_columns: tuple[str, ...]
    euros: Mapping[str, Any] | None
    drop: tuple[str, ...]
    totals: tuple[_Relation, ...]
    mixed: Mapping[str, Any] | None


def _names(name: str, spec: Mapping, key: str) -> tuple[str, ...]:
    value = spec.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DisclosureError(f"{name}: meta.disclosure.{key} must be a list of column names")
    return tuple(value)


def _mapping(name: str, spec: Mapping, key: str) -> dict[str, str]:
    value = spec.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise DisclosureError(f"{name}: meta.disclosure.{key} must map a column to its persons column, "
                              f"e.g. {{reach_pct: residents}}")
    return dict(value)


def _parse_spec(name: str, spec: Mapping, table: pd.DataFrame) -> _Spec:
    if not isinstance(spec, Mapping):
        raise DisclosureError(f"{name}: meta.disclosure is missing — every published model needs one")
    for key in spec:
        if key not in _SPEC_KEYS:
            raise DisclosureError(f"{name}: meta.disclosure.{key}: unknown key — use {', '.join(_SPEC_KEYS)}")
    euros = spec.get("euros")
    euro_columns: tuple[str, ...] = ()
    if euros is not None:
        if not isinstance(euros, dict):
            raise DisclosureError(f"{name}: meta.disclosure.euros must be a mapping (columns, producers, "
                                  "top_two_share, alliance_level)")
        for key in euros:
            if key not in ("columns", "producers", "top_two_share", "alliance_level"):
                raise DisclosureError(f"{name}: meta.disclosure.euros.{key}: unknown key — use columns, "
                                      "producers, top_two_share, alliance_level")
        euro_columns = _names(name, euros, "columns")
        for key in ("producers", "top_two_share"):
            if not isinstance(euros.get(key), str):
                raise DisclosureError(f"{name}: meta.disclosure.euros.{key}: missing — name the column with the "
                                      f"{'number of producers' if key == 'producers' else 'top two producers share'}")
        level = euros.get("alliance_level")
        if level is not None and level is not True and not (
                isinstance(level, dict) and set(level) == {"column", "value"}):
            raise DisclosureError(f"{name}: meta.disclosure.euros.alliance_level: give {{column: ..., value: ...}} "
                                  "(the alliance-level rows) or true (every row is alliance level)")
    mixed = spec.get("mixed")
    if mixed is not None:
        if not isinstance(mixed, dict) or set(mixed) != {"value", "kind_column", "kinds", "persons"}:
            raise DisclosureError(f"{name}: meta.disclosure.mixed needs exactly value, kind_column, kinds, persons")
        if not isinstance(mixed["kinds"], dict) or not mixed["kinds"]:
            raise DisclosureError(f"{name}: meta.disclosure.mixed.kinds must map each {mixed['kind_column']} "
                                  f"to one of {', '.join(KINDS)}")
        for unit, kind in mixed["kinds"].items():
            if kind not in KINDS:
                raise DisclosureError(f"{name}: meta.disclosure.mixed.kinds.{unit}: unknown kind {kind!r} — "
                                      f"use one of {', '.join(KINDS)}")
        if "euro" in mixed["kinds"].values() and euros is None:
            raise DisclosureError(f"{name}: meta.disclosure.mixed has euro kinds but no euros: {{producers, "
                                  "top_two_share, alliance_level}} — add it")
    parsed = _Spec(
        keys=_names(name, spec, "keys"), labels=_names(name, spec, "labels"),
        person_counts=_names(name, spec, "person_counts"), counts=_names(name, spec, "counts"),
        rates=_mapping(name, spec, "rates"), means=_mapping(name, spec, "means"),
        numerators=_mapping(name, spec, "numerators"), euro_columns=euro_columns, euros=euros,
        drop=_names(name, spec, "drop"), totals=(), mixed=mixed)
    parsed = replace(parsed, totals=_parse_totals(name, spec.get("totals") or [], parsed))
    _check_columns(name, parsed, table)
    return parsed


def _parse_totals(name: str, totals: Any, spec: _Spec) -> tuple[_Relation, ...]:
    if not isinstance(totals, list):
        raise DisclosureError(f"{name}: meta.disclosure.totals must be a list of {{dimension, total, parts}}")
    additive = spec.person_counts + spec.counts
    out = []
    for i, rel in enumerate(totals):
        where = f"{name}: meta.disclosure.totals[{i}]"
        if not isinstance(rel, dict) or not {"dimension", "total", "parts"} <= set(rel) or not set(rel) <= {
                "dimension", "total", "parts", "where", "columns"}:
            raise DisclosureError(f"{where}: give dimension, total, parts (and optionally where, columns)")
        if rel["dimension"] not in spec.keys:
            raise DisclosureError(f"{where}.dimension: {rel['dimension']!r} is not one of the keys — add it to keys")
        parts = rel["parts"]
        if not isinstance(parts, list) or not parts:
            raise DisclosureError(f"{where}.parts: must be a non-empty list of {rel['dimension']} values")
        if str(rel["total"]) in map(str, parts) or len(set(map(str, parts))) != len(parts):
            raise DisclosureError(f"{where}.parts: repeats a part or the total — list each part once")
        cond = rel.get("where") or {}
        if not isinstance(cond, dict) or not set(cond) <= set(spec.keys + spec.labels):
            raise DisclosureError(f"{where}.where: must map key or label columns to values")
        columns = rel.get("columns", list(additive))
        if not isinstance(columns, list) or not columns:
            raise DisclosureError(f"{where}.columns: must be a non-empty list of count or euro columns")
        for col in columns:
            if col not in additive + spec.euro_columns:
                raise DisclosureError(f"{where}.columns: {col!r} is not a person count, count or euro column")
        out.append(_Relation(i, rel["dimension"], str(rel["total"]), tuple(map(str, parts)), cond, tuple(columns)))
    return tuple(out)


def _check_columns(name: str, spec: _Spec, table: pd.DataFrame) -> None:
    published: dict[str, str] = {}
    categories = [("keys", spec.keys), ("labels", spec.labels), ("person_counts", spec.person_counts),
                  ("counts", spec.counts), ("rates", tuple(spec.rates)), ("means", tuple(spec.means)),
                  ("euros.columns", spec.euro_columns), ("drop", spec.drop),
                  ("mixed.value", (spec.mixed["value"],) if spec.mixed else ())]
    for category, cols in categories:
        for col in cols:
            if col in published:
                raise DisclosureError(f"{name}: column {col!r} is in both {published[col]} and {category} — "
                                      "give it one disclosure rule")
            published[col] = category
    referenced = [*published, *spec.rates.values(), *spec.means.values(), *spec.numerators.values()]
    if spec.euros:
        referenced += [spec.euros["producers"], spec.euros["top_two_share"]]
        if isinstance(spec.euros.get("alliance_level"), dict):
            referenced.append(spec.euros["alliance_level"]["column"])
    if spec.mixed:
        referenced += [spec.mixed["kind_column"], spec.mixed["persons"]]
    for rel in spec.totals:
        referenced += list(rel.where)
    for col in referenced:
        if col not in table.columns:
            raise DisclosureError(f"{name}: meta.disclosure names column {col!r}, which the table does not have "
                                  "— fix the spec or the model")
    for col in table.columns:
        if col in (NOTE, RULES_COLUMN):
            raise DisclosureError(f"{name}: column {col!r} is reserved for disclosure control — rename it")
        if col not in published:
            raise DisclosureError(f"{name}: column {col!r} has no disclosure rule — {_FIX}")
    for rate, numerator in spec.numerators.items():
        if rate not in spec.rates:
            raise DisclosureError(f"{name}: meta.disclosure.numerators.{rate}: not a rate — list it under rates")
        if numerator not in spec.person_counts + spec.counts:
            raise DisclosureError(f"{name}: meta.disclosure.numerators.{rate}: {numerator!r} is not a count column")
    if spec.mixed and spec.mixed["kind_column"] not in spec.keys + spec.labels:
        raise DisclosureError(f"{name}: mixed.kind_column {spec.mixed['kind_column']!r} must be a key or a label")


# ----------------------------------------------------------------------------------------- protecting


class _Notes:
    """Per-row reasons, collected as (mask, text) and joined once at the end."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.items: list[tuple[np.ndarray, str]] = []

    def add(self, mask: np.ndarray, text: str) -> None:
        if mask.any():
            self.items.append((mask, text))

    def column(self, index: pd.Index) -> pd.Series:
        notes = np.full(self.n, "", dtype=object)
        for mask, text in self.items:
            notes[mask] = np.where(notes[mask] == "", text, notes[mask] + "; " + text)
        return pd.Series(notes, index=index, dtype="string")


def _integers(name: str, table: pd.DataFrame, col: str, what: str) -> np.ndarray:
    """A count column as float64 (NaN for NULL); refused unless every value is a whole number ≥ 0."""
    series = table[col]
    if series.isna().all():  # an all-NULL column has no type to speak of; it publishes nothing
        return np.full(len(series), np.nan)
    if not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)):
        raise DisclosureError(f"{name}: column {col!r} is a {what} but holds {series.dtype} — cast it to an integer "
                              "in the model")
    values = series.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    known = values[~np.isnan(values)]
    if (known != np.round(known)).any() or np.isinf(known).any():
        raise DisclosureError(f"{name}: column {col!r} is a {what} but holds values that are not whole numbers — "
                              "count whole persons or events in the model")
    if (known < 0).any():
        raise DisclosureError(f"{name}: column {col!r} is a {what} but holds negative values — fix the model")
    return values


def _numbers(name: str, table: pd.DataFrame, col: str) -> np.ndarray:
    series = table[col]
    if series.isna().all():
        return np.full(len(series), np.nan)
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise DisclosureError(f"{name}: column {col!r} must be numeric, not {series.dtype} — cast it in the model")
    return series.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)


def _round_to(values: np.ndarray, base: int) -> np.ndarray:
    """Nearest multiple of ``base``, halves up (counts are ≥ 0)."""
    return np.floor(values / base + 0.5) * base


def _small(values: np.ndarray, rules: Rules) -> np.ndarray:
    return (values >= 1) & (values < rules.min_count)


def protect(table: pd.DataFrame, spec: Mapping, rules: Rules, name: str) -> Protected:
    """The table as it may be published under ``rules`` (see the module docstring); ``table`` is not changed."""
    s = _parse_spec(name, spec, table)
    n = len(table)
    notes = _Notes(n)
    out: dict[str, Any] = {}  # published column → its values (nullable pandas arrays)
    withheld: dict[str, np.ndarray] = {}
    primary = secondary = 0
    small_text = f"1–{rules.min_count - 1}"

    # Counts: primary suppression on the exact value, then rounding.
    counts: dict[str, np.ndarray] = {}
    hidden: dict[str, np.ndarray] = {}
    for col in s.person_counts + s.counts:
        exact = _integers(name, table, col, "person count" if col in s.person_counts else "count")
        counts[col] = _round_to(exact, rules.rounding_base)
        hidden[col] = _small(exact, rules)
        what = "persons" if col in s.person_counts else "events"
        notes.add(hidden[col], f"{col}: {small_text} {what}")
        primary += int(hidden[col].sum())

    # Euros: producers and dominance below alliance level.
    euros: dict[str, np.ndarray] = {}
    euro_block = np.zeros(n, dtype=bool)
    if s.euros is not None:
        euro_block, euro_reasons = _euro_rule(name, table, s.euros, rules)
        for col in s.euro_columns:
            values = np.round(_numbers(name, table, col), rules.decimals["euro"])
            euros[col] = values
            hidden[col] = euro_block & ~np.isnan(values)
            for mask, reason in euro_reasons:
                notes.add(mask & hidden[col], f"{col}: {reason}")
            primary += int(hidden[col].sum())

    # Totals from the rounded cells; then secondary suppression to a fixed point.
    relations = [(rel, *_relation_rows(name, table, s, rel)) for rel in s.totals]
    values_of = {**counts, **euros}
    exact_of = {col: _numbers(name, table, col) for col in values_of}
    for col, values in values_of.items():
        rels = [(gid, is_total) for rel, gid, is_total in relations if col in rel.columns]
        if not rels:
            continue
        for rel, gid, is_total in relations:
            if col in rel.columns:
                _check_additive(name, rel, col, exact_of[col], gid, is_total, euro=col in euros)
        values_of[col] = _sum_totals(name, col, values, rels)
        if col in counts:  # a total summed from rounded cells can be 5 (0 + 5): a small count again
            small_total = _small(values_of[col], rules) & ~hidden[col]
            what = "persons" if col in s.person_counts else "events"
            notes.add(small_total, f"{col}: {small_text} {what} (the sum of its rounded parts)")
            hidden[col] |= small_total
            primary += int(small_total.sum())
        before = hidden[col].copy()
        hidden[col] = _secondary(values_of[col], hidden[col], rels, rules.rounding_base if col in counts else None)
        added = hidden[col] & ~before
        notes.add(added, f"{col}: withheld so the total does not reveal a suppressed cell")
        secondary += int(added.sum())

    for col in s.person_counts + s.counts:
        published = pd.array(np.where(hidden[col], np.nan, values_of[col]), dtype="Float64").astype("Int64")
        out[col] = published
        withheld[col] = hidden[col] & ~np.isnan(values_of[col])
    for col in s.euro_columns:
        out[col] = pd.array(np.where(hidden[col], np.nan, values_of[col]), dtype="Float64")
        withheld[col] = hidden[col]

    # Rates and means: exact denominator decides; a rate of a withheld count is withheld with it.
    for col, persons_col in {**s.rates, **s.means}.items():
        kind = "rate" if col in s.rates else "mean"
        values = np.round(_numbers(name, table, col), rules.decimals[kind])
        persons = _integers(name, table, persons_col, "persons column")
        present = ~np.isnan(values)
        unknown = present & np.isnan(persons)
        few = present & (persons < rules.min_denominator)
        notes.add(unknown, f"{col}: number of persons not known")
        notes.add(few, f"{col}: fewer than {rules.min_denominator} persons")
        mask = unknown | few
        primary += int(mask.sum())
        numerator = s.numerators.get(col)
        if numerator is not None:
            with_count = present & ~mask & withheld[numerator]
            notes.add(with_count, f"{col}: withheld with {numerator}, which it would reveal")
            secondary += int(with_count.sum())
            mask |= with_count
        out[col] = pd.array(np.where(mask, np.nan, values), dtype="Float64")
        withheld[col] = mask

    if s.mixed:
        col, mask, n_primary = _mixed(name, table, s, rules, euro_block, notes)
        out[s.mixed["value"]] = col
        withheld[s.mixed["value"]] = mask
        primary += n_primary

    result = pd.DataFrame(index=table.index)
    for col in table.columns:
        if col in s.drop:
            continue
        result[col] = out[col] if col in out else table[col]
    result[NOTE] = notes.column(table.index)
    result[RULES_COLUMN] = pd.Series(rules.version, index=table.index, dtype="string")
    suppressed = {"primary": primary, "secondary": secondary}
    metadata = {
        "disclosure_rules": rules.version,
        "disclosure_rule_set": json.dumps(asdict(rules), sort_keys=True),
        "disclosure_table": name,
        "disclosure_suppressed_primary": str(primary),
        "disclosure_suppressed_secondary": str(secondary),
    }
    return Protected(result, suppressed, metadata, withheld)


def _euro_rule(name: str, table: pd.DataFrame, euros: Mapping, rules: Rules) -> tuple[np.ndarray, list]:
    """Rows whose euro figures must be withheld, and why (alliance-level rows never are)."""
    producers = _integers(name, table, euros["producers"], "number of producers")
    top_two = _numbers(name, table, euros["top_two_share"])
    known = top_two[~np.isnan(top_two)]
    if ((known < 0) | (known > 1)).any():
        raise DisclosureError(f"{name}: column {euros['top_two_share']!r} must be a share 0..1 (not percent) — "
                              "fix the model")
    level = euros.get("alliance_level")
    if level is True:
        alliance = np.ones(len(table), dtype=bool)
    elif isinstance(level, dict):
        alliance = (table[level["column"]].astype("string") == str(level["value"])).fillna(False).to_numpy(bool)
    else:
        alliance = np.zeros(len(table), dtype=bool)
    below = ~alliance
    no_producers = below & np.isnan(producers)
    few = below & (producers < rules.min_producers)
    no_share = below & ~no_producers & ~few & np.isnan(top_two)
    dominant = below & ~no_producers & ~few & (top_two >= rules.dominance_top_two)
    share = f"{rules.dominance_top_two * 100:g} %"
    reasons = [(no_producers, "number of producers not known"),
               (few, f"fewer than {rules.min_producers} producers"),
               (no_share, "producers' shares not known"),
               (dominant, f"the two largest producers make up {share} or more")]
    return no_producers | few | no_share | dominant, reasons


def _mixed(name: str, table: pd.DataFrame, s: _Spec, rules: Rules, euro_block: np.ndarray,
           notes: _Notes) -> tuple[Any, np.ndarray, int]:
    """One value column whose kind (rate, mean, count, euro) each row's kind column decides."""
    m = s.mixed
    assert m is not None
    col = m["value"]
    units = table[m["kind_column"]].astype("string")
    unknown = ~units.isin(list(map(str, m["kinds"]))).fillna(False).to_numpy(bool)
    if unknown.any():
        bad = sorted(set(units[unknown].fillna("NULL")))
        raise DisclosureError(f"{name}: {m['kind_column']} {', '.join(bad)} has no kind in meta.disclosure.mixed."
                              f"kinds — add it ({', '.join(KINDS)})")
    units_np = units.to_numpy(dtype=object)
    kind = np.asarray(pd.Series(units_np).map({str(k): v for k, v in m["kinds"].items()}), dtype=object)
    values = _numbers(name, table, col)
    persons = _integers(name, table, m["persons"], "persons column")
    present = ~np.isnan(values)
    out = values.copy()
    mask = np.zeros(len(table), dtype=bool)
    for unit in pd.unique(units_np):
        rows = units_np == unit
        k = m["kinds"][unit]
        out[rows] = np.round(values[rows], rules.unit_decimals.get(unit, rules.decimals.get(k, 0)))
    is_count = (kind == "count") & present
    if is_count.any():
        counts = values[is_count]
        if (counts != np.round(counts)).any() or (counts < 0).any():
            raise DisclosureError(f"{name}: column {col!r} holds counts that are not whole numbers ≥ 0 — fix the model")
        small = is_count & _small(values, rules)
        out[is_count] = _round_to(values[is_count], rules.rounding_base)
        notes.add(small, f"{col}: 1–{rules.min_count - 1} events")
        mask |= small
    gated = np.isin(kind, ["rate", "mean"]) & present
    unknown_p = gated & np.isnan(persons)
    few = gated & (persons < rules.min_denominator)
    notes.add(unknown_p, f"{col}: number of persons not known")
    notes.add(few, f"{col}: fewer than {rules.min_denominator} persons")
    mask |= unknown_p | few
    euro = (kind == "euro") & present & euro_block
    if euro.any():
        _, reasons = _euro_rule(name, table, s.euros, rules)
        for r_mask, reason in reasons:
            notes.add(r_mask & euro, f"{col}: {reason}")
        mask |= euro
    return pd.array(np.where(mask, np.nan, out), dtype="Float64"), mask, int(mask.sum())


# ----------------------------------------------------------------------------------------------- totals


def _relation_rows(name: str, table: pd.DataFrame, s: _Spec, rel: _Relation) -> tuple[np.ndarray, np.ndarray]:
    """Each row's group in the relation (-1: not in it) and whether it is the group's total."""
    where = f"{name}: meta.disclosure.totals[{rel.index}]"
    dim = table[rel.dimension].astype("string")
    inside = np.ones(len(table), dtype=bool)
    for col, value in rel.where.items():
        inside &= (table[col].astype("string") == str(value)).fillna(False).to_numpy(bool)
    is_total = inside & (dim == rel.total).fillna(False).to_numpy(bool)
    is_part = inside & dim.isin(rel.parts).fillna(False).to_numpy(bool)
    member = is_total | is_part
    others = [k for k in s.keys if k != rel.dimension and k not in rel.where]
    gid = np.full(len(table), -1, dtype=np.int64)
    if not member.any():
        return gid, is_total
    if others:
        gid[member] = table.loc[member, others].groupby(others, sort=False, dropna=False).ngroup().to_numpy()
    else:
        gid[member] = 0
    groups = int(gid.max()) + 1
    n_total = np.bincount(gid[is_total], minlength=groups)
    n_part = np.bincount(gid[is_part], minlength=groups)
    if (n_total > 1).any():
        raise DisclosureError(f"{where}: more than one '{rel.total}' row in a group of {others} — the keys must "
                              "identify each row")
    if (n_total[n_part > 0] == 0).any():
        raise DisclosureError(f"{where}: some groups of {others} have parts but no '{rel.total}' row, so the total "
                              "they add up to is elsewhere — fix where/total or the model")
    distinct = pd.DataFrame({"g": gid[is_part], "d": dim[is_part].to_numpy()}).drop_duplicates()
    if len(distinct) != int(is_part.sum()):
        raise DisclosureError(f"{where}: a part appears twice in a group of {others} — the keys must identify "
                              "each row")
    return gid, is_total


def _check_additive(name: str, rel: _Relation, col: str, exact: np.ndarray, gid: np.ndarray,
                    is_total: np.ndarray, *, euro: bool) -> None:
    """Refuse a relation the exact figures do not satisfy: its totals would publish a different number."""
    member = gid >= 0
    if not member.any():
        return
    groups = int(gid.max()) + 1
    part = member & ~is_total
    sums = np.bincount(gid[part], weights=np.nan_to_num(exact[part]), minlength=groups)
    has_part = np.bincount(gid[part], minlength=groups) > 0
    totals = exact[is_total]
    g = gid[is_total]
    tolerance = 0.005 * (np.bincount(gid[part], minlength=groups)[g] + 1) if euro else 0.5
    bad = has_part[g] & ~(np.abs(np.nan_to_num(totals, nan=-1.0) - sums[g]) <= tolerance)
    if bad.any():
        raise DisclosureError(f"{name}: meta.disclosure.totals[{rel.index}]: {col} of '{rel.total}' is not the sum "
                              f"of its parts {list(rel.parts)} in {int(bad.sum())} group(s) — the relation is not "
                              "additive: remove it (or its column) from totals, or fix the model")


def _sum_totals(name: str, col: str, values: np.ndarray, rels: list) -> np.ndarray:
    """Every total := the sum of its (rounded) parts, repeated until nested totals settle."""
    values = values.copy()
    for _ in range(len(rels) * 2 + 2):
        before = values.copy()
        for gid, is_total in rels:
            member = gid >= 0
            if not member.any():
                continue
            part = member & ~is_total
            sums = np.bincount(gid[part], weights=np.nan_to_num(values[part]), minlength=int(gid.max()) + 1)
            has_total = is_total & ~np.isnan(values)
            values[has_total] = sums[gid[has_total]]
        if np.array_equal(before, values, equal_nan=True):
            return values
    raise DisclosureError(f"{name}: meta.disclosure.totals: the totals of {col} never settle — a total is a part "
                          "of itself; fix the relations")


def _secondary(values: np.ndarray, hidden: np.ndarray, rels: list, base: float | None) -> np.ndarray:
    """Withhold more cells until no relation reveals a withheld one.

    In each group (total = sum of parts) the withheld cells must be none, or at least two whose parts are not
    all zero: a lone withheld cell is the total minus the rest, and withheld parts summing to 0 are 0. The
    extra cell is the group's smallest non-zero published part that brings the withheld parts to 15 (the least
    information lost; see :func:`_needy`); failing that its total. That is repeated until nothing changes.
    Where a cell is in two relations (nested totals, row and column totals) counting is not enough — a
    combination of totals can pin a cell down — so those blocks are then audited (:func:`_pinned`: exactly,
    over the multiples of ``base`` ≥ 0 for counts; over the reals for euros, ``base`` None); a pinned cell
    gets a neighbour withheld and the loop goes on.
    """
    hidden = hidden & ~np.isnan(values)
    index = _group_rows(rels)
    safe: set = set()
    for _ in range(200):
        changed = True
        while changed:
            changed = False
            for gid, is_total in rels:
                add = _needy(values, hidden, gid, is_total, base)
                if add.any():
                    hidden = hidden | add
                    changed = True
        if len(rels) < 2:
            return hidden
        pinned = _pinned(values, hidden, rels, index, base, safe)
        if not pinned:
            return hidden
        add = np.zeros_like(hidden)
        for cell, block in pinned:
            # next to the pinned cell, or failing that anywhere around its block
            more = _widen(values, hidden, rels, index, [cell])
            add |= more if more.any() else _widen(values, hidden, rels, index, block)
        if not add.any():
            return hidden  # every neighbour is withheld already; nothing more to withhold
        hidden = hidden | add
    raise DisclosureError("secondary suppression did not settle in 200 rounds — report this table to the "
                          "maintainers of scorecard/disclosure.py")


def _needy(values: np.ndarray, hidden: np.ndarray, gid: np.ndarray, is_total: np.ndarray,
           base: float | None) -> np.ndarray:
    """The cells to withhold so that each group of one relation keeps its withheld cells hidden."""
    cell = (gid >= 0) & ~np.isnan(values)
    if not cell.any():
        return np.zeros_like(hidden)
    groups = int(gid.max()) + 1
    g = gid[cell]
    h = hidden[cell]
    t = is_total[cell]
    v = values[cell]
    n_hidden = np.bincount(g, weights=h, minlength=groups)
    hidden_parts = np.bincount(g, weights=np.where(h & ~t, np.abs(v), 0), minlength=groups)
    open_nonzero = np.bincount(g, weights=~h & ~t & (v != 0), minlength=groups)
    total_open = np.bincount(g, weights=~h & t, minlength=groups)
    need = (n_hidden == 1) | ((n_hidden >= 2) & (hidden_parts == 0) & ((open_nonzero > 0) | (total_open > 0)))
    if not need.any():
        return np.zeros_like(hidden)
    rows = np.flatnonzero(cell)
    candidate = need[g] & ~h
    # Order: the smallest non-zero part that brings the withheld parts to 3 steps (15) at least; else the
    # largest non-zero part; then the total; then zero parts. Take the first of each group. Why 3 steps: the
    # notes say which cell is small (0 or 5 as rounded) and which is secondary (never 5), so a withheld sum of
    # 10 could only be 0 + 10 and would give the small cell away; 15 is 5 + 10 or 0 + 15.
    enough = np.abs(v) >= (3 * base - hidden_parts[g] if base else 0)
    category = np.where(t, 2, np.where(v == 0, 3, np.where(enough, 0, 1)))
    order = np.lexsort((np.where(category == 1, -np.abs(v), np.abs(v)), category, g))
    order = order[candidate[order]]
    _, first = np.unique(g[order], return_index=True)
    add = np.zeros_like(hidden)
    add[rows[order[first]]] = True
    return add


def _equations(hidden: np.ndarray, rels: list) -> list[tuple[np.ndarray, np.ndarray]]:
    """The groups that hold withheld cells: (rows, coefficients +1 part / -1 total) of their withheld cells."""
    eqs = []
    for gid, is_total in rels:
        cell = (gid >= 0) & hidden
        if not cell.any():
            continue
        rows = np.flatnonzero(cell)
        order = np.argsort(gid[rows], kind="stable")
        rows = rows[order]
        bounds = np.flatnonzero(np.diff(gid[rows])) + 1
        for chunk in np.split(rows, bounds):
            eqs.append((chunk, np.where(is_total[chunk], -1.0, 1.0)))
    return eqs


def _blocks(eqs: list) -> list[tuple[list[int], list[int]]]:
    """Connected blocks of withheld cells that share a group, where some cell is in two groups: (cells, eqs).

    A block where every cell is in one group only is one group with two or more withheld cells, which
    counting already protects.
    """
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    membership: dict[int, int] = {}
    for rows, _ in eqs:
        first = find(int(rows[0]))
        for r in rows.tolist():
            membership[r] = membership.get(r, 0) + 1
            parent[find(r)] = first
    blocks: dict[int, list[int]] = {}
    for i, (rows, _) in enumerate(eqs):
        blocks.setdefault(find(int(rows[0])), []).append(i)
    out = []
    for eq_ids in blocks.values():
        cells = sorted({int(r) for i in eq_ids for r in eqs[i][0]})
        if any(membership[c] > 1 for c in cells):
            out.append((cells, eq_ids))
    return out


def _pinned(values: np.ndarray, hidden: np.ndarray, rels: list, index: list, base: float | None,
            safe: set) -> list[tuple[int, list[int]]]:
    """Withheld cells the published totals pin down: per block, the first such cell and the block's cells.

    ``safe`` remembers blocks found safe in earlier rounds (a block is its cells; its values do not change).
    """
    eqs = _equations(hidden, rels)
    pinned = []
    for cells, eq_ids in _blocks(eqs):
        key = tuple(cells)
        if key in safe:
            continue
        found = _pinned_linear(cells, eq_ids, eqs) if base is None else _pinned_integer(
            cells, eq_ids, eqs, values, rels, index, base)
        if not found:
            safe.add(key)
        else:
            pinned.append((found[0], cells))
    return pinned


def _pinned_linear(cells: list[int], eq_ids: list[int], eqs: list) -> list[int]:
    """Cells every real solution gives the same value: zero in the whole null space of the block."""
    col = {c: j for j, c in enumerate(cells)}
    a = np.zeros((len(eq_ids), len(cells)))
    for row, i in enumerate(eq_ids):
        rows, coef = eqs[i]
        a[row, [col[int(r)] for r in rows]] = coef
    _, sv, vt = np.linalg.svd(a)
    rank = int((sv > 1e-9 * max(1.0, sv.max(initial=0))).sum())
    free = np.abs(vt[rank:]).max(axis=0, initial=0) > 1e-9
    return [c for c, f in zip(cells, free, strict=True) if not f]


def _pinned_integer(cells: list[int], eq_ids: list[int], eqs: list, values: np.ndarray, rels: list,
                    index: list, base: float) -> list[int]:
    """Cells that take one value over every solution in multiples of ``base`` from 0 to one step above the
    block's largest cell (an exact search: bounds propagation and bisection)."""
    col = {c: j for j, c in enumerate(cells)}
    truth = [round(values[c] / base) for c in cells]
    system = []
    for i in eq_ids:
        rows, coef = eqs[i]
        terms = [(col[int(r)], int(c)) for r, c in zip(rows, coef, strict=True)]
        system.append((terms, sum(c * truth[j] for j, c in terms)))
    top = int(np.nanmax(np.abs(values[_neighbours(rels, index, cells)])) / base) + 1
    # Fast path: cells in exactly the same groups with the same signs can trade a step between them, which
    # no total sees — all of them are free when one of them is non-zero.
    signature: dict[int, list] = {j: [] for j in range(len(cells))}
    for n, (terms, _) in enumerate(system):
        for j, c in terms:
            signature[j].append((n, c))
    twins: dict[tuple, list[int]] = {}
    for j, sig in signature.items():
        twins.setdefault(tuple(sig), []).append(j)
    free = [False] * len(cells)
    for members in twins.values():
        if len(members) > 1 and any(truth[j] > 0 for j in members):
            for j in members:
                free[j] = True
    if all(free):
        return []
    linear = _pinned_linear(cells, eq_ids, eqs)  # pinned over the reals: pinned over the integers too
    if linear:
        return linear
    for k in range(len(cells)):
        if free[k]:
            continue
        low, high = [0] * len(cells), [top] * len(cells)
        below = None
        if truth[k] > 0:
            high_k = high[:]
            high_k[k] = truth[k] - 1
            below = _solve(system, low, high_k)
        solution = below if below is not None else _solve(system, [*low[:k], truth[k] + 1, *low[k + 1:]], high)
        if solution is None:
            continue
        for j, v in enumerate(solution):
            free[j] = free[j] or v != truth[j]
    return [c for c, f in zip(cells, free, strict=True) if not f]


def _solve(system: list, lo: list[int], hi: list[int]) -> list[int] | None:
    """An integer solution of sum(c·x) = rhs for every equation within lo..hi, or None (complete search)."""
    lo, hi = lo[:], hi[:]
    if any(a > b for a, b in zip(lo, hi, strict=True)):
        return None
    changed = True
    while changed:
        changed = False
        for terms, rhs in system:
            mins = [c * (lo[i] if c > 0 else hi[i]) for i, c in terms]
            maxs = [c * (hi[i] if c > 0 else lo[i]) for i, c in terms]
            smin, smax = sum(mins), sum(maxs)
            if smin > rhs or smax < rhs:
                return None
            for n, (i, c) in enumerate(terms):
                low, high = rhs - (smax - maxs[n]), rhs - (smin - mins[n])
                new_lo, new_hi = (low, high) if c > 0 else (-high, -low)
                if new_lo > lo[i]:
                    lo[i], changed = new_lo, True
                if new_hi < hi[i]:
                    hi[i], changed = new_hi, True
                if lo[i] > hi[i]:
                    return None
    open_ = [i for i in range(len(lo)) if lo[i] < hi[i]]
    if not open_:
        return lo
    i = min(open_, key=lambda j: hi[j] - lo[j])
    mid = (lo[i] + hi[i]) // 2
    left = _solve(system, lo, [*hi[:i], mid, *hi[i + 1:]])
    return left if left is not None else _solve(system, [*lo[:i], mid + 1, *lo[i + 1:]], hi)


def _group_rows(rels: list) -> list[list[np.ndarray]]:
    """Per relation, the rows of each group (an index, so a block's neighbours cost its size, not the table's)."""
    out = []
    for gid, _ in rels:
        member = np.flatnonzero(gid >= 0)
        order = member[np.argsort(gid[member], kind="stable")]
        bounds = np.flatnonzero(np.diff(gid[order])) + 1
        out.append(np.split(order, bounds) if order.size else [])
    return out


def _neighbours(rels: list, index: list, cells: list[int]) -> np.ndarray:
    """Every row in a group of ``cells`` (the cells included)."""
    rows = [index[i][g] for i, (gid, _) in enumerate(rels) for g in {int(gid[c]) for c in cells} if g >= 0]
    return np.unique(np.concatenate(rows)) if rows else np.array([], dtype=np.int64)


def _widen(values: np.ndarray, hidden: np.ndarray, rels: list, index: list, cells: list[int]) -> np.ndarray:
    """Withhold one more cell in a group of ``cells``: the smallest non-zero published part, else total."""
    best: tuple | None = None
    for i, (gid, is_total) in enumerate(rels):
        groups = {int(gid[c]) for c in cells if gid[c] >= 0}
        rows = np.concatenate([index[i][g] for g in groups]) if groups else np.array([], dtype=np.int64)
        rows = rows[~hidden[rows] & ~np.isnan(values[rows])]
        for r in rows.tolist():
            key = (values[r] == 0, bool(is_total[r]), abs(values[r]), r)
            if best is None or key < best:
                best = key
    add = np.zeros_like(hidden)
    if best is not None:
        add[best[3]] = True
    return add


# ------------------------------------------------------------------------------------------------- audit


def audit(protected: Protected, spec: Mapping, column: str, name: str = "table") -> list[Any]:
    """Withheld cells of ``column`` that the published totals pin down (index labels; [] when none).

    Linear algebra over the reals: a cell is pinned when every change of the withheld cells that keeps all
    published totals leaves it unchanged. (The property tests also check the integer case by brute force.)
    """
    table = protected.table.drop(columns=[NOTE, RULES_COLUMN])
    table = table.assign(**{c: 0 for c in spec.get("drop") or []})
    s = _parse_spec(name, spec, table)
    hidden = protected.withheld[column]
    rels = [_relation_rows(name, table, s, rel) for rel in s.totals if column in rel.columns]
    if not rels:
        return []
    eqs = _equations(hidden, rels)
    pinned = {c for cells, eq_ids in _blocks(eqs) for c in _pinned_linear(cells, eq_ids, eqs)}
    for gid, _ in rels:  # a lone withheld cell in a group of one relation
        cell = (gid >= 0) & hidden
        if cell.any():
            n = np.bincount(gid[cell])
            pinned |= {int(r) for r in np.flatnonzero(cell) if n[gid[r]] == 1}
    return [table.index[i] for i in sorted(pinned)]
