"""The monthly report for the steering group: one self-contained HTML page per publication.

It reads only what the publication holds — its Parquet tables (disclosure-controlled), ``manifest.json`` —
and the KPI definitions (names and directions, ``marts/seeds/kpi_definitions.csv``), so the page shows
nothing that was not published, and equal publications give equal pages (``created_at`` aside). Nothing is
fetched: CSS is inline, charts are inline SVG (:mod:`scorecard.charts`), no scripts, no fonts, no links out.

Shown: the scorecard (each KPI's value, target, floor, score and trend; "not delivered" for result areas
without a feed, never 0; "·" for a figure withheld by disclosure control), KPI trends against targets,
cumulative cost against the target budget, the gain/pain figures and the KPI pool, and where the figures
come from (warehouse state and tag, deliveries, late or rejected deliveries, code, rule and configuration
versions). docs/steering-group.md explains how to read it.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

from scorecard import charts
from scorecard.months import add_months
from tesoma.config import PROJECT_DIR

KPI_DEFINITIONS = PROJECT_DIR / "marts" / "seeds" / "kpi_definitions.csv"

RESULT_AREAS = {
    "children_young_families": "Wellbeing of children, young people and families",
    "adults_work_capacity": "Wellbeing and work capacity of adults",
    "older_people": "Wellbeing and functional capacity of older people",
    "specialised_services": "Less use of expensive specialised services",
    "satisfaction": "Customer and stakeholder satisfaction",
    "service_system": "Service system: integration, access, continuity, digital, cost",
}
"""The alliance's key result areas, in the order the report shows them."""

WITHHELD = "·"
SPARK_MONTHS = 13


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def definitions(path: Path = KPI_DEFINITIONS) -> dict[str, dict]:
    """KPI id → its row of the KPI definitions (name, unit, direction, description); empty when absent."""
    if not path.exists():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        return {row["kpi_id"]: row for row in csv.DictReader(f)}


# --- formatting -------------------------------------------------------------------------------------------

def _group(number: float, decimals: int) -> str:
    """Thousands separated by a thin space, decimal point (English report)."""
    return f"{number:,.{decimals}f}".replace(",", "\u2009")


def fmt_value(value, unit: str | None) -> str:
    if value is None:
        return WITHHELD
    v = float(value)
    if unit == "pct":
        return f"{_group(v, 1)} %"
    if unit == "days":
        return f"{_group(v, 1)} d"
    if unit == "index":
        return f"{v:.3f}"
    if unit == "count":
        return _group(v, 0)
    if unit == "eur":
        return f"€{_group(v, 0)}"
    if unit == "eur_per_resident":
        return f"€{_group(v, 2)}"
    return _group(v, 2)


def fmt_eur(value, signed: bool = False) -> str:
    if value is None:
        return "–"
    v = Decimal(value)
    text = _group(float(abs(v)), 0)
    sign = "−" if v < 0 else ("+" if signed and v > 0 else "")
    return f"{sign}€{text}"


def fmt_change(change, unit: str | None) -> str:
    if change is None:
        return ""
    sign = "+" if change > 0 else ("−" if change < 0 else "±")
    magnitude = fmt_value(abs(change), unit)
    if unit == "pct":
        magnitude = magnitude.replace(" %", " pp")
    return f"{sign}{magnitude}"


def _arrow(change, direction: str | None) -> str:
    """▲/▼ coloured by whether the change is good (the KPI's direction), ▬ for no change."""
    if change is None:
        return '<span class="muted">–</span>'
    if abs(change) < 1e-12:
        return '<span class="flat" title="no change">▬</span>'
    up = change > 0
    good = None if direction not in ("higher", "lower") else (up == (direction == "higher"))
    css = "flat" if good is None else ("good" if good else "bad")
    return f'<span class="{css}" title="{"up" if up else "down"}">{"▲" if up else "▼"}</span>'


# --- the page ---------------------------------------------------------------------------------------------

