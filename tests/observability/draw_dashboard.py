#!/usr/bin/env python3
"""Draws the Grafana dashboard's panels from a real Prometheus into one SVG.

    draw_dashboard.py PROMETHEUS_URL DASHBOARD_JSON START END OUT.svg

For each panel that queries, each target's expr (variables replaced as in
check_panels.py) goes through /api/v1/query_range from START to END (Unix
seconds) with a 1 s step, and the series are drawn as a small line chart in
the dashboard's order, two panels a row, each with its legend (Grafana's
legendFormat) and the y range in the panel's unit. Python's standard
library only.
"""

import json
import math
import re
import sys
from xml.sax.saxutils import escape

from check_panels import api, panels, substitute

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
          "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#637939"]
WIDTH = 1200
PANEL_W, PANEL_H = 580, 220
GAP = 20
HEADER = 60
# Inside a panel: the plot on the left, the legend on the right.
PLOT_X, PLOT_Y, PLOT_W, PLOT_H = 60, 34, 300, 150
LEGEND_X = 375
LEGEND_ROWS = 11


def legend(fmt, labels):
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)
    return text or json.dumps(labels)


def units(panel):
    """The panel's unit, and whether its y axis is logarithmic."""
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    log = defaults.get("custom", {}).get("scaleDistribution", {}).get("type") == "log"
    return defaults.get("unit", "short"), log


def fmt_value(v, unit):
    if unit == "percentunit":
        return f"{v * 100:.3g}%"
    if unit == "s":
        if v == 0:
            return "0 s"
        if abs(v) < 1e-3:
            return f"{v * 1e6:.3g} µs"
        if abs(v) < 1:
            return f"{v * 1e3:.3g} ms"
        return f"{v:.3g} s"
    if unit == "bytes":
        for factor, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
            if abs(v) >= factor:
                return f"{v / factor:.3g} {name}"
        return f"{v:.0f} B"
    suffix = {"reqps": "/s", "ops": "/s"}.get(unit, "")
    if abs(v) >= 1000:
        return f"{v / 1000:.3g}k{suffix}"
    return f"{v:.3g}{suffix}"


