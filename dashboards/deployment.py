"""One deployment (or a few, side by side): scheduler, executor and pools, DAG runs, parsing, triggerer,
and the Kubernetes rows platform teams watch: quotas, database connections, resources, container status."""

from __future__ import annotations

from grafanalib import core

from airglow.dashboards import promql as q
from airglow.dashboards import variables
from airglow.dashboards.frame import dashboard, drilldown
from airglow.dashboards.panels import Link, Query, Section, Step, timeseries

D = ("deployment",)
NS = ("namespace",)
PERCENT_OF_LIMIT = (Step("green"), Step("orange", 0.8), Step("red", 0.95))


def scheduler() -> Section:
    heartbeats = (
        Query(q.heartbeats_per_minute(component, q.DEPLOYMENT, group=D), f"{{{{deployment}}}} {component}")
        for component in q.HEARTBEAT_COMPONENTS
    )
    return Section(
        "Scheduler",
        (
            timeseries("Heartbeats", *heartbeats, unit="cpm", width=8),
            timeseries(
                "Scheduler loop",
                *(
                    Query(
                        q.quantile(
                            p, "airflow_scheduler_scheduler_loop_duration_seconds", q.DEPLOYMENT, group=D
                        ),
                        f"{{{{deployment}}}} p{int(p * 100)}",
                    )
                    for p in (0.5, 0.95)
                ),
                unit="s",
                width=8,
            ),
            timeseries(
                "Critical section",
                Query(
                    q.quantile(
                        0.95, "airflow_scheduler_critical_section_duration_seconds", q.DEPLOYMENT, group=D
                    ),
                    "{{deployment}} p95 duration",
                ),
                Query(
                    q.quantile(
                        0.95,
                        "airflow_scheduler_critical_section_query_duration_seconds",
                        q.DEPLOYMENT,
                        group=D,
                    ),
                    "{{deployment}} p95 query",
                ),
                unit="s",
                width=5,
            ),
            timeseries(
                "Critical section busy",
                Query(
                    q.rate("airflow_scheduler_critical_section_busy_total", q.DEPLOYMENT, group=D),
                    "{{deployment}}",
                ),
                unit="ops",
                width=3,
                description="Loops that found another scheduler holding the lock.",
            ),
        ),
    )


def slots() -> Section:
    return Section(
        "Executor and pools",
        (
            timeseries(
                "Executor slots",
                *(
                    Query(
                        q.gauge(f"airflow_executor_{name}", q.DEPLOYMENT, group=D),
                        f"{{{{deployment}}}} {legend}",
                    )
                    for name, legend in (
                        ("open_slots", "open"),
                        ("queued_tasks", "queued"),
                        ("running_tasks", "running"),
                    )
                ),
                width=8,
            ),
            timeseries(
                "Pool slots",
                *(
                    Query(
                        q.gauge(
                            f"airflow_pool_{state}_slots", q.DEPLOYMENT, group=("deployment", "pool_name")
                        ),
                        f"{{{{deployment}}}} {{{{pool_name}}}} {state}",
                    )
                    for state in ("running", "queued", "open")
                ),
                width=8,
            ),
            timeseries(
                "Starving tasks",
                Query(
                    q.gauge("airflow_pool_starving_tasks", q.DEPLOYMENT, group=("deployment", "pool_name")),
                    "{{deployment}} {{pool_name}}",
                ),
                Query(
                    q.gauge("airflow_scheduler_tasks_starving", q.DEPLOYMENT, group=D),
                    "{{deployment}} all pools",
                ),
                width=8,
                description="Tasks that cannot be scheduled because their pool has no open slot.",
            ),
        ),
    )


def dag_runs() -> Section:
    duration = (
        Query(
            q.quantile(0.95, f"airflow_dagrun_duration_{state}_seconds", q.DEPLOYMENT, group=D),
            f"{{{{deployment}}}} p95 {state}",
        )
        for state in ("success", "failed")
    )
    return Section(
        "DAG runs",
        (
            timeseries(
                "DAG run duration", *duration, unit="s", width=8, links=(Link("DAGs", drilldown("dag")),)
            ),
            timeseries(
                "DAG runs finished",
                *(
                    Query(
                        q.per_minute(f"airflow_dagrun_duration_{state}_seconds_count", q.DEPLOYMENT, group=D),
                        f"{{{{deployment}}}} {state}",
                    )
                    for state in ("success", "failed")
                ),
                unit="cpm",
                width=8,
                stack=True,
            ),
            timeseries(
                "Schedule delay",
                Query(
                    q.quantile(0.95, "airflow_dagrun_schedule_delay_seconds", q.DEPLOYMENT, group=D),
                    "{{deployment}} p95",
                ),
                unit="s",
                width=8,
                description="From the run's logical date (data interval end) to its start.",
            ),
        ),
    )