CSS = """
body{font-family:"DejaVu Sans","Liberation Sans",Arial,sans-serif;color:#1a1a1a;margin:0;background:#fafafa;
font-size:14px}
main{max-width:78em;margin:0 auto;padding:1.2em 2em 3em;background:#fff}
h1{font-size:1.6em;margin:.2em 0}
h2{font-size:1.25em;margin-top:1.8em;border-bottom:2px solid #1f5f8b;padding-bottom:.2em}
h3{font-size:1.05em;margin:1.2em 0 .4em;color:#1f5f8b}
.sub{color:#555;margin:0 0 1em}
.muted{color:#888}
.small{font-size:.85em}
.example{background:#fff3cd;border:2px solid #d4a106;padding:.6em 1em;font-weight:bold;margin:1em 0}
.cards{display:flex;flex-wrap:wrap;gap:1em;margin:1em 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.7em 1em;min-width:12em;flex:1}
.card .big{font-size:1.5em;font-weight:bold}
.card .label{color:#555;font-size:.85em}
table{border-collapse:collapse;width:100%;margin:.4em 0}
th,td{padding:.3em .5em;border-bottom:1px solid #e5e5e5;text-align:left;vertical-align:middle}
th{background:#f0f4f8;font-weight:600;font-size:.9em}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.area td{background:#eef3f7;font-weight:bold;color:#1f5f8b}
.nd{color:#666;font-style:italic}
.withheld{color:#666;font-weight:bold}
.good{color:#2e7d32}
.bad{color:#c62828}
.flat{color:#777}
.bar{display:inline-block;width:5em;height:.7em;background:#e5e5e5;vertical-align:middle;margin-right:.4em}
.bar span{display:block;height:100%;background:#1f5f8b}
svg.chart{width:100%;height:auto;display:block}
svg.spark{vertical-align:middle}
.notes{font-size:.85em;color:#444;background:#f6f6f6;padding:.6em 1em;border-left:3px solid #bbb}
code{background:#f0f0f0;padding:0 .25em}
footer{margin-top:2em;font-size:.85em;color:#333}
"""


def write(folder: Path, manifest: dict | None = None) -> Path:
    """Render the publication in ``folder`` into ``folder/report.html``; returns its path."""
    folder = Path(folder)
    manifest = manifest or json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    path = folder / "report.html"
    path.write_text(render(folder, manifest), encoding="utf-8")
    return path


def render(folder: Path, manifest: dict) -> str:
    month = dt.date.fromisoformat(manifest["month"])
    scorecard = pq.read_table(folder / "kpi_scorecard.parquet").to_pylist()
    budget = pq.read_table(folder / "kpi_budget.parquet").to_pylist()
    defs = definitions()
    this = [r for r in scorecard if r["month"] == month]
    alliance = manifest.get("alliance_config", {})
    parts = [
        f"<header><h1>Tesoma alliance scorecard — {month:%B %Y}</h1>"
        f"<p class='sub'>Publication <b>{_e(manifest['publication_id'])}</b> · made {_e(manifest['created_at'])} · "
        f"figures from warehouse state {_e(manifest['warehouse_state']['state_id'])} "
        f"(tag <code>{_e(manifest['warehouse_state']['tag'])}</code>)</p></header>",
    ]
    if alliance.get("example"):
        parts.append("<div class='example'>EXAMPLE values: the target budget, gain/pain shares, KPI targets, floors "
                     f"and weights come from config/alliance.yaml version {_e(alliance.get('version'))}, which is "
                     "marked <code>example: true</code>. They are not the alliance's agreed figures.</div>")
    parts.append(_headline(month, this, budget))
    parts.append(_scorecard(month, scorecard, defs))
    parts.append(_trends(month, scorecard, defs))
    parts.append(_budget(month, budget))
    parts.append(_provenance(manifest))
    body = "\n".join(parts)
    return ("<!doctype html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>Tesoma alliance scorecard {month:%Y-%m} ({_e(manifest['publication_id'])})</title>"
            f"<style>{CSS}</style></head><body><main>\n{body}\n</main></body></html>\n")


def _budget_row(budget: list[dict], month: dt.date) -> dict | None:
    return next((r for r in budget if r["month"] == month), None)


