"""The queries a Grafana would run for a dashboard: every panel's targets with the variables substituted.

Shared by the preview and the tests, so that both run exactly what the dashboard JSON says.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airglow.dashboards.variables import substitute


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str
    ref_id: str
    expr: str


def rows(model: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(row, its panels) in order; panels of collapsed rows live inside the row."""
    current: tuple[dict[str, Any], list[dict[str, Any]]] | None = None
    for panel in model["panels"]:
        if panel["type"] == "row":
            if current:
                yield current
            current = (panel, list(panel.get("panels", [])))
        elif current:
            current[1].append(panel)
    if current:
        yield current


def panel_queries(
    model: Mapping[str, Any], selection: Mapping[str, Sequence[str]], rate_interval: str
) -> list[PanelQuery]:
    return [
        PanelQuery(
            model["title"],
            panel["title"],
            target["refId"],
            substitute(target["expr"], selection, rate_interval),
        )
        for _, panels in rows(model)
        for panel in panels
        for target in panel.get("targets", [])
    ]
