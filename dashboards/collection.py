"""Every Airglow dashboard, by file name, as Grafana's JSON model."""

from __future__ import annotations

from typing import Any

from airglow.dashboards import bridge, dag, deployment, fleet, pods
from airglow.dashboards.grafana_json import dashboard_json

BUILDERS = {
    "airflow-fleet": fleet.build,
    "airflow-deployment": deployment.build,
    "airflow-dag": dag.build,
    "airflow-task-pods": pods.build,
    "airglow-bridge": bridge.build,
}


def dashboards() -> dict[str, dict[str, Any]]:
    return {name: dashboard_json(build()) for name, build in BUILDERS.items()}