def _headline(month: dt.date, this: list[dict], budget: list[dict]) -> str:
    row = _budget_row(budget, month)
    scored = [r for r in this if r["score"] is not None]
    incentive = [r for r in this if r["weight"] is not None]
    cards = [("KPIs on the scorecard", f"{sum(r['status'] == 'delivered' for r in this)} delivered",
              f"of {len(this)}; {sum(r['status'] == 'not_delivered' for r in this)} not delivered, "
              f"{sum(r['status'] == 'suppressed' for r in this)} withheld")]
    if incentive:
        weighted = sum(r["weighted_score"] or 0 for r in incentive)
        unscored = sum(r["weight"] for r in incentive if r["score"] is None)
        cards.append(("Weighted KPI score", f"{weighted:.1%}",
                      f"{len(scored)} of {len(incentive)} incentive KPIs scored"
                      + (f"; weight {unscored:.2f} without a value earns nothing" if unscored else "")))
    if row is not None:
        cards.append(("KPI pool accrual this month", fmt_eur(row["kpi_pool"]), "month's pool × weighted score"))
        if row["cumulative_actual"] is not None:
            cards.append(("Cost vs target budget, period to date", fmt_eur(row["delta"], signed=True),
                          f"target {fmt_eur(row['cumulative_target'])} − actual {fmt_eur(row['cumulative_actual'])} "
                          f"(period {_e(row['period'])})"))
            cards.append(("Gain (+) / pain (−) to date", f"{fmt_eur(row['gain_pain_providers'], True)} / "
                          f"{fmt_eur(row['gain_pain_orderer'], True)}", "providers / orderer (indicative)"))
        else:
            cards.append(("Cost vs target budget", "not available", "no published actual cost for every month "
                          "of the period so far"))
    items = "".join(f"<div class='card'><div class='label'>{_e(label)}</div><div class='big'>{_e(big)}</div>"
                    f"<div class='small muted'>{_e(note)}</div></div>" for label, big, note in cards)
    return f"<section><div class='cards'>{items}</div></section>"


def _history(scorecard: list[dict], kpi_id: str, month: dt.date) -> list[float | None]:
    by_month = {r["month"]: r["value"] for r in scorecard if r["kpi_id"] == kpi_id}
    months = [add_months(month, -i) for i in range(SPARK_MONTHS - 1, -1, -1)]
    first = min(by_month) if by_month else month
    return [by_month.get(m) for m in months if m >= first]


def _scorecard(month: dt.date, scorecard: list[dict], defs: dict) -> str:
    this = {r["kpi_id"]: r for r in scorecard if r["month"] == month}
    order = list(RESULT_AREAS) + sorted({r["result_area"] for r in this.values()} - set(RESULT_AREAS))
    rows = []
    for area in order:
        kpis = [r for r in this.values() if r["result_area"] == area]
        if not kpis:
            continue
        rows.append(f"<tr class='area'><td colspan='9'>{_e(RESULT_AREAS.get(area, area))}</td></tr>")
        for r in sorted(kpis, key=lambda r: list(defs).index(r["kpi_id"]) if r["kpi_id"] in defs else 999):
            rows.append(_kpi_row(r, defs.get(r["kpi_id"], {}), _history(scorecard, r["kpi_id"], month)))
    head = ("<tr><th>KPI</th><th class='num'>Value</th><th class='num'>Target</th><th class='num'>Floor</th>"
            "<th>Score</th><th class='num'>vs previous month</th><th class='num'>vs 12 months earlier</th>"
            f"<th>Last {SPARK_MONTHS} months</th><th>Status</th></tr>")
    notes = ("<p class='notes'><b>·</b> = withheld by disclosure control (fewer than 10 persons behind the figure, "
             "or a count of 1–7; see the disclosure rule version below). <i>not delivered</i> = no data source "
             "for this result area yet: it is not a zero and scores nothing. Score = clamp((value − floor) ÷ "
             "(target − floor), 0, 1); only KPIs with a target in the alliance agreement are scored. "
             "▲▼ are green when the change is in the KPI's good direction, red otherwise.</p>")
    return (f"<section><h2>Scorecard, {month:%B %Y}</h2><table>{head}{''.join(rows)}</table>{notes}</section>")


STATUS_TEXT = {"delivered": "", "not_delivered": "not delivered", "no_data": "no data this month",
               "suppressed": "withheld"}


