"""The checks of our own output: the canonical-table suites and the cross-table checks of a harmonised delivery."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from expectations.runner import validate_jointly


class BrokenCanonicalRules(RuntimeError):
    """The harmonised output of a delivery breaks an error-level canonical rule: a pipeline defect."""


def check_canonical(harmonised: dict[str, pa.Table], delivery_id: str,
                    validations: dict | None = None) -> list[dict]:
    """Run the canonical-table suites and cross-table checks; raise on a broken invariant of our own
    output (nothing is staged then), return every result for the ledger. ``validations``, if given,
    receives each suite's outcome and row count (``{"<table>.canonical": (Validation, rows)}``) for the
    Data Docs."""
    (outcome,) = check_canonical_together([harmonised], [delivery_id], [validations] if validations is not None
                                          else None)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def check_canonical_together(harmonised: Sequence[dict[str, pa.Table]], delivery_ids: Sequence[str],
                             validations: Sequence[dict] | None = None) -> list[list[dict] | BrokenCanonicalRules]:
    """:func:`check_canonical` for several deliveries at once, each table's suite run once for all of them
    (:func:`expectations.runner.validate_jointly`). For each delivery: its results for the ledger, or the
    :class:`BrokenCanonicalRules` it raises alone (the others are not held back by it)."""
    from expectations import canonical_suites

    # The cross-table checks are DuckDB joins: they run on the second core while GX checks the tables.
    with ThreadPoolExecutor(1, thread_name_prefix="cross-table") as pool:
        cross = pool.submit(lambda: [canonical_suites.cross_table(h) for h in harmonised])
        results, broken = _table_checks(harmonised, validations)
        for mine, theirs in zip(results, cross.result(), strict=True):
            mine += theirs
    return [BrokenCanonicalRules(f"{d}: the harmonised output breaks canonical rules — a pipeline defect, "
                                 f"nothing was staged: {'; '.join(b)}") if b else r
            for d, r, b in zip(delivery_ids, results, broken, strict=True)]


def _table_checks(harmonised: Sequence[dict[str, pa.Table]],
                  validations: Sequence[dict] | None) -> tuple[list[list[dict]], list[list[str]]]:
    """Each canonical table's suite over every delivery that has rows for it; for each delivery its results
    and its broken error-level rules."""
    from expectations import canonical_suites

    results: list[list[dict]] = [[] for _ in harmonised]
    broken: list[list[str]] = [[] for _ in harmonised]
    names = list(dict.fromkeys(name for h in harmonised for name in h))
    for table_name in names:
        which = [i for i, h in enumerate(harmonised) if table_name in h and h[table_name].num_rows]
        if not which:
            continue
        rules = canonical_suites.rules(table_name)
        frames = [canonical_suites.frame_for(table_name, harmonised[i][table_name]) for i in which]
        outcomes = validate_jointly(frames, rules, f"{table_name}.canonical")
        severity = {(m["rule"], m["column"]): m["severity"] for _, _, m in rules}
        for i, frame, outcome in zip(which, frames, outcomes, strict=True):
            if validations is not None:
                validations[i][f"{table_name}.canonical"] = (outcome, frame.num_rows)
            for r in outcome.results:
                level = severity.get((r.rule, r.column), "error")
                results[i].append({"stage": "canonical", "rule": f"{table_name}.{r.rule}", "column_name": r.column,
                                   "failed_rows": r.failed_rows, "severity": level if not r.success else "ok"})
                if not r.success and level == "error":
                    broken[i].append(f"{table_name}.{r.column}: {r.rule} ({r.failed_rows} rows)")
    return results, broken
