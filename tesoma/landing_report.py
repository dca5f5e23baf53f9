"""The landing report: what a partner put in landing/ that is not a delivery, and why.

Every land of a feed (:func:`tesoma.steps.land`) looks at all of the feed's landing folders, whatever
the run's date, and reports each name there that is not a delivery (an impossible date, a name that breaks
the agreement, a link…, see :class:`connectors.base.NotADelivery`) in three places:

- the ledger's ``landing_findings``: one row per feed, partner and name, with when it was first and last
  seen, and ``resolved_at`` once it is gone (``tesoma status`` lists the open ones);
- the task log: a WARNING ``not a delivery: <name>: <reason> (<feed>, partner <partner>)`` per finding,
  on every land while the file is there;
- for the partner: ``quarantine/<partner>/_landing/<feed>.md`` (and ``<feed>.json`` for machines), rewritten
  on every land and removed when nothing is wrong any more.

Names are shown escaped (:func:`connectors.base.shown_name`); nothing is read from the files themselves.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from connectors.base import NotADelivery
from warehouse.layout import Layout
from warehouse.ledger import LandingFinding, Ledger

log = logging.getLogger(__name__)

FOLDER = "_landing"
"""The report's folder under ``quarantine/<partner>/`` (the underscore keeps it apart from delivery ids)."""


def report_path(layout: Layout, partner: str, feed: str) -> Path:
    """Where the partner reads what in the feed's landing folder is not a delivery."""
    return layout.quarantine / partner / FOLDER / f"{feed}.md"


def record(feed: str, partners: Iterable[str], findings: list[NotADelivery], layout: Layout,
           ledger: Ledger) -> None:
    """Report what a look into the feed's landing folders found that is not a delivery (see the module)."""
    ledger.record_findings(feed, findings)
    for finding in findings:
        log.warning("%s (%s, partner %s)", finding, feed, finding.partner)
    kept = ledger.findings(feed)
    for partner in partners:
        _write(report_path(layout, partner, feed), feed, partner, [f for f in kept if f.partner == partner])


def _write(path: Path, feed: str, partner: str, findings: list[LandingFinding]) -> None:
    if not findings:
        for stale in (path, path.with_suffix(".json")):
            stale.unlink(missing_ok=True)
        return
    lines = [f"# Landing report: {feed}", "",
             f"These names in your landing folder for {feed} are not deliveries, so nothing in them was read "
             "or published. Rename or remove each one; a corrected file is picked up by the next run.", ""]
    for f in findings:
        lines.append(f"- {_code(f.name)}: {f.reason} (seen since {f.first_seen:%Y-%m-%d %H:%M} UTC)")
    machine = {"feed": feed, "partner": partner, "not_deliveries": [
        {"name": f.name, "rule": f.rule, "reason": f.reason,
         "delivery_date": f.delivery_date.isoformat() if f.delivery_date else None,
         "first_seen": f.first_seen.isoformat(), "last_seen": f.last_seen.isoformat()} for f in findings]}
    _replace(path, "\n".join(lines) + "\n")
    _replace(path.with_suffix(".json"), json.dumps(machine, indent=2, ensure_ascii=False) + "\n")


def _code(text: str) -> str:
    """``text`` as a Markdown code span, whatever backticks it holds (CommonMark: a longer fence)."""
    fence = "`" * (1 + max((len(run) for run in re.findall("`+", text)), default=0))
    return f"{fence} {text} {fence}" if text.startswith("`") or text.endswith("`") else f"{fence}{text}{fence}"


def _replace(path: Path, text: str) -> None:
    """Write beside, then rename: parallel lands of the feed (other dates) never leave half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
