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
class Column:
    """A column of a table: an instant query with one value per key (the table's first column)."""

    title: str
    expr: str
    unit: str = "short"
    steps: tuple[Step, ...] = (Step("green"),)
    description: str = ""


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
    columns: tuple[Column, ...] = ()  # a table's, after its key
    key: str = ""  # a table's first column: the label its rows are keyed by


@dataclass(frozen=True)
class Section:
    """A row of the dashboard."""

    title: str
    panels: tuple[PanelSpec, ...]


def timeseries(title: str, *queries: Query, unit: str = "short", **options) -> PanelSpec:
    return PanelSpec("timeseries", title, queries, unit=unit, **options)


def stat(title: str, *queries: Query, unit: str = "short", **options) -> PanelSpec:
    return PanelSpec("stat", title, queries, unit=unit, **options)


def heatmap(title: str, query: Query, unit: str = "s", **options) -> PanelSpec:
    """A heatmap of a histogram's buckets (the query returns increases by ``le``)."""
    return PanelSpec("heatmap", title, (query,), unit=unit, **options)


def table(title: str, key: str, columns: Sequence[Column], key_link: Link, **options) -> PanelSpec:
    """A table with a row per value of the label ``key`` (its first column, linked to ``key_link``) and a
    coloured cell per column; rows sorted by the first column, highest first."""
    queries = tuple(Query(column.expr, column.title) for column in columns)
    return PanelSpec("table", title, queries, columns=tuple(columns), key=key, links=(key_link,), **options)


def targets(queries: Sequence[Query], *, data_format: str = "time_series") -> list[core.Target]:
    return [
        core.Target(
            expr=query.expr,
            legendFormat=query.legend,
            refId=ref_id,
            datasource=DATASOURCE,
            format=data_format,
            instant=data_format == "table",
        )
        for query, ref_id in zip(queries, string.ascii_uppercase, strict=False)
    ]


def threshold_steps(steps: Sequence[Step]) -> list[dict]:
    return [{"color": step.color, "value": step.value} for step in steps]


def thresholds(steps: Sequence[Step]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": threshold_steps(steps)}


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


@attr.s
class Table(core.Panel):
    """Grafana's table over instant queries, one frame per query merged into rows by the key label; each
    column named, coloured by its thresholds, the first one sorting the rows (grafanalib's Table predates
    the merge and organize transformations)."""

    key = attr.ib(default="")
    columns: Sequence[Column] = attr.ib(default=())
    key_links: Sequence[Link] = attr.ib(default=())

    def to_json_data(self) -> dict:
        titles = {
            f"Value #{ref_id}": column.title
            for column, ref_id in zip(self.columns, string.ascii_uppercase, strict=False)
        }
        key_title = self.key.capitalize()
        return self.panel_json(
            {
                "type": "table",
                "transformations": [
                    {"id": "merge", "options": {}},
                    {
                        "id": "organize",
                        "options": {
                            "excludeByName": {"Time": True},
                            "indexByName": {name: index for index, name in enumerate([self.key, *titles])},
                            "renameByName": {self.key: key_title, **titles},
                        },
                    },
                ],
                "fieldConfig": {
                    "defaults": {"custom": {"align": "auto", "cellOptions": {"type": "auto"}}},
                    "overrides": [
                        override(key_title, ("links", [link_json(link) for link in self.key_links])),
                        *(
                            override(
                                column.title,
                                ("unit", column.unit),
                                ("thresholds", thresholds(column.steps)),
                                ("color", {"mode": "thresholds"}),
                                ("custom.cellOptions", {"type": "color-background"}),
                                ("description", column.description),
                            )
                            for column in self.columns
                        ),
                    ],
                },
                "options": {
                    "showHeader": True,
                    "cellHeight": "sm",
                    "sortBy": [{"displayName": self.columns[0].title, "desc": True}],
                },
            }
        )


def override(name: str, *properties: tuple[str, Any]) -> dict[str, Any]:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": k, "value": v} for k, v in properties],
    }


def link_json(link: Link) -> dict[str, Any]:
    return {"title": link.title, "url": link.url}


def build(spec: PanelSpec, position: core.GridPos) -> core.Panel:
    common: dict[str, Any] = {
        "title": spec.title,
        "description": spec.description,
        "dataSource": DATASOURCE,
        "gridPos": position,
        "links": panel_links(spec.links),
    }
    if spec.kind == "heatmap":
        return HistogramHeatmap(
            targets=targets(spec.queries, data_format="heatmap"), unit=spec.unit, **common
        )
    if spec.kind == "table":
        common["links"] = []
        return Table(
            targets=targets(spec.queries, data_format="table"),
            key=spec.key,
            columns=spec.columns,
            key_links=spec.links,
            **common,
        )
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
        row = core.RowPanel(title=section.title, gridPos=core.GridPos(h=1, w=GRID_WIDTH, x=0, y=y))
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
