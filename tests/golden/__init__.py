"""Golden files for connectors: small committed deliveries and the Arrow output they must give.

Layout: ``tests/golden/<feed>/<case>/`` holds the delivery — one file or a folder named ``delivery*`` —
and ``expected.json``: the connector's output rows (values rendered as JSON-friendly text with their
Arrow types) plus the read report (unreadable rows, warnings) or the rejection.

Regenerate after a deliberate change, then review the diff:

    .venv/bin/python -m tests.golden            # all feeds
    .venv/bin/python -m tests.golden city_visits
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

import pyarrow as pa

from connectors.base import DeliveryRejected, ReadReport
from tesoma.feeds import connector_for

ROOT = Path(__file__).resolve().parent


def cases(feed: str | None = None) -> list[tuple[str, Path]]:
    out = []
    for feed_dir in sorted(p for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith("_")):
        if feed is None or feed_dir.name == feed:
            out += [(feed_dir.name, case) for case in sorted(p for p in feed_dir.iterdir() if p.is_dir())]
    return out


def delivery_of(case: Path) -> Path:
    found = sorted(p for p in case.iterdir() if p.name.startswith("delivery"))
    if len(found) != 1:
        raise FileNotFoundError(f"{case} must hold exactly one delivery* file or folder, found {len(found)}")
    return found[0]


def _render(value: object) -> object:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, list):
        return [_render(v) for v in value]
    return value


def actual(feed: str, case: Path) -> dict:
    """What the connector makes of the case's delivery, in the form stored in expected.json."""
    report = ReadReport()
    try:
        batches = list(connector_for(feed).read(delivery_of(case), report, batch_rows=1000))
    except DeliveryRejected as exc:
        return {"rejected": {"rule": exc.rule, "message": str(exc)}}
    table = pa.Table.from_batches(batches) if batches else None
    return {
        "schema": {f.name: str(f.type) for f in table.schema} if table is not None else {},
        "rows": [{k: _render(v) for k, v in row.items()} for row in table.to_pylist()] if table is not None else [],
        "unreadable_rows": [list(u) for u in report.unreadable_rows],
        "warnings": report.warnings,
    }


def regenerate(feed: str | None = None) -> int:
    written = 0
    for feed_name, case in cases(feed):
        (case / "expected.json").write_text(
            json.dumps(actual(feed_name, case), indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
        )
        written += 1
        print(f"wrote {case.relative_to(ROOT)}/expected.json")
    return written