def _kpi_row(r: dict, d: dict, history: list) -> str:
    unit = r["unit"]
    name = d.get("name") or r["kpi_id"]
    title = d.get("description", "")
    status = r["status"]
    if status == "not_delivered":
        value = "<span class='nd'>not delivered</span>"
    elif status == "no_data":
        value = "<span class='nd'>no data</span>"
    elif r["value"] is None:
        value = f"<span class='withheld' title='withheld by disclosure control'>{WITHHELD}</span>"
    else:
        value = _e(fmt_value(r["value"], unit))
    target = _e(fmt_value(r["target"], unit)) if r["target"] is not None else "<span class='muted'>–</span>"
    floor = _e(fmt_value(r["floor"], unit)) if r["floor"] is not None else "<span class='muted'>–</span>"
    if r["score"] is not None:
        score = (f"<span class='bar'><span style='width:{r['score'] * 100:.0f}%'></span></span>"
                 f"{r['score']:.2f} <span class='muted small'>× {r['weight']:.2f}</span>")
    else:
        score = "<span class='muted'>–</span>"
    direction = d.get("direction") or _direction(r)
    prev = f"{_arrow(r['trend_previous_month'], direction)} {_e(fmt_change(r['trend_previous_month'], unit))}"
    year = f"{_arrow(r['trend_12_months'], direction)} {_e(fmt_change(r['trend_12_months'], unit))}"
    spark = charts.sparkline(history)
    return (f"<tr><td title='{_e(title)}'>{_e(name)} <span class='muted small'>{_e(r['kpi_id'])}</span></td>"
            f"<td class='num'>{value}</td><td class='num'>{target}</td><td class='num'>{floor}</td><td>{score}</td>"
            f"<td class='num'>{prev}</td><td class='num'>{year}</td><td>{spark}</td>"
            f"<td class='small'>{_e(STATUS_TEXT.get(status, status))}</td></tr>")


def _direction(r: dict) -> str | None:
    """Without a KPI definition: an incentive KPI's target above its floor means higher is better."""
    if r["target"] is None or r["floor"] is None or r["target"] == r["floor"]:
        return None
    return "higher" if r["target"] > r["floor"] else "lower"


def _trends(month: dt.date, scorecard: list[dict], defs: dict) -> str:
    incentive = sorted({r["kpi_id"] for r in scorecard if r["target"] is not None},
                       key=lambda k: list(defs).index(k) if k in defs else 999)
    series = []
    for kpi_id in incentive:
        rows = sorted((r for r in scorecard if r["kpi_id"] == kpi_id), key=lambda r: r["month"])
        if not any(r["value"] is not None for r in rows):
            continue
        last = rows[-1]
        series.append({"kpi_id": kpi_id, "name": (defs.get(kpi_id) or {}).get("name") or kpi_id, "unit": last["unit"],
                       "months": [r["month"] for r in rows], "values": [r["value"] for r in rows],
                       "target": last["target"], "floor": last["floor"]})
    if not series:
        return ("<section><h2>KPI trends against targets</h2><p class='muted'>No incentive KPI has a published "
                "value yet.</p></section>")
    return (f"<section><h2>KPI trends against targets</h2><p class='sub'>The incentive KPIs, month by month up to "
            f"{month:%B %Y}: value (blue), target (green, dashed), floor (red, dotted). A gap is a month whose value "
            f"was withheld or not available.</p>{charts.kpi_trends(series)}</section>")


