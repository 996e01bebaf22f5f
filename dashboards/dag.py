"""DAG / task: runs and task instances by state, duration percentiles and heatmap, retries, failures."""

from __future__ import annotations

from grafanalib import core

from airglow.dashboards import promql as q
from airglow.dashboards import variables
from airglow.dashboards.frame import dashboard
from airglow.dashboards.panels import Query, Section, heatmap, timeseries

DAG = ("deployment", "dag_id")
DAG_TASK = ("deployment", "dag_id", "task_id")


def runs() -> Section:
    finished = (
        Query(
            q.per_minute(f"airflow_dagrun_duration_{state}_seconds_count", q.DEPLOYMENT, q.DAG, group=DAG),
            f"{{{{deployment}}}} {{{{dag_id}}}} {state}",
        )
        for state in ("success", "failed")
    )
    active = (
        Query(
            q.gauge(f"airflow_scheduler_dagruns_{state}", q.DEPLOYMENT, q.DAG, group=DAG),
            f"{{{{deployment}}}} {{{{dag_id}}}} {state}",
        )
        for state in ("running", "queued")
    )
    return Section(
        "DAG runs",
        (
            timeseries("Runs finished", *finished, unit="cpm", width=8, stack=True),
            timeseries("Runs active", *active, width=8),
            timeseries(
                "Run duration (p95)",
                *(
                    Query(
                        q.quantile(
                            0.95,
                            f"airflow_dagrun_duration_{state}_seconds",
                            q.DEPLOYMENT,
                            q.DAG,
                            group=DAG,
                        ),
                        f"{{{{deployment}}}} {{{{dag_id}}}} {state}",
                    )
                    for state in ("success", "failed")
                ),
                unit="s",
                width=8,
            ),
        ),
    )


def task_instances() -> Section:
    by_state = q.per_minute("airflow_ti_finish_total", q.DEPLOYMENT, q.DAG, group=(*DAG, "state"))
    return Section(
        "Task instances",
        (
            timeseries(
                "Finished by state",
                Query(by_state, "{{deployment}} {{dag_id}} {{state}}"),
                unit="cpm",
                width=8,
                stack=True,
            ),
            timeseries(
                "Running and queued",
                *(
                    Query(
                        q.gauge(f"airflow_ti_{state}", q.DEPLOYMENT, q.DAG, group=DAG),
                        f"{{{{deployment}}}} {{{{dag_id}}}} {state}",
                    )
                    for state in ("running", "queued", "deferred")
                ),
                width=8,
            ),
            timeseries(
                "Retries and failures",
                *(
                    Query(
                        q.per_minute(
                            "airflow_ti_finish_total", q.DEPLOYMENT, q.DAG, f'state="{state}"', group=DAG_TASK
                        ),
                        f"{{{{deployment}}}} {{{{dag_id}}}}.{{{{task_id}}}} {state}",
                    )
                    for state in ("up_for_retry", "failed")
                ),
                unit="cpm",
                width=8,
                description="Task instances that ended up for retry or failed, per task.",
            ),
        ),
    )


def durations() -> Section:
    percentiles = (
        Query(
            q.quantile(p, "airflow_task_duration_seconds", q.DEPLOYMENT, q.DAG, group=DAG_TASK),
            f"{{{{deployment}}}} {{{{dag_id}}}}.{{{{task_id}}}} p{int(p * 100)}",
        )
        for p in (0.5, 0.95, 0.99)
    )
    return Section(
        "Task duration",
        (
            timeseries("Task duration percentiles", *percentiles, unit="s", width=12, height=10),
            heatmap(
                "Task duration distribution",
                Query(q.heatmap_buckets("airflow_task_duration_seconds", q.DEPLOYMENT, q.DAG), "{{le}}"),
                width=12,
                height=10,
                description="Task instances per minute by duration, the selected deployments and DAGs together.",
            ),
        ),
    )


def build() -> core.Dashboard:
    return dashboard(
        "dag",
        "Airflow DAGs and tasks",
        "Runs and task instances of the selected DAGs: states, durations, retries and failures.",
        [runs(), task_instances(), durations()],
        # A DAG lives in one deployment: the dashboard opens on one, with all its DAGs.
        [variables.datasource(), variables.deployment(opens_on_all=False), variables.dag_id()],
    )
