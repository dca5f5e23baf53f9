"""Partner-facing pages generated from the contracts: what to deliver, where, in which format.

``tesoma contract-docs`` writes ``docs/partners/<feed>.md``; a test keeps them in step with the
contracts, so the page a partner reads is always the contract the pipeline enforces.
"""

from __future__ import annotations

from pathlib import Path

import contracts
from expectations.contract_suite import range_text, rules

_TYPE = {"string": "text", "integer": "whole number", "number": "number", "date": "date", "timestamp": "date and time",
         "boolean": "yes/no", "array": "list"}
_CLASSIFICATION = {
    "identity_code": "identity code — pseudonymised on arrival",
    "partner_local_id": "your own person id — pseudonymised on arrival",
    "staff_identifier": "your staff id of the professional — pseudonymised on arrival (a domain of its own)",
    "direct_identifier": "identifying — dropped on arrival, never stored downstream",
    "quasi_identifier": "kept (area statistics)",
    "internal": "",
}


def _format_hint(c: contracts.Column, decimal_separator: str) -> str:
    parts = []
    if c.format:
        parts.append(f"format `{c.format}`")
    if c.logical_type == "number":
        parts.append(f"decimal separator `{decimal_separator}`")
    if c.pattern:
        parts.append(f"pattern `{c.pattern}`")
    if c.allowed:
        parts.append("one of " + ", ".join(f"`{v}`" for v in c.allowed))
    if c.minimum is not None or c.maximum is not None:
        parts.append(range_text(c))
    if c.aliases:
        parts.append("header may also be " + ", ".join(f"`{a}`" for a in c.aliases))
    return "; ".join(parts)


def render(contract: contracts.FeedContract) -> str:
    fmt = contract.file_format
    props = contract.properties
    partners = ", ".join(f"`{p}`" for p in contract.partners)
    lines = [
        f"# Delivering `{contract.feed}`",
        "",
        f"Generated from [`contracts/{contract.path.name}`](../../contracts/{contract.path.name}) (version "
        f"{contract.version}) by `tesoma contract-docs`. The contract is what the pipeline enforces; this page "
        "only explains it.",
        "",
        "## What and when",
        "",
        f"- Delivered by: {partners}",
        f"- Schedule: {props.get('deliverySchedule', 'see the contract')}",
        f"- Becomes: the shared table `{contract.canonical_table}`",
        "",
        "## Where and how",
        "",
        f"- Put the delivery in `landing/<partner>/{contract.properties.get('landingFolder') or contract.feed}/` "
        "(your SFTP folder in production).",
        f"- Name: must match `{fmt.file_name_pattern}` (the date as YYYYMMDD, YYYYMM or YYYY; a corrected "
        "re-delivery of the same date adds `_2`, `_3`… and replaces the earlier one).",
        f"- Format: {fmt.format}" + (f"; as text: columns separated by `{fmt.delimiter}`, encoding "
                                      f"{' or '.join(fmt.encodings)}, decimal separator `{fmt.decimal_separator}`"
                                      if "csv" in fmt.format else "") + ".",
        f"- If more than {float(props.get('maxRejectedRowShare', 0.2)):.0%} of a delivery's rows break the rules "
        "below, the whole delivery is rejected.",
        ("- A header row with the column names below; extra columns are ignored with a warning; a missing "
         "required column rejects the whole delivery." if fmt.format in ("csv", "xlsx") else
         "- The columns below are what the pipeline reads from each delivered record (see the contract's "
         "`landing` server for the file layout)."),
        "",
        "## Columns",
        "",
        "| column | type | required | rules | privacy | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for c in contract.columns:
        lines.append(
            f"| `{c.name}` | {_TYPE.get(c.logical_type, c.logical_type)} | {'yes' if c.required else ''}"
            f"{' (unique)' if c.unique else ''} | {_format_hint(c, fmt.decimal_separator)} | "
            f"{_CLASSIFICATION.get(c.classification, '')} | {c.description} |"
        )
    limitations = contract.properties.get("limitations") or contract.limitations
    if limitations:
        lines += ["", "## Limitations", "", str(limitations).strip()]
    lines += ["", "## Checks on every row", ""]
    for _name, _kwargs, meta in rules(contract):
        lines.append(f"- `{meta['column']}` — {meta['rule']}: {meta['advice']}")
    lines += [
        "",
        "Rows that break a rule are quarantined with the reason; the other rows are accepted. The report is in "
        "`quarantine/<partner>/<delivery id>/report.md`.",
        "",
        "## Check a file before sending it",
        "",
        "```",
        f"tesoma check --feed {contract.feed} <file>",
        "```",
        "",
        "It prints every problem with its row, column, rule and what to do, exits 0 when the file would be "
        "accepted whole, and writes nothing anywhere.",
        "",
    ]
    return "\n".join(lines)


def write_all(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for feed in contracts.available():
        path = directory / f"{feed}.md"
        path.write_text(render(contracts.load(feed)), encoding="utf-8")
        written.append(path)
    return written
