"""The Airflow settings the official Helm chart derives from manifests/airflow/values-*.yaml, as environment
variables for the real Airflow the tests run. The chart renders ``config`` into airflow.cfg, each value through
``tpl`` with the release (Airflow reads an ``AIRFLOW__SECTION__KEY`` variable the same way), sets each ``env``
item as it is, and adds ``extraEnv`` (a YAML list of container env vars, also through ``tpl``, whose
``fieldRef`` the kubelet fills in) to every Airflow container and task pod."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import yaml

from support.common import ROOT

VALUES = ROOT / "manifests" / "airflow"
_RELEASE_FIELD = re.compile(r"\{\{-?\s*\.Release\.(Name|Namespace)\s*-?\}\}")


class Release(NamedTuple):
    name: str
    namespace: str


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


# The one Helm release the tests' Airflow stands for, unless a test names another.
RELEASE = Release("airflow-prod-eu", "airflow-prod-eu")


def tpl(text: str, release: Release) -> str:
    """Helm's ``tpl`` for the expressions the values files use: the release's name and namespace. Anything else
    in braces fails the test, rather than reach Airflow unrendered."""
    rendered = _RELEASE_FIELD.sub(lambda match: getattr(release, match.group(1).lower()), text)
    assert "{{" not in rendered, f"no test rendering for {text!r}"
    return rendered


def airflow_environment(
    values: dict[str, Any], host_ip: str = "127.0.0.1", release: Release = RELEASE
) -> dict[str, str]:
    env = {
        f"AIRFLOW__{section.upper()}__{key.upper()}": tpl(str(value), release)
        for section, options in values.get("config", {}).items()
        for key, value in options.items()
    }
    env.update({item["name"]: str(item["value"]) for item in values.get("env", [])})
    for item in yaml.safe_load(tpl(values.get("extraEnv") or "[]", release)):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            field = item["valueFrom"]["fieldRef"]["fieldPath"]
            assert field == "status.hostIP", f"no test value for {field}"
            env[item["name"]] = host_ip
    return env
