"""What Grafana shows for a table panel: its instant queries merged into one row per key, the columns named
and ordered by the organize transformation, each cell coloured by its column's thresholds, the rows sorted.

Read from the dashboard JSON, so that the preview and the tests see what a Grafana would.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airglow.dashboards.series import Series, step_color


@dataclass(frozen=True)
class Cell:
    value: float | None
    color: str  # the threshold colour ("green", "orange", "red"), "" without a value


@dataclass(frozen=True)
class TableColumn:
    title: str
    unit: str
    steps: list[dict[str, Any]]


@dataclass(frozen=True)
class Table:
    key: str
    columns: list[TableColumn]
    rows: list[tuple[str, list[Cell]]]  # (key value, a cell per column), in display order


def overrides(panel: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each column's override properties by column title."""
    return {
        item["matcher"]["options"]: {prop["id"]: prop.get("value") for prop in item["properties"]}
        for item in panel.get("fieldConfig", {}).get("overrides", [])
    }


def organize(panel: Mapping[str, Any]) -> Mapping[str, Any]:
    return next(t["options"] for t in panel.get("transformations", []) if t["id"] == "organize")


def build_table(panel: Mapping[str, Any], results: Sequence[Sequence[Series]]) -> Table:
    """The table for ``results``, one list of series per target of ``panel``, in target order."""
    options = organize(panel)
    renamed = options["renameByName"]
    key = min(options["indexByName"], key=options["indexByName"].get)
    props = overrides(panel)
    columns = []
    values: dict[str, dict[int, float]] = {}
    for index, (target, series_list) in enumerate(zip(panel["targets"], results, strict=True)):
        title = renamed[f"Value #{target['refId']}"]
        column = props.get(title, {})
        columns.append(
            TableColumn(title, column.get("unit", "short"), column.get("thresholds", {}).get("steps", []))
        )
        for series in series_list:
            if key in series.labels and series.points:
                values.setdefault(series.labels[key], {})[index] = series.points[-1][1]
    rows = [
        (name, [cell(found.get(index), column) for index, column in enumerate(columns)])
        for name, found in values.items()
    ]
    return Table(renamed.get(key, key), columns, sort_rows(panel, columns, rows))


def cell(value: float | None, column: TableColumn) -> Cell:
    if value is None or math.isnan(value):
        return Cell(None, "")
    return Cell(value, step_color(value, column.steps))


def sort_rows(
    panel: Mapping[str, Any], columns: Sequence[TableColumn], rows: list[tuple[str, list[Cell]]]
) -> list[tuple[str, list[Cell]]]:
    """By the panel's sortBy column (missing values last), then by key; else by key."""
    ordered = sorted(rows, key=lambda row: row[0])
    for sort in panel.get("options", {}).get("sortBy", []):
        index = [column.title for column in columns].index(sort["displayName"])
        sign = -1 if sort.get("desc") else 1
        ordered.sort(key=lambda row: (row[1][index].value is None, sign * (row[1][index].value or 0)))
    return ordered
