"""grafanalib's output as Grafana's current dashboard model (what ``@grafana/schema`` types describe).

grafanalib still writes fields of the pre-8 model (``rows``, ``span``, ``editable`` on panels, variable
``tags``, …) and ``null`` for every unset option. Grafana ignores them, but they make a dashboard JSON that
does not type-check against Grafana's own types and that a reviewer has to read past; they are dropped here.
"""

from __future__ import annotations

import json
from typing import Any

from grafanalib import core
from grafanalib._gen import DashboardEncoder

SCHEMA_VERSION = 39
LEGACY_DASHBOARD_KEYS = frozenset(
    {"rows", "hideControls", "sharedCrosshair", "style", "__inputs", "gnetId", "id"}
)
# maxDataPoints=100 (grafanalib's default) would cap every graph at 100 points.
LEGACY_PANEL_KEYS = frozenset({"editable", "error", "height", "span", "minSpan", "maxDataPoints"})
LEGACY_TARGET_KEYS = frozenset({"intervalFactor", "step", "metric", "target", "query", "interval"})
LEGACY_VARIABLE_KEYS = frozenset({"auto", "auto_count", "auto_min", "tagsQuery", "tagValuesQuery", "useTags"})
# The one place Grafana's model uses null with a meaning: the base threshold step ("from -infinity").
NULL_MEANINGFUL_KEYS = frozenset({"value"})


def dashboard_json(dashboard: core.Dashboard) -> dict[str, Any]:
    raw = json.loads(json.dumps(dashboard.to_json_data(), cls=DashboardEncoder))
    model = drop_nulls(without(raw, LEGACY_DASHBOARD_KEYS))
    model["panels"] = [clean_panel(panel) for panel in model.get("panels", [])]
    model["templating"]["list"] = [clean_variable(variable) for variable in model["templating"]["list"]]
    model["timepicker"].pop("time_options", None)
    return model


def clean_panel(panel: dict[str, Any]) -> dict[str, Any]:
    cleaned = without(panel, LEGACY_PANEL_KEYS)
    if cleaned.get("options") == []:
        del cleaned["options"]
    if "fieldConfig" in cleaned:
        cleaned["fieldConfig"].setdefault("overrides", [])
    if "targets" in cleaned:
        cleaned["targets"] = [without(target, LEGACY_TARGET_KEYS) for target in cleaned["targets"]]
    if "panels" in cleaned:
        cleaned["panels"] = [clean_panel(inner) for inner in cleaned["panels"]]
    return cleaned


def clean_variable(variable: dict[str, Any]) -> dict[str, Any]:
    cleaned = without(variable, LEGACY_VARIABLE_KEYS)
    cleaned["current"] = without(cleaned.get("current", {}), frozenset({"tags"}))
    if cleaned["current"].get("value") == "$__all":
        cleaned["current"].update(text="All", value=["$__all"])
    if "text" not in cleaned["current"]:
        del cleaned["current"]
    return cleaned


def without(mapping: dict[str, Any], keys: frozenset[str]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if key not in keys}


def drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: drop_nulls(item)
            for key, item in value.items()
            if item is not None or key in NULL_MEANINGFUL_KEYS
        }
    if isinstance(value, list):
        return [drop_nulls(item) for item in value]
    return value