def parsing() -> Section:
    return Section(
        "DAG parsing",
        (
            timeseries(
                "Total parse time",
                Query(
                    q.gauge(
                        "airflow_dag_processing_total_parse_time", q.DEPLOYMENT, group=D, aggregation="max"
                    ),
                    "{{deployment}}",
                ),
                unit="s",
                width=6,
            ),
            timeseries(
                "Import errors",
                Query(
                    q.gauge("airflow_dag_processing_import_errors", q.DEPLOYMENT, group=D, aggregation="max"),
                    "{{deployment}}",
                ),
                width=6,
                steps=(Step("green"), Step("red", 1)),
            ),
            timeseries(
                "DAG files",
                Query(
                    q.gauge("airflow_dagbag_size", q.DEPLOYMENT, group=D, aggregation="max"), "{{deployment}}"
                ),
                width=4,
            ),
            timeseries(
                "Slowest files (p95)",
                Query(
                    "topk(10, "
                    + q.quantile(
                        0.95,
                        "airflow_dag_processing_last_duration_seconds",
                        q.DEPLOYMENT,
                        group=("deployment", "file_name"),
                    )
                    + ")",
                    "{{deployment}} {{file_name}}",
                ),
                unit="s",
                width=8,
            ),
        ),
    )


def triggerer() -> Section:
    return Section(
        "Triggerer",
        (
            timeseries(
                "Triggers running",
                Query(
                    q.gauge("airflow_triggers_running", q.DEPLOYMENT, group=("deployment", "hostname")),
                    "{{deployment}} {{hostname}}",
                ),
                width=8,
            ),
            timeseries(
                "Capacity left",
                Query(
                    q.gauge(
                        "airflow_triggerer_capacity_left", q.DEPLOYMENT, group=("deployment", "hostname")
                    ),
                    "{{deployment}} {{hostname}}",
                ),
                width=8,
                steps=(Step("red"), Step("green", 1)),
            ),
            timeseries(
                "Trigger outcomes",
                *(
                    Query(
                        q.rate(f"airflow_triggers_{outcome}_total", q.DEPLOYMENT, group=D),
                        f"{{{{deployment}}}} {outcome}",
                    )
                    for outcome in ("succeeded", "failed", "blocked_main_thread")
                ),
                unit="ops",
                width=8,
            ),
        ),
    )


def quotas() -> Section:
    def used_over_hard(resources: str) -> Query:
        used = q.gauge(
            "kube_resourcequota", q.NAMESPACE, 'type="used"', resources, group=("namespace", "resource")
        )
        hard = q.gauge(
            "kube_resourcequota", q.NAMESPACE, 'type="hard"', resources, group=("namespace", "resource")
        )
        return Query(f"{used} / {hard}", "{{namespace}} {{resource}}")

    return Section(
        "Quotas",
        (
            timeseries(
                "Pods used / hard",
                used_over_hard('resource=~"pods|count/pods"'),
                unit="percentunit",
                width=8,
                steps=PERCENT_OF_LIMIT,
            ),
            timeseries(
                "CPU used / hard",
                used_over_hard('resource=~"(requests|limits)\\\\.cpu|cpu"'),
                unit="percentunit",
                width=8,
                steps=PERCENT_OF_LIMIT,
            ),
            timeseries(
                "Memory used / hard",
                used_over_hard('resource=~"(requests|limits)\\\\.memory|memory"'),
                unit="percentunit",
                width=8,
                steps=PERCENT_OF_LIMIT,
            ),
        ),
    )


