"""Draws panels as SVG inside an HTML page laid out on Grafana's grid (24 columns, 30 px grid rows)."""

from __future__ import annotations

import html
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from airglow.dashboards.series import Series, step_color
from airglow.dashboards.tables import Table

COLUMN_PX = 64
ROW_PX = 30
PALETTE = ("#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#fade2a", "#ff9830")
LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")
COLORS = {"green": "#1a7f37", "orange": "#c4620c", "red": "#c4162a"}
# Grafana's rate units, as the preview writes them after a number.
RATE_SUFFIXES = {"ops": "/s", "cpm": "/min"}


@dataclass(frozen=True)
class DrawnPanel:
    kind: str
    title: str
    x: int
    y: int
    w: int
    h: int
    unit: str
    series: list[tuple[str, Series]]  # (legend, series)
    steps: list[dict]
    table: Table | None = None  # a table panel's rows


def legend(template: str, labels: dict[str, str]) -> str:
    if not template:
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"
    return LEGEND.sub(lambda m: labels.get(m.group(1), ""), template).strip()


def human(value: float, unit: str) -> str:
    if math.isnan(value):
        return "NaN"
    if unit == "percentunit":
        return f"{value * 100:.1f}%"
    if unit == "s":
        for size, suffix in ((3600, "h"), (60, "min"), (1, "s"), (0.001, "ms")):
            if abs(value) >= size:
                return f"{value / size:.3g} {suffix}"
        return f"{value * 1000:.3g} ms"
    per = RATE_SUFFIXES.get(unit, "")
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}{per}"
    return f"{value:.3g}{per}"


def color_for(value: float, steps: Sequence[dict]) -> str:
    chosen = step_color(value, steps)
    return COLORS.get(chosen, chosen)


def finite(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    return [(t, v) for t, v in points if math.isfinite(v)]


def timeseries_svg(panel: DrawnPanel, width: int, height: int) -> str:
    plotted = [(name, finite(series.points)) for name, series in panel.series]
    values = [v for _, points in plotted for _, v in points]
    times = [t for _, points in plotted for t, _ in points]
    if not values:
        return no_data(width, height)
    low, high = min(0.0, min(values)), max(values)
    high = high if high > low else low + 1
    start, end = min(times), max(times) or 1
    plot_h = height - 30 - 16 * min(len(plotted), 4)

    def xy(t: float, v: float) -> str:
        return f"{44 + (t - start) / max(end - start, 1) * (width - 52):.1f},{4 + (1 - (v - low) / (high - low)) * (plot_h - 8):.1f}"

    parts = [
        f'<text x="2" y="12" class="axis">{human(high, panel.unit)}</text>',
        f'<text x="2" y="{plot_h - 4}" class="axis">{human(low, panel.unit)}</text>',
        *time_axis(start, end, 44, width - 8, plot_h + 8),
    ]
    for index, (name, points) in enumerate(plotted):
        color = PALETTE[index % len(PALETTE)]
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{" ".join(xy(t, v) for t, v in points)}"/>'
        )
        if index < 4:
            parts.append(
                f'<text x="44" y="{plot_h + 26 + 16 * index}" fill="{color}" class="legend">'
                f"{html.escape(name[:90])}</text>"
            )
    if len(plotted) > 4:
        parts.append(
            f'<text x="{width - 90}" y="{plot_h + 26}" class="legend">+{len(plotted) - 4} more</text>'
        )
    return svg(width, height, parts)


def stat_svg(panel: DrawnPanel, width: int, height: int) -> str:
    latest = [(name, finite(series.points)) for name, series in panel.series]
    shown = [(name, points[-1][1]) for name, points in latest if points]
    if not shown:
        return no_data(width, height)
    cell = width / len(shown)
    parts = []
    for index, (name, value) in enumerate(shown):
        x = index * cell
        parts.append(
            f'<rect x="{x + 2:.0f}" y="2" width="{cell - 4:.0f}" height="{height - 4}" rx="3" '
            f'fill="{color_for(value, panel.steps)}"/>'
        )
        parts.append(
            f'<text x="{x + cell / 2:.0f}" y="{height / 2 + 6:.0f}" class="stat">{human(value, panel.unit)}</text>'
        )
        if len(shown) > 1 or name != "value":
            parts.append(
                f'<text x="{x + cell / 2:.0f}" y="{height - 10}" class="statname">{html.escape(name[:30])}</text>'
            )
    return svg(width, height, parts)


def time_axis(start: float, end: float, left: float, right: float, y: float) -> list[str]:
    """Times (UTC) under a plot: at its start, middle and end."""
    ticks = ((left, start, "start"), ((left + right) / 2, (start + end) / 2, "middle"), (right, end, "end"))
    return [
        f'<text x="{x:.0f}" y="{y:.0f}" class="axis" text-anchor="{anchor}">'
        f"{time.strftime('%H:%M', time.gmtime(moment))}{' UTC' if anchor == 'end' else ''}</text>"
        for x, moment, anchor in ticks
    ]


def bucket_counts(buckets: Sequence[Series]) -> list[list[tuple[float, float]]]:
    """Prometheus buckets are cumulative (``le`` counts everything below it); the heatmap shows each
    bucket's own share, as Grafana does: the bucket minus the one below it, at each time."""
    counts: list[list[tuple[float, float]]] = []
    below: dict[float, float] = {}
    for series in buckets:
        points = finite(series.points)
        counts.append([(t, max(v - below.get(t, 0.0), 0.0)) for t, v in points])
        below = dict(points)
    return counts


