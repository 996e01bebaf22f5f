"""The one place that knows how each panel type is built: every dashboard goes through these functions.

A dashboard is a list of ``Section``s (a titled row of panels); ``layout`` turns them into grafanalib panels
with grid positions, ids and refIds, so no dashboard module deals with coordinates.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import attr
from grafanalib import core

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24
DEFAULT_HEIGHT = 8


@dataclass(frozen=True)
class Query:
    """One PromQL target of a panel; ``legend`` is Grafana's legend format (``{{label}}``)."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Step:
    """A threshold step: the colour from ``value`` upwards (``None``: the base colour)."""

    color: str
    value: float | None = None


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True)
class PanelSpec:
    """What a panel shows; ``build`` turns it into a grafanalib panel once its place is known."""

    kind: str
    title: str
    queries: tuple[Query, ...]
    unit: str = "short"
    description: str = ""
    width: int = 12
    height: int = DEFAULT_HEIGHT
    steps: tuple[Step, ...] = (Step("green"),)
    links: tuple[Link, ...] = ()
    stack: bool = False


@dataclass(frozen=True)
class Section:
    """A row of the dashboard; ``repeat`` names a variable to repeat the row for (one row per value)."""

    title: str
    panels: tuple[PanelSpec, ...]
    repeat: str = ""


def timeseries(title: str, *queries: Query, unit: str = "short", **options) -> PanelSpec:
    return PanelSpec("timeseries", title, queries, unit=unit, **options)


def stat(title: str, *queries: Query, unit: str = "short", **options) -> PanelSpec:
    return PanelSpec("stat", title, queries, unit=unit, **options)


def heatmap(title: str, query: Query, unit: str = "s", **options) -> PanelSpec:
    """A heatmap of a histogram's buckets (the query returns increases by ``le``)."""
    return PanelSpec("heatmap", title, (query,), unit=unit, **options)


def targets(queries: Sequence[Query], *, heatmap_format: bool = False) -> list[core.Target]:
    return [
        core.Target(
            expr=query.expr,
            legendFormat=query.legend,
            refId=ref_id,
            datasource=DATASOURCE,
            format="heatmap" if heatmap_format else "time_series",
        )
        for query, ref_id in zip(queries, string.ascii_uppercase, strict=False)
    ]


def threshold_steps(steps: Sequence[Step]) -> list[dict]:
    return [{"color": step.color, "value": step.value} for step in steps]


def panel_links(links: Sequence[Link]) -> list[core.DashboardLink]:
    return [
        core.DashboardLink(title=link.title, uri=link.url, type="link", keepTime=True, includeVars=False)
        for link in links
    ]


@attr.s
class HistogramHeatmap(core.Panel):
    """Grafana's current heatmap panel over pre-bucketed Prometheus histograms (grafanalib only has the old one)."""

    unit = attr.ib(default="s")

    def to_json_data(self) -> dict:
        return self.panel_json(
            {
                "type": "heatmap",
                "fieldConfig": {"defaults": {"unit": self.unit}, "overrides": []},
                "options": {
                    "calculate": False,
                    "cellGap": 1,
                    "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
                    "yAxis": {"unit": self.unit},
                    "rowsFrame": {"layout": "le"},
                    "tooltip": {"mode": "single", "yHistogram": True},
                    "legend": {"show": True},
                },
            }
        )


def build(spec: PanelSpec, position: core.GridPos) -> core.Panel:
    common: dict[str, Any] = {
        "title": spec.title,
        "description": spec.description,
        "dataSource": DATASOURCE,
        "gridPos": position,
        "links": panel_links(spec.links),
    }
    if spec.kind == "heatmap":
        return HistogramHeatmap(targets=targets(spec.queries, heatmap_format=True), unit=spec.unit, **common)
    steps = threshold_steps(spec.steps)
    if spec.kind == "stat":
        return core.Stat(
            targets=targets(spec.queries),
            format=spec.unit,
            thresholds=steps,
            reduceCalc="lastNotNull",
            graphMode="area",
            colorMode="background",
            textMode="value_and_name",
            **common,
        )
    return core.TimeSeries(
        targets=targets(spec.queries),
        unit=spec.unit,
        thresholds=steps,
        legendDisplayMode="list",
        legendPlacement="bottom",
        tooltipMode="multi",
        stacking={"mode": "normal" if spec.stack else "none"},
        fillOpacity=20 if spec.stack else 10,
        **common,
    )


def layout(sections: Sequence[Section]) -> list[core.Panel]:
    """Rows in order; each row's panels fill the 24-column grid left to right and wrap."""
    panels: list[core.Panel] = []
    y = 0
    for section in sections:
        row_panels, height = place(section.panels, y + 1)
        row = core.RowPanel(
            title=section.title,
            gridPos=core.GridPos(h=1, w=GRID_WIDTH, x=0, y=y),
            repeat=core.Repeat(variable=section.repeat or None),
        )
        panels += [row, *row_panels]
        y += 1 + height
    return panels


def place(specs: Sequence[PanelSpec], top: int) -> tuple[list[core.Panel], int]:
    placed: list[core.Panel] = []
    x, y, line_height = 0, top, 0
    for spec in specs:
        if x + spec.width > GRID_WIDTH:
            x, y, line_height = 0, y + line_height, 0
        placed.append(build(spec, core.GridPos(h=spec.height, w=spec.width, x=x, y=y)))
        x += spec.width
        line_height = max(line_height, spec.height)
    return placed, y + line_height - top