def database() -> Section:
    return Section(
        "Database connections (PgBouncer)",
        (
            timeseries(
                "Server connections",
                Query(
                    q.gauge("pgbouncer_databases_current_connections", q.NAMESPACE, group=NS),
                    "{{namespace}} current",
                ),
                Query(
                    q.gauge("pgbouncer_databases_pool_size", q.NAMESPACE, group=NS), "{{namespace}} pool size"
                ),
                width=12,
            ),
            timeseries(
                "Clients",
                Query(
                    q.gauge("pgbouncer_pools_client_active_connections", q.NAMESPACE, group=NS),
                    "{{namespace}} active",
                ),
                Query(
                    q.gauge("pgbouncer_pools_client_waiting_connections", q.NAMESPACE, group=NS),
                    "{{namespace}} waiting",
                ),
                width=12,
                description="Waiting clients have sent a query and have no server connection yet.",
            ),
        ),
    )


def renamed_task_container(expr: str) -> str:
    """Task pods run their task in a container named ``base``; show it as "task pods"."""
    return f'label_replace({expr}, "container", "task pods", "container", "base")'


def resources() -> Section:
    containers = q.AIRFLOW_CONTAINERS
    group = ("namespace", "container")
    cpu_used = q.rate("container_cpu_usage_seconds_total", q.NAMESPACE, containers, group=group)
    cpu_limit = q.gauge(
        "kube_pod_container_resource_limits", q.NAMESPACE, containers, 'resource="cpu"', group=group
    )
    memory_used = q.gauge("container_memory_working_set_bytes", q.NAMESPACE, containers, group=group)
    memory_limit = q.gauge(
        "kube_pod_container_resource_limits", q.NAMESPACE, containers, 'resource="memory"', group=group
    )
    legend = "{{namespace}} {{container}}"
    return Section(
        "Resource utilization",
        (
            timeseries(
                "CPU / limit",
                Query(renamed_task_container(f"{cpu_used} / {cpu_limit}"), legend),
                unit="percentunit",
                width=12,
                steps=PERCENT_OF_LIMIT,
            ),
            timeseries(
                "Memory / limit",
                Query(renamed_task_container(f"{memory_used} / {memory_limit}"), legend),
                unit="percentunit",
                width=12,
                steps=PERCENT_OF_LIMIT,
            ),
        ),
    )


def container_status() -> Section:
    by_reason = ("namespace", "container", "reason")
    return Section(
        "Container status",
        (
            timeseries(
                "Core containers waiting",
                Query(
                    q.gauge(
                        "kube_pod_container_status_waiting_reason",
                        q.NAMESPACE,
                        q.CORE_CONTAINERS,
                        group=by_reason,
                    )
                    + " or "
                    + q.zero_per_namespace(q.CORE_CONTAINERS),
                    "{{namespace}} {{container}} {{reason}}",
                ),
                width=6,
                description="Containers of the core pods not running, by reason (0: all run).",
            ),
            timeseries(
                "Core containers last terminated",
                Query(
                    q.gauge(
                        "kube_pod_container_status_last_terminated_reason",
                        q.NAMESPACE,
                        q.CORE_CONTAINERS,
                        group=by_reason,
                    ),
                    "{{namespace}} {{container}} {{reason}}",
                ),
                width=6,
            ),
            timeseries(
                "Core container restarts",
                Query(
                    q.per_minute(
                        "kube_pod_container_status_restarts_total",
                        q.NAMESPACE,
                        q.CORE_CONTAINERS,
                        group=("namespace", "container"),
                    ),
                    "{{namespace}} {{container}}",
                ),
                unit="cpm",
                width=6,
            ),
            timeseries(
                "Task pods waiting / terminated",
                *(
                    Query(
                        q.gauge(
                            f"kube_pod_container_status_{state}_reason",
                            q.NAMESPACE,
                            q.TASK_CONTAINER,
                            group=("namespace", "reason"),
                        ),
                        f"{{{{namespace}}}} {state} {{{{reason}}}}",
                    )
                    for state in ("waiting", "terminated")
                ),
                width=6,
                stack=True,
                links=(Link("Task pods", drilldown("pods")),),
            ),
        ),
    )


def build() -> core.Dashboard:
    return dashboard(
        "deployment",
        "Airflow deployment",
        "Scheduler, executor, pools, DAG runs, parsing and triggerer of the selected deployments, with their "
        "quotas, database connections, resources and container status (Kubernetes namespace = deployment).",
        [
            scheduler(),
            slots(),
            dag_runs(),
            parsing(),
            triggerer(),
            quotas(),
            database(),
            resources(),
            container_status(),
        ],
        [variables.datasource(), variables.deployment(opens_on_all=False)],
    )
