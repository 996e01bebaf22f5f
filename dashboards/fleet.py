"""Fleet overview: one row per deployment, the few numbers that say whether it is healthy, links down."""

from __future__ import annotations

from grafanalib import core

from airglow.dashboards import promql as q
from airglow.dashboards import variables
from airglow.dashboards.frame import dashboard, drilldown
from airglow.dashboards.panels import Link, Query, Section, Step, stat

LINKS = (
    Link("Deployment", drilldown("deployment")),
    Link("Task pods", drilldown("pods")),
    Link("DAGs", drilldown("dag")),
)
RED_WHEN_ZERO = (Step("red"), Step("green", 0.001))
RED_WHEN_ANY = (Step("green"), Step("red", 1))


def heartbeats() -> tuple[Query, ...]:
    return tuple(
        Query(q.heartbeats_per_minute(component, q.DEPLOYMENT), component.replace("_", "-"))
        for component in q.HEARTBEAT_COMPONENTS
    )


def success_ratio() -> str:
    succeeded = q.rate("airflow_ti_finish_total", q.DEPLOYMENT, 'state="success"')
    finished = q.rate("airflow_ti_finish_total", q.DEPLOYMENT, 'state=~"success|failed"')
    return f"{succeeded} / {finished}"


def deployment_row() -> Section:
    width = 3
    return Section(
        title="$deployment",
        repeat="deployment",
        panels=(
            stat(
                "Heartbeats / min",
                *heartbeats(),
                steps=RED_WHEN_ZERO,
                width=6,
                links=LINKS,
                description="Heartbeats per minute of the scheduler, triggerer and dag-processor; 0 = stalled.",
            ),
            stat(
                "Task success",
                Query(success_ratio()),
                unit="percentunit",
                width=width,
                links=LINKS,
                steps=(Step("red"), Step("orange", 0.9), Step("green", 0.98)),
            ),
            stat(
                "Running / queued",
                Query(q.gauge("airflow_executor_running_tasks", q.DEPLOYMENT), "running"),
                Query(q.gauge("airflow_executor_queued_tasks", q.DEPLOYMENT), "queued"),
                width=width,
                links=LINKS,
            ),
            stat(
                "Open slots",
                Query(q.gauge("airflow_executor_open_slots", q.DEPLOYMENT)),
                width=3,
                links=LINKS,
                steps=(Step("orange"), Step("green", 1)),
            ),
            stat(
                "Import errors",
                Query(q.gauge("airflow_dag_processing_import_errors", q.DEPLOYMENT, aggregation="max")),
                steps=RED_WHEN_ANY,
                width=2,
                links=LINKS,
            ),
            stat(
                "Parse time",
                Query(q.gauge("airflow_dag_processing_total_parse_time", q.DEPLOYMENT, aggregation="max")),
                unit="s",
                width=2,
                links=LINKS,
                steps=(Step("green"), Step("orange", 30), Step("red", 120)),
            ),
            stat(
                "Pending task pods",
                Query(f"count({q.pending_task_pods(q.NAMESPACE)}) or vector(0)"),
                width=2,
                links=LINKS,
                steps=(Step("green"), Step("orange", 10), Step("red", 50)),
            ),
            stat(
                "p95 pod start",
                Query(f"max(airglow:task_pod_start_latency_seconds:p95_30m{{{q.NAMESPACE}}})"),
                unit="s",
                width=3,
                links=LINKS,
                steps=(Step("green"), Step("orange", 60), Step("red", 300)),
                description="95th percentile of task pod start latency (created → container started) over 30 min, "
                "from kube-state-metrics via the recording rule.",
            ),
        ),
    )


def build() -> core.Dashboard:
    return dashboard(
        "fleet",
        "Airflow fleet overview",
        "Every Airflow deployment of the fleet, one row each: heartbeats, task outcomes, slots, parsing and task pods.",
        [deployment_row()],
        [variables.datasource(), variables.deployment()],
    )
