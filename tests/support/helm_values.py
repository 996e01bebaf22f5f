"""The Airflow settings the official Helm chart derives from manifests/airflow/values-*.yaml, as environment
variables for the real Airflow the tests run. The chart renders ``config`` into airflow.cfg (Airflow reads an
``AIRFLOW__SECTION__KEY`` variable the same way), sets each ``env`` item, and adds ``extraEnv`` (a YAML list
of container env vars, whose ``fieldRef`` the kubelet fills in) to every Airflow container and task pod."""

from __future__ import annotations

from typing import Any

import yaml

from support.common import ROOT

VALUES = ROOT / "manifests" / "airflow"


def merged(*names: str) -> dict[str, Any]:
    """``helm -f a -f b``: later files win; maps merge key by key, anything else is replaced."""
    result: dict[str, Any] = {}
    for name in names:
        result = _merge(result, yaml.safe_load((VALUES / name).read_text()))
    return result


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def airflow_environment(values: dict[str, Any], host_ip: str = "127.0.0.1") -> dict[str, str]:
    env = {
        f"AIRFLOW__{section.upper()}__{key.upper()}": str(value)
        for section, options in values.get("config", {}).items()
        for key, value in options.items()
    }
    env.update({item["name"]: str(item["value"]) for item in values.get("env", [])})
    for item in yaml.safe_load(values.get("extraEnv") or "[]"):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            field = item["valueFrom"]["fieldRef"]["fieldPath"]
            assert field == "status.hostIP", f"no test value for {field}"
            env[item["name"]] = host_ip
    return env
