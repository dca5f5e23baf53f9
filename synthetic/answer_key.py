"""The answer key: what the generator delivered, where, when, and which faults it injected.

Tests and demos compare the pipeline's ledger against it: every delivery with its files (path relative
to the data root, record count, SHA-256), when it was due and when it arrived, and every fault with the
records it affects. It is written to ``landing/_generated.json`` (the leading underscore tells landing
discovery to ignore it) and returned by :func:`synthetic.generate`. It holds no personal data:
visits are named by their ``kaynti_id``, FHIR resources by their ``id``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from synthetic import fileformats
from synthetic.schedule import iso_with_offset

ANSWER_KEY = Path("landing") / "_generated.json"


@dataclass
class OutputFile:
    """A file of a delivery: where it goes (relative to the data root), its bytes, its record count."""

    path: str
    data: bytes
    rows: int
    earlier_by: dt.timedelta = dt.timedelta(0)
    """Written this much before the delivery's arrival (data files before a completion marker)."""


class AnswerKey:
    def __init__(self, root: Path, arguments: dict) -> None:
        self.root = root
        self.arguments = arguments
        self.feeds: dict[str, dict] = {}
        self.faults: list[dict] = []
        self.sources: dict[str, dict] = {}
        self.extra: dict[str, object] = {}
        self.last_arrival: dt.datetime | None = None

    def deliver(
        self,
        *,
        partner: str,
        feed: str,
        covers: str,
        files: list[OutputFile],
        expected_at: dt.datetime,
        arrived_at: dt.datetime | None = None,
        faults: list[dict] | None = None,
        sequence: int = 1,
        **details: object,
    ) -> dict:
        """Write a delivery's files (in order, with their arrival mtimes) and record it."""
        arrived_at = arrived_at or expected_at
        self.last_arrival = max(self.last_arrival or arrived_at, arrived_at)
        records = []
        for output in files:
            fileformats.write(self.root / output.path, output.data, arrived_at - output.earlier_by)
            records.append(
                {
                    "path": output.path,
                    "rows": output.rows,
                    "bytes": len(output.data),
                    "sha256": hashlib.sha256(output.data).hexdigest(),
                }
            )
        fault_ids = []
        for fault in faults or []:
            fault_id = f"F{len(self.faults) + 1:03d}"
            self.faults.append({"id": fault_id, "partner": partner, "feed": feed, "date": covers, **fault})
            fault_ids.append(fault_id)
        delivery = {
            "partner": partner,
            "covers": covers,
            "sequence": sequence,
            "expected_at": iso_with_offset(expected_at),
            "arrived_at": iso_with_offset(arrived_at),
            "rows": sum(r["rows"] for r in records),
            "files": records,
            **details,
            "faults": fault_ids,
        }
        summary = self.feeds.setdefault(feed, {"files": 0, "rows": 0, "deliveries": []})
        summary["files"] += len(records)
        summary["rows"] += delivery["rows"]
        summary["deliveries"].append(delivery)
        return delivery

    def fault(self, fault_id: str) -> dict:
        return next(f for f in self.faults if f["id"] == fault_id)

    def source(self, name: str, **details: object) -> None:
        """Record a pull source (a database) the generator filled."""
        self.sources[name] = dict(details)

    def summary(self) -> dict:
        by_kind: dict[str, int] = {}
        for fault in self.faults:
            by_kind[fault["kind"]] = by_kind.get(fault["kind"], 0) + 1
        return {
            "generator": "synthetic",
            "format_version": 1,
            "arguments": self.arguments,
            **self.extra,
            "feeds": self.feeds,
            "sources": self.sources,
            "fault_counts": by_kind,
            "faults": self.faults,
        }

    def write(self) -> dict:
        summary = self.summary()
        path = self.root / ANSWER_KEY
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        if self.last_arrival is not None:
            fileformats.set_arrival(path, self.last_arrival)
        return summary


def main_summary_lines(summary: dict) -> list[str]:
    """A short human-readable account of a generated dataset, for the ``tesoma generate`` command."""
    args = summary["arguments"]
    population = summary.get("population", {})
    lines = [
        f"Generated {population.get('residents', args['residents'])} residents, {args['days']} days from "
        f"{args['start']} (seed {args['seed']}, fault rate {args['fault_rate']}).",
    ]
    width = max((len(feed) for feed in summary["feeds"]), default=10)
    for feed, info in summary["feeds"].items():
        partners = sorted({d["partner"] for d in info["deliveries"]})
        lines.append(
            f"  {feed:<{width}}  {len(info['deliveries']):>4} deliveries  {info['files']:>5} files  "
            f"{info['rows']:>8} rows  ({', '.join(partners)})"
        )
    for name, source in summary["sources"].items():
        lines.append(f"  source {name}: {source['path']} table {source['table']}, {source['rows']} rows")
    faults = summary["faults"]
    lines.append(f"Injected faults: {len(faults)}" + (":" if faults else " (clean dataset)."))
    for fault in faults:
        forced = " (forced)" if fault.get("forced") else ""
        lines.append(f"  {fault['id']} {fault['date']} {fault['feed']:<{width}} {fault['kind']}{forced}")
    lines.append(f"Answer key: {ANSWER_KEY.as_posix()}")
    return lines
