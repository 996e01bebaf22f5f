"""What every Airglow dashboard shares: uid, tags, the links between them, variables, time and refresh."""

from __future__ import annotations

from collections.abc import Sequence

from grafanalib import core

from airglow.dashboards.grafana_json import SCHEMA_VERSION
from airglow.dashboards.panels import Section, layout

TAG = "airglow"
UIDS = {
    "fleet": "airglow-fleet",
    "deployment": "airglow-deployment",
    "dag": "airglow-dag",
    "pods": "airglow-task-pods",
    "bridge": "airglow-bridge",
}


def drilldown(name: str) -> str:
    """A URL to another Airglow dashboard that keeps the time range and the deployments selected here."""
    return f"/d/{UIDS[name]}?${{deployment:queryparam}}&${{__url_time_range}}"


def dashboard(
    name: str, title: str, description: str, sections: Sequence[Section], variables: Sequence[core.Template]
) -> core.Dashboard:
    return core.Dashboard(
        title=title,
        uid=UIDS[name],
        description=description,
        tags=[TAG],
        schemaVersion=SCHEMA_VERSION,
        timezone="browser",
        refresh="30s",
        time=core.Time("now-3h", "now"),
        graphTooltip=1,
        editable=True,
        links=[
            core.DashboardLink(
                title="Airglow",
                type="dashboards",
                tags=[TAG],
                asDropdown=True,
                includeVars=True,
                keepTime=True,
            )
        ],
        templating=core.Templating(list=list(variables)),
        panels=layout(sections),
    ).auto_panel_ids()