def heatmap_svg(panel: DrawnPanel, width: int, height: int) -> str:
    buckets = sorted(panel.series, key=lambda item: float(item[1].labels.get("le", "inf")))
    cells = bucket_counts([series for _, series in buckets])
    values = [v for column in cells for _, v in column]
    if not values or max(values) <= 0:
        return no_data(width, height)
    times = [t for column in cells for t, _ in column]
    top, rows = max(values), len(cells)
    columns = max(len(column) for column in cells)
    plot_h = height - 16
    cw, ch = (width - 50) / columns, (plot_h - 8) / rows
    parts = [
        f'<text x="2" y="12" class="axis">le {html.escape(buckets[-1][1].labels.get("le", ""))}</text>',
        f'<text x="2" y="{plot_h - 4}" class="axis">le {html.escape(buckets[0][1].labels.get("le", ""))}</text>',
        *time_axis(min(times), max(times), 48, width - 2, height - 2),
    ]
    for row, column in enumerate(cells):
        for index, (_, value) in enumerate(column):
            if value > 0:
                opacity = 0.15 + 0.85 * math.log1p(value) / math.log1p(top)
                parts.append(
                    f'<rect x="{48 + index * cw:.1f}" y="{plot_h - 4 - (row + 1) * ch:.1f}" width="{cw:.1f}" '
                    f'height="{ch:.1f}" fill="#ff780a" fill-opacity="{opacity:.2f}"/>'
                )
    return svg(width, height, parts)


def table_html(panel: DrawnPanel, width: int, height: int) -> str:
    """The rows that fit, in the table's order, each cell in its threshold colour; then how many more."""
    table = panel.table
    if table is None or not table.rows:
        return no_data(width, height)
    fits = max(int(height / 20) - 2, 1)
    header = "".join(
        f"<th>{html.escape(title)}</th>" for title in [table.key, *(c.title for c in table.columns)]
    )
    body = []
    for key, cells in table.rows[:fits]:
        tds = "".join(
            f'<td style="background:{COLORS.get(cell.color, "transparent")}">'
            f"{'' if cell.value is None else html.escape(human(cell.value, column.unit))}</td>"
            for cell, column in zip(cells, table.columns, strict=True)
        )
        body.append(f"<tr><td>{html.escape(key)}</td>{tds}</tr>")
    more = len(table.rows) - fits
    footer = f'<div class="legend">+{more} more rows</div>' if more > 0 else ""
    return f'<table class="table"><tr>{header}</tr>{"".join(body)}</table>{footer}'


def no_data(width: int, height: int) -> str:
    return svg(width, height, [f'<text x="{width / 2}" y="{height / 2}" class="nodata">No data</text>'])


def svg(width: int, height: int, parts: list[str]) -> str:
    return f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'


DRAW = {"timeseries": timeseries_svg, "stat": stat_svg, "heatmap": heatmap_svg, "table": table_html}


def page(title: str, rows: list[tuple[str, int]], panels: list[DrawnPanel]) -> tuple[str, int, int]:
    """The HTML page and its pixel size; ``rows`` are (title, grid y) of the row headers."""
    width = 24 * COLUMN_PX
    bottom = max([p.y + p.h for p in panels] + [y + 1 for _, y in rows] + [1])
    blocks = [
        f'<div class="row" style="top:{44 + y * ROW_PX}px">{html.escape(name)}</div>' for name, y in rows
    ]
    for panel in panels:
        w, h = panel.w * COLUMN_PX - 8, panel.h * ROW_PX - 8
        body = DRAW[panel.kind](panel, w - 12, h - 30)
        blocks.append(
            f'<div class="panel" style="left:{panel.x * COLUMN_PX + 4}px;top:{44 + panel.y * ROW_PX + 4}px;'
            f'width:{w}px;height:{h}px"><div class="title">{html.escape(panel.title)}</div>{body}</div>'
        )
    height = 52 + bottom * ROW_PX
    document = f"""<!doctype html><html><head><meta charset="utf-8"><style>
body{{margin:0;background:#111217;color:#ccccdc;font:12px sans-serif;width:{width}px;height:{height}px;position:relative}}
h1{{font-size:16px;margin:0;padding:12px}} .row{{position:absolute;left:8px;font-size:14px;font-weight:bold}}
.panel{{position:absolute;background:#181b1f;border:1px solid #2c3235;border-radius:2px;padding:0 6px;box-sizing:border-box}}
.title{{font-weight:600;padding:6px 0 4px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}} .axis{{fill:#8e8e8e;font-size:10px}} .legend{{font-size:11px}}
.stat{{fill:#fff;font-size:22px;font-weight:bold;text-anchor:middle}} .statname{{fill:#fff;font-size:11px;text-anchor:middle}}
.nodata{{fill:#8e8e8e;text-anchor:middle}}
.table{{border-collapse:collapse;width:100%;font-size:11px}} .table th{{text-align:left;color:#6e9fff;padding:2px 4px;white-space:nowrap;overflow:hidden}}
.table td{{padding:2px 4px;height:16px;color:#fff;border-top:1px solid #2c3235;white-space:nowrap}}</style></head><body><h1>{html.escape(title)}</h1>{"".join(blocks)}</body></html>"""
    return document, width, height
