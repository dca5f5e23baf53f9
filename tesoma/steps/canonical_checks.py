"""The checks of our own output: the canonical-table suites and the cross-table checks of a harmonised delivery."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from expectations.runner import validate_rules


def check_canonical(harmonised: dict[str, pa.Table], delivery_id: str,
                    validations: dict | None = None) -> list[dict]:
    """Run the canonical-table suites and cross-table checks; raise on a broken invariant of our own
    output (nothing is staged then), return every result for the ledger. ``validations``, if given,
    receives each suite's outcome and row count (``{"<table>.canonical": (Validation, rows)}``) for the
    Data Docs."""
    from expectations import canonical_suites

    results, broken = [], []
    # The cross-table checks are DuckDB joins: they run on the second core while GX checks the tables.
    with ThreadPoolExecutor(1, thread_name_prefix="cross-table") as pool:
        cross = pool.submit(canonical_suites.cross_table, harmonised)
        results += _table_checks(harmonised, validations, broken)
        results += cross.result()
    if broken:
        raise RuntimeError(f"{delivery_id}: the harmonised output breaks canonical rules — a pipeline defect, "
                           f"nothing was staged: {'; '.join(broken)}")
    return results


def _table_checks(harmonised: dict[str, pa.Table], validations: dict | None, broken: list[str]) -> list[dict]:
    """Each canonical table's suite; appends the broken error-level rules to ``broken``."""
    from expectations import canonical_suites

    results = []
    for table_name, data in harmonised.items():
        if data.num_rows == 0:
            continue
        frame = canonical_suites.frame_for(table_name, data)
        outcome = validate_rules(frame, canonical_suites.rules(table_name), f"{table_name}.canonical")
        if validations is not None:
            validations[f"{table_name}.canonical"] = (outcome, frame.num_rows)
        severity = {(m["rule"], m["column"]): m["severity"] for _, _, m in canonical_suites.rules(table_name)}
        for r in outcome.results:
            level = severity.get((r.rule, r.column), "error")
            results.append({"stage": "canonical", "rule": f"{table_name}.{r.rule}", "column_name": r.column,
                            "failed_rows": r.failed_rows, "severity": level if not r.success else "ok"})
            if not r.success and level == "error":
                broken.append(f"{table_name}.{r.column}: {r.rule} ({r.failed_rows} rows)")
    return results
