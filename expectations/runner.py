"""Run an expectation suite over an Arrow table and report which rows broke which rule.

Only row positions, rule names and counts leave this module; GX's ``unexpected_list`` (the offending
values) is dropped here so that no row value can reach a log, XCom or the ledger.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class RuleResult:
    rule: str
    column: str | None
    failed_rows: int
    success: bool
    advice: str = ""


@dataclass
class Validation:
    """Row-level outcome: for each failing row position, the ``column: rule`` reasons."""

    row_failures: dict[int, list[str]] = field(default_factory=dict)
    results: list[RuleResult] = field(default_factory=list)
    gx_results: list[dict] = field(default_factory=list)
    """One entry per GX run: its ``ExpectationSuiteValidationResult`` sanitised by
    :func:`expectations.checkpoint.sanitise` (counts, rules, success; no value) — for the Data Docs."""

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)


def validate(table: pa.Table, suite) -> Validation:
    """Validate ``table`` against a GX ``ExpectationSuite`` through the suite's GX Checkpoint
    (:mod:`expectations.checkpoint`); rows are identified by position."""
    from expectations import checkpoint

    frame = table.to_pandas(types_mapper=None)
    result = checkpoint.run(frame, suite)

    failures: dict[int, list[str]] = defaultdict(list)
    outcome = Validation()
    for r in result.results:
        meta = r.expectation_config.meta or {}
        column = meta.get("column") or r.expectation_config.kwargs.get("column")
        rule = meta.get("rule") or r.expectation_config.type
        problem = checkpoint.exception_of(r)
        if problem is not None:
            # A broken expectation is a pipeline defect, not the partner's: fail loudly.
            # GX's message may quote the offending value; keep only the part before any quote or colon.
            safe = re.split(r"[:'\"]", str(problem), maxsplit=1)[0].strip()[:120]
            raise RuntimeError(f"expectation {rule} on {column} could not run: {safe} (see the GX docs for the "
                               "expectation; no row value is shown here)")
        indexes = r.result.get("unexpected_index_list") or []
        for i in indexes:
            failures[int(i)].append(f"{column}: {rule}")
        outcome.results.append(RuleResult(rule=rule, column=column, failed_rows=len(indexes),
                                          success=bool(r.success), advice=meta.get("advice", "")))
    outcome.row_failures = dict(failures)
    outcome.gx_results.append(checkpoint.sanitise(result))
    return outcome


@dataclass
class _Group:
    """Rules checked together on one small frame, and which table rows each frame row stands for."""

    part: str
    rules: list
    frame: pa.Table
    rows_of: Callable[[list[int], str | None], np.ndarray]
    """(failing frame positions, the rule's column) → table rows."""

    def table_rows(self, positions: list[int], column: str | None) -> np.ndarray:
        return self.rows_of(positions, column)


def validate_rules(table: pa.Table, chosen: list[tuple[str, dict, dict]], name: str,
                   segments: Sequence[int] | None = None) -> Validation:
    """Run a list of rules (expectation class, kwargs, meta) as Great Expectations suites, each on the
    smallest frame that gives every row the same verdict as validating the whole table:

    - rules about a value (pattern, allowed codes, range): the column's *distinct* values, plus one null
      if it has any — a day's 2,000,000 visits hold a few thousand distinct times, codes and fees;
    - "required" alone: one present value and one null — whether a value is missing does not depend on
      which value it is (this keeps all-distinct ids, e.g. record ids, out of the frame);
    - "unique": only the rows whose value occurs more than once (a value seen once is unique whatever
      the other rows hold; GX marks every copy of a repeated value);
    - comparisons of two columns: the distinct pairs of values.

    The failing rows are exactly the rows that the failing frame rows stand for; a test holds these
    verdicts to those of one suite over every row.

    ``segments`` (row counts adding up to the table's): the table is several tables one after the other
    (:func:`validate_jointly`), and "unique" holds within each of them, not across them.
    """
    from expectations.gx_runtime import context, gx, gxe

    context()
    outcome = Validation()
    order = {f"{m['column']}: {m['rule']}": i for i, (_, _, m) in enumerate(chosen)}
    column_of = {f"{m['column']}: {m['rule']}": kw.get("column") for _, kw, m in chosen}
    if table.num_rows == 0:  # nothing to break a rule
        outcome.results = [RuleResult(rule=m["rule"], column=m["column"], failed_rows=0, success=True,
                                      advice=m.get("advice", "")) for _, _, m in chosen]
        return outcome

    failures: dict[int, list[str]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    results: dict[str, RuleResult] = {}
    for group in _groups(table, chosen, segments):
        suite = gx.ExpectationSuite(name=f"{name}.{group.part}",
                                    expectations=[getattr(gxe, n)(**kw, meta=m) for n, kw, m in group.rules])
        checked = validate(group.frame, suite)
        outcome.gx_results += checked.gx_results
        failing: dict[str, list[int]] = defaultdict(list)
        for position, reasons in checked.row_failures.items():
            for reason in reasons:
                failing[reason].append(position)
        for reason, positions in failing.items():
            rows = group.table_rows(positions, column_of.get(reason))
            counts[reason] += len(rows)
            for row in rows.tolist():
                failures[row].append(reason)
        for r in checked.results:
            results[f"{r.column}: {r.rule}"] = r
    for _, _, meta in chosen:
        reason = f"{meta['column']}: {meta['rule']}"
        r, n = results[reason], counts.get(reason, 0)
        outcome.results.append(RuleResult(rule=r.rule, column=r.column, failed_rows=n, success=n == 0,
                                          advice=r.advice))
    # Keep the rules' order within each row, as a single-suite run gives it.
    outcome.row_failures = {row: sorted(reasons, key=lambda r: order.get(r, 0)) for row, reasons in failures.items()}
    return outcome


def _groups(table: pa.Table, chosen: list[tuple[str, dict, dict]],
            segments: Sequence[int] | None = None) -> list[_Group]:
    distinct: dict[str, pa.Array] = {}

    def distinct_of(column: str) -> pa.Array:
        """The column's distinct values, a null among them if it has any (one hash pass, cached)."""
        if column not in distinct:
            distinct[column] = _unique(table[column])
        return distinct[column]

    def holding(column: str, values: pa.Array) -> np.ndarray:
        """Rows whose value is one of ``values`` (a null among them stands for the missing values)."""
        present = values.drop_null()
        mask = pc.is_in(table[column], value_set=present, skip_nulls=True) if len(present) else None
        if values.null_count:
            missing = pc.is_null(table[column])
            mask = missing if mask is None else pc.or_(pc.fill_null(mask, False), missing)
        if mask is None:
            return np.array([], dtype=np.int64)
        return np.asarray(pc.indices_nonzero(pc.fill_null(mask, False)))

    groups: list[_Group] = []
    by_column: dict[str, list] = defaultdict(list)
    for rule in chosen:
        kind, kwargs, _ = rule
        if kind == "ExpectColumnValuesToBeUnique":
            column = kwargs["column"]
            if segments is not None and len(segments) > 1:
                # Every row whose value repeats within its own table; each of them repeats in the frame too.
                rows = _repeated_within(table[column], segments)
            else:
                repeated = _repeated(table[column])
                rows = holding(column, repeated) if len(repeated) else np.array([], dtype=np.int64)
            groups.append(_Group(f"unique.{column}", [rule], table.select([column]).take(rows),
                                 rows_of=lambda positions, _, rows=rows: rows[np.asarray(positions, dtype=np.int64)]))
        elif kind == "ExpectColumnPairValuesAToBeGreaterThanB":
            groups.append(_pairs(table, rule))
        else:
            by_column[kwargs["column"]].append(rule)
    entries_of: dict[str, pa.Array] = {}
    for column, rules in sorted(by_column.items()):
        values = table[column]
        if all(kind == "ExpectColumnValuesToNotBeNull" for kind, _, _ in rules) and column not in distinct:
            # Whether a value is missing does not depend on which value it is: one present value stands
            # for all present ones, a null for the missing ones. No hashing of the column at all.
            present = next((chunk.drop_null()[:1] for chunk in values.chunks if chunk.null_count < len(chunk)),
                           pa.array([], values.type))
            entries = pa.concat_arrays([present, pa.nulls(1 if values.null_count else 0, values.type)])
        else:
            # Record ids: RE2 looks at every row once instead of first finding 2,000,000 distinct values.
            suspects = _pattern_suspects(values, rules) if _many_distinct(values) else None
            entries = suspects if suspects is not None else distinct_of(column)
        entries_of[column] = _array(entries)
    # Columns with few distinct values share one frame; a column with many (record ids) gets its own, so
    # that no other column is padded to its length.
    small = sorted(c for c, e in entries_of.items() if len(e) <= SHARED_FRAME_ROWS)
    for columns in ([small] if small else []) + [[c] for c in sorted(set(entries_of) - set(small))]:
        groups.append(_values_group({c: entries_of[c] for c in columns},
                                    [r for c in columns for r in by_column[c]], holding))
    return groups


def _pattern_suspects(values: pa.ChunkedArray, rules: list) -> pa.Array | None:
    """For a column of many distinct texts checked only by patterns (and "required"): the distinct values
    that Arrow's RE2 engine finds breaking a pattern, one value that passes and a null if there is one —
    GX then judges those few instead of every record id (2,000,000 ids: 0.1 s in RE2 against ~1 s through
    pandas). None when this does not apply.

    Safe only where an RE2 match implies a match by Python's ``re`` (GX's engine): ASCII values and
    patterns without negated shorthand classes (``\\D \\W \\S \\B``), which RE2 reads more
    broadly; otherwise, or when RE2 cannot compile a pattern, None (every distinct value goes to GX).
    """
    kinds = {kind for kind, _, _ in rules}
    if not kinds <= {"ExpectColumnValuesToMatchRegex", "ExpectColumnValuesToNotBeNull"} \
            or not pa.types.is_string(values.type):
        return None
    patterns = [kwargs["regex"] for kind, kwargs, _ in rules if kind == "ExpectColumnValuesToMatchRegex"]
    if not patterns or any(re.search(r"\\[DWSB]", p) for p in patterns):
        return None
    present = values.drop_null()
    if not pc.all(pc.string_is_ascii(present)).as_py():
        return None
    try:
        passing = pc.match_substring_regex(present, patterns[0])
        for pattern in patterns[1:]:
            passing = pc.and_(passing, pc.match_substring_regex(present, pattern))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return pa.concat_arrays([_array(pc.unique(present.filter(pc.invert(passing)))),
                             _array(present.filter(passing)[:1]),
                             pa.nulls(1 if values.null_count else 0, values.type)])


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _many_distinct(values: pa.ChunkedArray) -> bool:
    """Whether a column looks like ids rather than codes: its first 65,536 values are more than 10%
    distinct."""
    if len(values) <= SHARED_FRAME_ROWS:
        return False
    sample = values.slice(0, 65_536)
    return len(pc.unique(sample)) > len(sample) // 10


SHARED_FRAME_ROWS = 50_000
"""Columns with at most this many distinct values are validated together in one frame."""


def _values_group(entries_of: dict[str, pa.Array], rules: list, holding) -> _Group:
    """All value rules in one frame, one GX run: each column holds its own entries, padded to the longest
    by repeating its last entry (a copy of a value gets that value's verdict). A GX run has a fixed cost of
    ~70 ms whatever the frame's size, so one run instead of one per column saves about a second per suite."""
    length = max(len(e) for e in entries_of.values())
    padded = {c: e if len(e) == length else pa.concat_arrays([e, pa.repeat(e[len(e) - 1], length - len(e))])
              for c, e in entries_of.items()}

    def rows_of(positions: list[int], column: str | None) -> np.ndarray:
        entries = entries_of[column]
        at = np.minimum(np.asarray(positions, dtype=np.int64), len(entries) - 1)
        return holding(column, entries.take(pa.array(np.unique(at))))

    part = "values" if len(entries_of) > 1 else f"values.{next(iter(entries_of))}"
    return _Group(part, rules, pa.table(padded), rows_of=rows_of)


def _unique(values: pa.ChunkedArray) -> pa.Array:
    """Distinct values, a null among them if any. Few distinct values: hashed chunk by chunk (joining the
    chunks would copy the column); many (ids): joined first, which hashes 2-3 times faster than chunks."""
    if values.num_chunks > 1 and _many_distinct(values):  # (a single chunk is contiguous already)
        return pc.unique(values.combine_chunks())
    return pc.unique(values)


def _repeated(values: pa.ChunkedArray) -> pa.Array:
    """The present values that occur more than once. DuckDB's parallel group-by reads the Arrow column in
    place: 0.2 s for 2,000,000 distinct ids, against 0.9 s for Arrow's ``unique`` on the chunked column.
    Values are compared only where their 64-bit hashes repeat: grouping 2,000,000 hashes is cheaper than
    grouping 2,000,000 texts, and ids rarely repeat."""
    from transforms.arrow_sql import query

    found = query("with shared as (select hash(value) as h from v where value is not null group by h "
                  "having count(*) > 1) select value from v where value is not null and hash(value) in "
                  "(select h from shared) group by value having count(*) > 1", v=pa.table({"value": values}))
    return found["value"].combine_chunks().cast(values.type)


def _repeated_within(values: pa.ChunkedArray, segments: Sequence[int]) -> np.ndarray:
    """Positions of the present values that occur more than once within their segment (as
    :func:`_repeated`: values compared only where their 64-bit hashes repeat within a segment)."""
    from transforms.arrow_sql import query

    segment = np.repeat(np.arange(len(segments), dtype=np.int32), np.asarray(segments, dtype=np.int64))
    rows = pa.table({"value": values, "segment": segment, "row": np.arange(len(values), dtype=np.int64)})
    found = query("with hashed as (select segment, hash(value) as h, value, row from v where value is not null), "
                  "shared as (select segment, h from hashed group by segment, h having count(*) > 1), "
                  "suspects as (select * from hashed semi join shared using (segment, h)), "
                  "repeated as (select segment, value from suspects group by segment, value having count(*) > 1) "
                  "select row from suspects semi join repeated using (segment, value) order by row", v=rows)
    return found["row"].to_numpy()


def _pairs(table: pa.Table, rule: tuple[str, dict, dict]) -> _Group:
    """Comparisons of two columns, on the distinct pairs of values (DuckDB's parallel distinct: ~0.02 s for
    2,000,000 rows, against ~0.3 s of dictionary-encoding both columns in Arrow)."""
    from transforms.arrow_sql import query

    _, kwargs, _ = rule
    a, b = kwargs["column_A"], kwargs["column_B"]
    pairs = table.select([a, b]).rename_columns(["a", "b"])
    # Sorted, so that the frame (and what GX reports of it) is the same on every run.
    distinct = query("select distinct a, b from pairs order by a nulls last, b nulls last", pairs=pairs)
    frame = pa.table({a: distinct["a"].cast(table.schema.field(a).type),
                      b: distinct["b"].cast(table.schema.field(b).type)})

    def rows_of(positions: list[int], _column: str | None) -> np.ndarray:
        failing = distinct.take(pa.array(positions, pa.int64()))
        numbered = pairs.append_column("row", pa.array(np.arange(pairs.num_rows, dtype=np.int64)))
        found = query("select row from numbered semi join failing on numbered.a is not distinct from failing.a "
                      "and numbered.b is not distinct from failing.b order by row", numbered=numbered, failing=failing)
        return found["row"].to_numpy()

    return _Group(f"pairs.{a}.{b}", [rule], frame, rows_of=rows_of)


JOINT_ROWS = 1_000_000
"""Tables validated jointly are validated in runs of at most about this many rows (memory stays bounded)."""


def validate_jointly(tables: Sequence[pa.Table], chosen: list[tuple[str, dict, dict]], name: str) -> list[Validation]:
    """Validate several tables against the same rules as if each were validated alone
    (:func:`validate_rules`), paying Great Expectations' fixed cost once for all of them.

    A GX run costs ~0.1 s whatever its frame holds — for a county day's delivery of 10,000 rows most of
    its validation time — and a rule's verdict on a value does not depend on which table the value is in:
    the tables are validated one after the other as one (Arrow concatenates without copying), "unique"
    within each table, and every table gets its own row failures and counts. Each table's ``gx_results``
    are those of the joint runs (the Data Docs take each table's own counts from its ``results``).
    Tables of different schemas are validated one by one.
    """
    outcomes: list[Validation] = []
    for part in _joint_parts(tables):
        if len(part) == 1:
            outcomes.append(validate_rules(part[0], chosen, name))
            continue
        sizes = [t.num_rows for t in part]
        joint = validate_rules(pa.concat_tables(part), chosen, name, segments=sizes)
        outcomes += _split(joint, sizes, chosen)
    return outcomes


def _joint_parts(tables: Sequence[pa.Table]) -> list[list[pa.Table]]:
    """Consecutive tables of one schema, in runs of at most :data:`JOINT_ROWS` rows (a bigger table alone)."""
    parts: list[list[pa.Table]] = []
    rows = 0
    for table in tables:
        if parts and parts[-1][0].schema.equals(table.schema) and rows + table.num_rows <= JOINT_ROWS:
            parts[-1].append(table)
            rows += table.num_rows
        else:
            parts.append([table])
            rows = table.num_rows
    return parts


def _split(joint: Validation, sizes: list[int], chosen: list[tuple[str, dict, dict]]) -> list[Validation]:
    """One joint validation back into one per table: its rows (renumbered from 0), its counts."""
    starts = np.cumsum([0, *sizes])
    outcomes = [Validation(gx_results=joint.gx_results) for _ in sizes]
    counts = [defaultdict(int) for _ in sizes]
    for row, failed in joint.row_failures.items():
        i = int(np.searchsorted(starts, row, side="right")) - 1
        outcomes[i].row_failures[row - int(starts[i])] = failed
        for reason in failed:
            counts[i][reason] += 1
    for outcome, counted in zip(outcomes, counts, strict=True):
        for r in joint.results:
            n = counted.get(f"{r.column}: {r.rule}", 0)
            outcome.results.append(RuleResult(rule=r.rule, column=r.column, failed_rows=n, success=n == 0,
                                              advice=r.advice))
    return outcomes


def validate_contract(table: pa.Table, contract) -> Validation:
    """The contract's suite (``expectations.contract_suite``) on a delivery, as :func:`validate_rules` runs it."""
    from expectations.contract_suite import rules

    return validate_rules(table, rules(contract), f"{contract.feed}.contract")


def validate_contracts(tables: Sequence[pa.Table], contract) -> list[Validation]:
    """The contract's suite on several deliveries of its feed at once (:func:`validate_jointly`)."""
    from expectations.contract_suite import rules

    return validate_jointly(tables, rules(contract), f"{contract.feed}.contract")
