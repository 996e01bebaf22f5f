"""Everything ``airglow-dashboards`` writes, as deterministic bytes: the same code gives the same files.

<out>/dashboards/<name>.json                    Grafana dashboard JSON (import, or file provisioning)
<out>/provisioning/dashboards/airglow.yaml      Grafana file provider pointing at the JSON
<out>/rules/airglow-rules.yml                   Prometheus rules file (promtool check rules)
<out>/kubernetes/prometheusrule.yaml            the same rules as a Prometheus Operator PrometheusRule
<out>/kubernetes/grafana-dashboards.yaml        one ConfigMap per dashboard for the Grafana sidecar
<out>/alertmanager/inhibit-rules.yml           the Alertmanager inhibit rule of a bridge outage
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from airglow.dashboards import rules
from airglow.dashboards.collection import dashboards


@dataclass(frozen=True)
class OutputOptions:
    namespace: str = "monitoring"
    folder: str = "Airflow"
    dashboards_path: str = "/var/lib/grafana/dashboards/airglow"
    runbooks: str = rules.RUNBOOKS  # where the alerts' runbook_url points


def dump_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def dump_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, width=120, default_flow_style=False)


def provisioning(options: OutputOptions) -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "airglow",
                "folder": options.folder,
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": options.dashboards_path, "foldersFromFilesStructure": False},
            }
        ],
    }


def config_map(name: str, model: Mapping[str, Any], options: OutputOptions) -> dict[str, Any]:
    """A ConfigMap the Grafana sidecar (k8s-sidecar) picks up by its ``grafana_dashboard`` label."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"airglow-dashboard-{name}",
            "namespace": options.namespace,
            "labels": {"grafana_dashboard": "1", "app.kubernetes.io/part-of": "airglow"},
            "annotations": {"grafana_folder": options.folder},
        },
        "data": {f"{name}.json": dump_json(model)},
    }


def files(options: OutputOptions = OutputOptions()) -> dict[str, str]:
    """Relative path -> content of every output file."""
    models = dashboards()
    out = {f"dashboards/{name}.json": dump_json(model) for name, model in models.items()}
    out["provisioning/dashboards/airglow.yaml"] = dump_yaml(provisioning(options))
    out["rules/airglow-rules.yml"] = dump_yaml(rules.rules_file(options.runbooks))
    out["kubernetes/prometheusrule.yaml"] = dump_yaml(
        rules.prometheus_rule(namespace=options.namespace, runbooks=options.runbooks)
    )
    out["alertmanager/inhibit-rules.yml"] = dump_yaml(rules.inhibit_rules())
    out["kubernetes/grafana-dashboards.yaml"] = yaml.safe_dump_all(
        [config_map(name, model, options) for name, model in models.items()], sort_keys=False, width=120
    )
    return out


def write(out: Path, options: OutputOptions = OutputOptions()) -> list[Path]:
    written = []
    for relative, content in files(options).items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        written.append(path)
    return written
