"""Dashboard variables (datasource, deployment, dag_id) and their substitution into PromQL.

``substitute`` expands a panel's expression the way Grafana does for Prometheus: a multi-value selection
becomes a regex alternation of the escaped values, All becomes the variable's ``allValue`` (``.*``: one short
regex however many values there are); the preview and the tests use it to run the exact queries a Grafana would.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grafanalib import core

from airglow.dashboards.panels import DATASOURCE

REGEX_SPECIAL = re.compile(r"[\\^$.|?*+()\[\]{}]")
# Grafana's value of a variable set to All, and what All stands for in a query.
ALL = "$__all"
ALL_VALUE = ".*"


@dataclass(frozen=True)
class LabelSource:
    """Where a query variable takes its values: ``label`` of the series ``selector`` (may use variables)."""

    selector: str
    label: str

    @property
    def query(self) -> str:
        return f"label_values({self.selector}, {self.label})"

    @classmethod
    def parse(cls, query: str) -> LabelSource:
        """The source of a ``label_values(selector, label)`` query, as ``query`` writes it."""
        selector, _, label = query.removeprefix("label_values(").removesuffix(")").rpartition(", ")
        return cls(selector, label)


DEPLOYMENTS = LabelSource("airflow_scheduler_heartbeat_total", "deployment")
DAGS = LabelSource('airflow_ti_finish_total{deployment=~"$deployment"}', "dag_id")


def datasource() -> core.Template:
    return core.Template(name="datasource", label="Data source", type="datasource", query="prometheus")


def label_values(name: str, label: str, source: LabelSource, opens_on_all: bool = True) -> core.Template:
    """A multi-value query variable, refreshed when the time range changes; with All (``.*``) and opening on
    it, or (``opens_on_all`` false) opening on its first value."""
    return core.Template(
        name=name,
        label=label,
        query=source.query,
        dataSource=DATASOURCE,
        includeAll=opens_on_all,
        allValue=ALL_VALUE if opens_on_all else None,
        multi=True,
        refresh=2,
        sort=1,
        default=ALL if opens_on_all else None,
    )


def deployment(opens_on_all: bool = True) -> core.Template:
    return label_values("deployment", "Deployment", DEPLOYMENTS, opens_on_all)


def dag_id() -> core.Template:
    return label_values("dag_id", "DAG", DAGS)


def regex_value(values: Sequence[str]) -> str:
    """Grafana's Prometheus formatting of a selection: All's ``.*``, one escaped value, or ``(a|b|c)``."""
    if ALL in values:
        return ALL_VALUE
    escaped = [REGEX_SPECIAL.sub(lambda m: "\\\\" + m.group(0), value) for value in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def substitute(expr: str, selection: Mapping[str, Sequence[str]], rate_interval: str) -> str:
    """``expr`` with ``$__rate_interval`` and each selected variable replaced (longest names first)."""
    expanded = expr.replace("$__rate_interval", rate_interval)
    for name in sorted(selection, key=len, reverse=True):
        value = regex_value(selection[name])
        expanded = expanded.replace("${" + name + "}", value).replace("$" + name, value)
    return expanded