def panel_svg(x0, y0, title, unit, series, start, end):
    """One panel: unit is (unit, log axis); series is [(name, [(t, value or None)])]."""
    unit, log = unit
    # Series that stay at 0 are counted, not drawn: they would hide the
    # others' colours under one flat line.
    flat = [name for name, points in series if all(v in (0, None) for _, v in points)]
    series = [(name, points) for name, points in series if not all(v in (0, None) for _, v in points)]
    if log:
        # A log axis has no place for 0: such points are left out.
        series = [(name, [(t, math.log10(v) if v is not None and v > 0 else None) for t, v in points])
                  for name, points in series]
    out = [f'<g transform="translate({x0},{y0})">',
           f'<rect width="{PANEL_W}" height="{PANEL_H}" rx="4" fill="#ffffff" stroke="#d0d4da"/>',
           f'<text x="12" y="20" font-size="13" font-weight="bold">{escape(title)}</text>']
    values = [v for _, points in series for _, v in points if v is not None]
    if not values and flat:
        values = [0.0] if not log else [0.0, 1.0]
    if not values:
        out.append(f'<text x="{PLOT_X}" y="{PLOT_Y + PLOT_H / 2}" font-size="12" fill="#b00">no data</text></g>')
        return out
    if log:
        low, high = math.floor(min(values)), math.ceil(max(values))
    else:
        low, high = min(values + [0.0]), max(values)
    if high == low:
        high = low + 1
    span = end - start

    def px(t):
        return PLOT_X + (t - start) / span * PLOT_W

    def py(v):
        return PLOT_Y + PLOT_H - (v - low) / (high - low) * PLOT_H

    out.append(f'<rect x="{PLOT_X}" y="{PLOT_Y}" width="{PLOT_W}" height="{PLOT_H}" fill="#fafbfc" stroke="#e3e6ea"/>')
    for frac in (0.0, 0.5, 1.0):
        v = low + frac * (high - low)
        y = py(v)
        out.append(f'<line x1="{PLOT_X}" y1="{y:.1f}" x2="{PLOT_X + PLOT_W}" y2="{y:.1f}" stroke="#e3e6ea"/>')
        shown = fmt_value(10 ** v if log else v, unit)
        out.append(f'<text x="{PLOT_X - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#555">{escape(shown)}</text>')
    for frac in (0.0, 0.5, 1.0):
        t = start + frac * span
        anchor = {0.0: "start", 0.5: "middle", 1.0: "end"}[frac]
        out.append(f'<text x="{px(t):.1f}" y="{PLOT_Y + PLOT_H + 14}" font-size="10" text-anchor="{anchor}" fill="#555">{frac * span:.0f} s</text>')
    # The legend: as many series as fit, then what was left out.
    notes = [f"{flat[0]}: 0 throughout" if len(flat) == 1 else f"{len(flat)} series at 0 throughout"] if flat else []
    rows = LEGEND_ROWS - len(notes)
    if len(series) > rows:
        rows -= 1
        notes.insert(0, f"+{len(series) - rows} more")
    for i, (name, points) in enumerate(series):
        color = COLORS[i % len(COLORS)]
        segment = []
        for t, v in points + [(None, None)]:
            if v is None:
                if len(segment) == 1:
                    x, y = segment[0]
                    out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.5" fill="{color}"/>')
                elif segment:
                    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
                    out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
                segment = []
            else:
                segment.append((px(t), py(v)))
        if i < rows:
            ly = PLOT_Y + 8 + i * 15
            out.append(f'<rect x="{LEGEND_X}" y="{ly - 8}" width="10" height="10" fill="{color}"/>')
            label = name if len(name) <= 30 else name[:29] + "…"
            out.append(f'<text x="{LEGEND_X + 15}" y="{ly + 1}" font-size="11">{escape(label)}</text>')
    for j, note in enumerate(notes):
        ly = PLOT_Y + 8 + (min(len(series), rows) + j) * 15
        label = note if len(note) <= 32 else note[:31] + "…"
        out.append(f'<text x="{LEGEND_X}" y="{ly + 1}" font-size="11" fill="#555">{escape(label)}</text>')
    out.append("</g>")
    return out


def main():
    prometheus, dashboard_file, start, end, out_file = sys.argv[1:6]
    start, end = float(start), float(end)
    with open(dashboard_file) as f:
        dashboard = json.load(f)
    drawn = []
    for title, targets in panels(dashboard):
        series = []
        for _, expr, fmt in targets:
            result = api(prometheus, "/api/v1/query_range",
                         {"query": substitute(expr), "start": start, "end": end, "step": 1})
            for r in sorted(result, key=lambda r: legend(fmt, r["metric"])):
                points = []
                for t, v in r["values"]:
                    value = float(v)
                    points.append((float(t), value if math.isfinite(value) else None))
                series.append((legend(fmt, r["metric"]), points))
        drawn.append((title, series))
    unit_of = {}
    stack = list(dashboard["panels"])
    while stack:
        p = stack.pop(0)
        stack[:0] = p.get("panels", [])
        unit_of[p["title"]] = units(p)
    rows = (len(drawn) + 1) // 2
    height = HEADER + rows * (PANEL_H + GAP)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif">',
           f'<rect width="{WIDTH}" height="{height}" fill="#f1f3f6"/>',
           f'<text x="{GAP}" y="30" font-size="18" font-weight="bold">{escape(dashboard["title"])}</text>',
           f'<text x="{GAP}" y="48" font-size="12" fill="#555">Every panel of charts/fastly-anywhere/dashboards/fastly-anywhere.json, '
           f'queried from a real Prometheus over {end - start:.0f} s of load (tests/observability/dashboard --picture)</text>']
    for i, (title, series) in enumerate(drawn):
        x = GAP + (i % 2) * (PANEL_W + GAP)
        y = HEADER + (i // 2) * (PANEL_H + GAP)
        svg.extend(panel_svg(x, y, title, unit_of.get(title, ("short", False)), series, start, end))
    svg.append("</svg>")
    with open(out_file, "w") as f:
        f.write("\n".join(svg) + "\n")
    print(f"picture: {len(drawn)} panels, {sum(len(s) for _, s in drawn)} series → {out_file}")


if __name__ == "__main__":
    main()