def _budget(month: dt.date, budget: list[dict]) -> str:
    if not budget:
        return ("<section><h2>Cost against the target budget</h2><p class='nd'>No alliance-level actual cost is "
                "published for these months (the <code>costs</code> feed), so no budget comparison.</p></section>")
    # From the first month with a published actual cost (the months of the period before the data begins
    # have a target but nothing to compare it with) to the period's end.
    first = min((r["month"] for r in budget if r["actual"] is not None), default=month)
    shown = [r for r in budget if r["month"] >= first]
    chart = charts.cumulative_cost(shown)
    rows = []
    for r in shown:
        future = r["month"] > month
        actual = fmt_eur(r["actual"]) if r["actual"] is not None else "<span class=nd>not published</span>"
        rows.append(
            f"<tr{' class=muted' if future else ''}><td>{r['month']:%Y-%m}</td><td>{_e(r['period'])}</td>"
            f"<td class='num'>{fmt_eur(r['target'])}</td>"
            f"<td class='num'>{actual}</td>"
            f"<td class='num'>{fmt_eur(r['cumulative_target'])}</td>"
            f"<td class='num'>{fmt_eur(r['cumulative_actual'])}</td><td class='num'>{fmt_eur(r['delta'], True)}</td>"
            f"<td class='num'>{fmt_eur(r['gain_pain_providers'], True)}</td>"
            f"<td class='num'>{fmt_eur(r['gain_pain_orderer'], True)}</td><td class='num'>{fmt_eur(r['kpi_pool'])}</td>"
            "</tr>")
    head = ("<tr><th>Month</th><th>Period</th><th class='num'>Target</th><th class='num'>Actual</th>"
            "<th class='num'>Cumulative target</th><th class='num'>Cumulative actual</th><th class='num'>Δ</th>"
            "<th class='num'>Gain/pain providers</th><th class='num'>Gain/pain orderer</th>"
            "<th class='num'>KPI pool accrual</th></tr>")
    notes = ("<p class='notes'>Δ = cumulative target − cumulative actual cost within the contract period: positive is "
             "a gain (under budget), negative a pain. The gain/pain split applies the alliance agreement's shares "
             "and caps to the period so far (caps pro rata); it is indicative until the period is settled. "
             "The KPI pool accrual is the month's share of the period's pool × the weighted KPI score. Actual cost "
             "is the published alliance-level <code>actual_cost</code>; all amounts in euros.</p>")
    return (f"<section><h2>Cost against the target budget, gain/pain and KPI pool</h2>{chart}"
            f"<table>{head}{''.join(rows)}</table>{notes}</section>")


def _grouped(items: list[dict], label: str, describe) -> list[str]:
    """One list item per feed/partner (the manifest lists each delivery)."""
    by_source: dict[str, list[dict]] = {}
    for item in items:
        by_source.setdefault(f"{item['feed']}/{item['partner']}", []).append(item)
    return [f"<li>{_e(label)}: {_e(key)} — {_e(describe(rows))}</li>" for key, rows in sorted(by_source.items())]


def _provenance(m: dict) -> str:
    state = m["warehouse_state"]
    d = m.get("deliveries", {})
    behind = "".join(f"<tr><td>{_e(v['feed'])}</td><td>{_e(v['partner'])}</td>"
                     f"<td class='num'>{v['deliveries']}</td><td>{_e(v['first_date'])} – {_e(v['last_date'])}</td>"
                     f"<td class='num'>{_group(v['rows_published'], 0)}</td></tr>"
                     for v in d.get("behind", {}).values())
    problems = []
    for r in d.get("rejected", []):
        problems.append(f"<li>rejected: {_e(r['feed'])}/{_e(r['partner'])} {_e(r['delivery_date'])} — "
                        f"{_e(r['reason'][:160])}</li>")
    for key, days in d.get("missing", {}).items():
        shown = ", ".join(days[:8]) + (", …" if len(days) > 8 else "")
        problems.append(f"<li>missing: {_e(key)} — {len(days)} date(s) without a published delivery ({_e(shown)})</li>")
    problems += _grouped(d.get("late", []), "late", lambda rs: f"{len(rs)} delivery(ies) arrived after their deadline "
                         f"(dates {rs[0]['delivery_date']} – {rs[-1]['delivery_date']}; the latest arrived "
                         f"{max(r['arrived_at'] for r in rs)[:16]})")
    problems += _grouped(d.get("quarantined", []), "rows set aside",
                         lambda rs: f"{sum(r['rows_quarantined'] for r in rs)} row(s) quarantined in {len(rs)} "
                         f"delivery(ies) ({', '.join(r['delivery_date'] for r in rs[:6])}"
                         f"{', …' if len(rs) > 6 else ''})")
    problems_html = (f"<ul>{''.join(problems)}</ul>" if problems
                     else "<p>None: every expected delivery of the month is in.</p>")
    code = m.get("code_version", {})
    rules = m.get("disclosure_rules", {})
    alliance = m.get("alliance_config", {})
    tables = "".join(f"<tr><td>{_e(name)}</td><td class='num'>{t['rows']}</td><td><code class='small'>"
                     f"{_e(t['sha256'])}</code></td></tr>" for name, t in sorted(m.get("tables", {}).items()))
    window = d.get("window", ["", ""])
    example = " — EXAMPLE values" if alliance.get("example") else ""
    return f"""<footer><h2>Where these figures come from</h2>
<table class='small'>
<tr><th>Warehouse state</th><td>{_e(state['state_id'])} (made {_e(state.get('created_at') or '')}), tagged
<code>{_e(state['tag'])}</code>; Iceberg snapshots of {len(state.get('snapshots', {}))} table(s)</td></tr>
<tr><th>Code version</th><td>{_e(code.get('git') or 'not a git checkout')} · package {_e(code.get('package'))} ·
marts + scorecard sources sha256 <code>{_e(str(code.get('sources_sha256', ''))[:16])}</code></td></tr>
<tr><th>Disclosure rules</th><td>version {_e(rules.get('version'))} (config/disclosure.yaml, copied into the
publication)</td></tr>
<tr><th>Alliance configuration</th><td>version {_e(alliance.get('version'))}{example}
(config/alliance.yaml, copied into the publication)</td></tr>
<tr><th>Reproduce</th><td><code>tesoma report --reproduce {_e(m['publication_id'])}</code> rebuilds every table from the
tagged state and says, table by table, whether it is identical</td></tr>
</table>
<h3>Late, rejected or missing deliveries affecting {_e(m['month'][:7])}</h3>{problems_html}
<h3>Deliveries behind the figures ({_e(window[0])} – {_e(window[1])}, the 12-month window)</h3>
<table class='small'><tr><th>Feed</th><th>Partner</th><th class='num'>Deliveries</th><th>Dates</th>
<th class='num'>Rows published</th></tr>{behind}</table>
<h3>Published tables</h3>
<table class='small'><tr><th>Table</th><th class='num'>Rows</th><th>SHA-256</th></tr>{tables}</table>
</footer>"""


