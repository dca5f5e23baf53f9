"""`tesoma quality-report`: the quality results in the ledger as a browsable page.

Written to ``<data root>/docs/quality.md``: every delivery's row accounting and the rules it broke (all
stages: parse, contract, pseudonymise, harmonise, canonical), from the ledger.

Beside it, ``docs/data-docs/`` holds Great Expectations' own Data Docs of the GX suites (contract and
canonical) per delivery, built by :mod:`expectations.data_docs` (``tesoma data-docs``). GX's results hold
the offending *values* (identity codes, names), so the Data Docs are built from sanitised results only
(:func:`expectations.checkpoint.sanitise`): counts, percentages and rules, never a value. Both pages hold
rule names and counts only, like the ledger; the Data Docs load their styles and scripts from CDNs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import sqlalchemy as sa

from tesoma.config import Settings
from warehouse.ledger import Ledger, quality_results


def render(ledger: Ledger) -> str:
    deliveries = ledger.all()
    with ledger.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(quality_results)).mappings()]
    by_delivery: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_delivery[r["delivery_id"]].append(r)
    lines = ["# Data quality", "", "Built by `tesoma quality-report` from the ledger. Counts and rule names only.",
             "The Great Expectations Data Docs of each delivery's suites: [data-docs/index.html](data-docs/index.html)"
             " (`tesoma data-docs`).", ""]
    lines += ["## Per feed", "", "| feed | deliveries | published | rejected | rows read | quarantined | "
              "failing rules (rows) |", "|---|---|---|---|---|---|---|"]
    feeds = sorted({d.feed for d in deliveries})
    for feed in feeds:
        items = [d for d in deliveries if d.feed == feed]
        failing: Counter = Counter()
        for d in items:
            for r in by_delivery[d.delivery_id]:
                if r["severity"] == "error" and r["failed_rows"]:
                    failing[f"{r['column_name'] or '–'}: {r['rule']}"] += r["failed_rows"]
        lines.append(
            f"| {feed} | {len(items)} | {sum(d.state == 'published' for d in items)} | "
            f"{sum(d.state == 'rejected' for d in items)} | {sum(d.rows_read or 0 for d in items)} | "
            f"{sum(d.rows_quarantined or 0 for d in items)} | "
            + ", ".join(f"{k} ({v})" for k, v in failing.most_common(5)) + " |")
    lines += ["", "## Per delivery", ""]
    for d in deliveries:
        results = by_delivery[d.delivery_id]
        checks = sum(r["severity"] == "ok" for r in results)
        problems = [r for r in results if r["severity"] in ("error", "warning") and (r["failed_rows"] or
                                                                                    r["severity"] == "warning")]
        lines.append(f"### {d.delivery_id} — {d.state}")
        lines.append("")
        lines.append(f"{d.rows_read or 0} rows read, {d.rows_published or 0} published, "
                     f"{d.rows_quarantined or 0} quarantined; {checks} canonical checks passed."
                     + (f" Reason: {d.reason}" if d.reason else ""))
        if problems:
            lines += ["", "| stage | rule | column | rows | severity |", "|---|---|---|---|---|"]
            lines += [f"| {r['stage']} | {r['rule']} | {r['column_name'] or '–'} | {r['failed_rows']} | "
                      f"{r['severity']} |" for r in problems]
        lines.append("")
    return "\n".join(lines)


def write(settings: Settings) -> Path:
    path = settings.data_root / "docs" / "quality.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(Ledger(settings.ledger_url)), encoding="utf-8")
    return path
