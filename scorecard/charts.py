"""The report's charts: inline SVG drawn by matplotlib's SVG backend, deterministic for equal inputs.

No pyplot and no global backend: each chart is a :class:`matplotlib.figure.Figure` saved as SVG under fixed
settings — the ids' hash salt named after the chart (two charts in one page never share an id by chance),
no date or creator in the metadata, text kept as ``<text>`` (readable, searchable, small; the page's own
sans-serif font draws it, so nothing is fetched). Equal data → equal bytes, for the same matplotlib.

Sparklines (one per scorecard row) are too small for a plotting library to help: :func:`sparkline` writes a
short SVG polyline itself.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Sequence
from decimal import Decimal

COLOURS = {"actual": "#1f5f8b", "target": "#2e7d32", "floor": "#c62828", "grid": "#dddddd", "muted": "#777777"}
FONT = ["DejaVu Sans", "Liberation Sans", "Arial", "sans-serif"]


def _settings(name: str) -> dict:
    return {"svg.hashsalt": f"tesoma-{name}", "svg.fonttype": "none", "font.family": "sans-serif",
            "font.sans-serif": FONT, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
            "axes.edgecolor": "#888888", "axes.grid": True, "grid.color": COLOURS["grid"], "grid.linewidth": 0.6,
            "legend.frameon": False, "svg.image_inline": True}


def _svg(fig, name: str, title: str) -> str:
    """The figure as an ``<svg>`` element for inlining: no XML prolog, no metadata, an accessible title."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(_settings(name)):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
                    bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # Scale with the page; the viewBox keeps the proportions.
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="chart"', text, count=1)
    return text.replace(">", f' role="img" aria-label="{_attr(title)}"><title>{_escape(title)}</title>', 1)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(text: str) -> str:
    return _escape(text).replace('"', "&quot;")


def _figure(width: float, height: float, name: str):
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_settings(name)):
        return Figure(figsize=(width, height), dpi=72)


def kpi_trends(series: Sequence[dict], columns: int = 4) -> str:
    """Small multiples: each KPI's published monthly values against its target (dashed) and floor (dotted).

    ``series``: dicts with ``kpi_id``, ``name``, ``unit``, ``months`` (dates), ``values`` (None where the
    value was withheld or missing: the line breaks there), ``target``, ``floor``."""
    import matplotlib

    name = "kpi-trends"
    rows = max(1, -(-len(series) // columns))
    with matplotlib.rc_context(_settings(name)):
        fig = _figure(3.0 * columns, 2.1 * rows, name)
        axes = fig.subplots(rows, columns, squeeze=False)
        for ax, s in zip(axes.flat, series, strict=False):
            values = [float("nan") if v is None else float(v) for v in s["values"]]
            ax.plot(s["months"], values, marker="o", markersize=3, linewidth=1.6, color=COLOURS["actual"],
                    label="value")
            if s.get("target") is not None:
                ax.axhline(s["target"], color=COLOURS["target"], linestyle="--", linewidth=1, label="target")
            if s.get("floor") is not None:
                ax.axhline(s["floor"], color=COLOURS["floor"], linestyle=":", linewidth=1, label="floor")
            ax.set_title(s["name"], fontsize=9, loc="left")
            ax.set_ylabel(UNIT_LABELS.get(s["unit"], s["unit"]), fontsize=8, color=COLOURS["muted"])
            _month_axis(ax, s["months"])
            ax.tick_params(labelsize=7)
            if len(s["months"]) == 1:
                only = s["months"][0]
                ax.set_xlim(only - dt.timedelta(days=20), only + dt.timedelta(days=20))
        for ax in list(axes.flat)[len(series):]:
            ax.set_visible(False)
        if series:
            handles, labels = axes.flat[0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="upper right", ncols=3, fontsize=8)
        fig.tight_layout(rect=(0, 0, 1, 0.96))
    return _svg(fig, name, "KPI trends against their targets (dashed) and floors (dotted)")


UNIT_LABELS = {"pct": "%", "days": "days", "index": "index", "count": "count", "eur": "€",
               "eur_per_resident": "€ / resident"}


def cumulative_cost(rows: Sequence[dict]) -> str:
    """Cumulative actual cost against the cumulative target budget, per contract period, with each month's
    actual cost as bars. ``rows``: ``month``, ``period``, ``actual``, ``cumulative_target``,
    ``cumulative_actual`` (Decimals or None)."""
    import matplotlib
    import matplotlib.ticker

    name = "cumulative-cost"
    with matplotlib.rc_context(_settings(name)):
        fig = _figure(9.0, 3.4, name)
        ax = fig.subplots()
        periods = sorted({r["period"] for r in rows if r.get("period")})
        for i, period in enumerate(periods):
            part = [r for r in rows if r.get("period") == period]
            months = [r["month"] for r in part]
            ax.plot(months, [_num(r["cumulative_target"]) for r in part], color=COLOURS["target"], linestyle="--",
                    linewidth=1.4, marker="s", markersize=3, label="cumulative target" if i == 0 else None)
            ax.plot(months, [_num(r["cumulative_actual"]) for r in part], color=COLOURS["actual"], linewidth=1.8,
                    marker="o", markersize=3, label="cumulative actual cost" if i == 0 else None)
        if rows:
            ax.bar([r["month"] for r in rows], [_num(r["actual"]) for r in rows], width=18, color="#9ecae1",
                   label="actual cost of the month", zorder=0)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _pos: f"€{v / 1e6:,.2f} M"
                                                                       if abs(v) >= 1e5 else f"€{v:,.0f}"))
        _month_axis(ax, [r["month"] for r in rows])
        ax.legend(loc="upper left", fontsize=8)
        if len(rows) == 1:
            only = rows[0]["month"]
            ax.set_xlim(only - dt.timedelta(days=25), only + dt.timedelta(days=25))
        fig.tight_layout()
    return _svg(fig, name, "Cumulative actual cost against the cumulative target budget")


def _month_axis(ax, months: Sequence[dt.date]) -> None:
    """One tick per month (every second or third month over longer spans), labelled like ``Oct 26``."""
    from matplotlib.dates import DateFormatter, MonthLocator

    span = len({(m.year, m.month) for m in months})
    ax.xaxis.set_major_locator(MonthLocator(interval=1 if span <= 8 else 2 if span <= 16 else 3))
    ax.xaxis.set_major_formatter(DateFormatter("%b %y"))


def _num(value) -> float:
    if value is None:
        return float("nan")
    return float(value) if not isinstance(value, Decimal) else float(value)


def sparkline(values: Sequence[float | None], width: int = 80, height: int = 18, good_up: bool = True) -> str:
    """A tiny line of the last months' values (gaps where a value is missing); the last point marked."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(points) < 2:
        return ""
    low, high = min(v for _, v in points), max(v for _, v in points)
    span = (high - low) or 1.0
    step = (width - 4) / max(1, len(values) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return 2 + i * step, height - 2 - (v - low) / span * (height - 4)

    segments, current = [], []
    for i, v in enumerate(values):
        if v is None:
            if current:
                segments.append(current)
            current = []
        else:
            current.append(xy(i, v))
    if current:
        segments.append(current)
    lines = "".join(f'<polyline points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in seg)}"/>' for seg in segments)
    x, y = xy(*points[-1])
    return (f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="trend of the last {len(values)} months"><g fill="none" stroke="{COLOURS["actual"]}" '
            f'stroke-width="1.3">{lines}</g><circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{COLOURS["actual"]}"/></svg>')