def summary_lines(publication) -> list[str]:
    """A one-screen summary for the terminal: where the report is, each KPI's value, target and score."""
    m = publication.manifest
    month = publication.month
    rows = [r for r in publication.table("kpi_scorecard").to_pylist() if r["month"] == month]
    defs = definitions()
    order = {k: i for i, k in enumerate(defs)}
    lines = [f"publication {publication.publication_id}: {month:%B %Y}, warehouse state "
             f"{m['warehouse_state']['state_id']} (tag {m['warehouse_state']['tag']})",
             f"report: {publication.report}", "",
             f"{'KPI':<24}{'value':>19}{'target':>10}{'score':>7}  status"]
    for r in sorted(rows, key=lambda r: (order.get(r["kpi_id"], 999), r["kpi_id"])):
        missing = r["status"] in ("not_delivered", "no_data")
        value = STATUS_TEXT[r["status"]] if missing else fmt_value(r["value"], r["unit"])
        target = fmt_value(r["target"], r["unit"]) if r["target"] is not None else ""
        score = f"{r['score']:.2f}" if r["score"] is not None else ""
        status = "withheld (·)" if r["status"] == "suppressed" else ""
        lines.append(f"{r['kpi_id']:<24}{value:>19}{target:>10}{score:>7}  {status}".rstrip())
    budget = next((r for r in publication.table("kpi_budget").to_pylist() if r["month"] == month), None)
    weighted = sum(r["weighted_score"] or 0 for r in rows if r["weight"] is not None)
    lines.append("")
    lines.append(f"weighted KPI score {weighted:.1%}" + (
        f"; KPI pool accrual {fmt_eur(budget['kpi_pool'])}; cost vs target budget to date "
        f"{fmt_eur(budget['delta'], True)} (period {budget['period']})"
        if budget and budget["delta"] is not None else ""))
    if m.get("alliance_config", {}).get("example"):
        lines.append("EXAMPLE values: config/alliance.yaml says example: true (not the alliance's agreed figures)")
    if m["deliveries"].get("missing") or m["deliveries"].get("rejected"):
        lines.append(f"incomplete month: {len(m['deliveries']['missing'])} feed/partner(s) with missing dates, "
                     f"{len(m['deliveries']['rejected'])} rejected delivery(ies) — listed in the report")
    return lines
