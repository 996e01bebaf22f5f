"""Task pods: how many wait, how long they take to start, why they wait, OOM kills, pod-creation calls."""

from __future__ import annotations

from grafanalib import core

from airglow.dashboards import promql as q
from airglow.dashboards import variables
from airglow.dashboards.frame import dashboard
from airglow.dashboards.panels import Query, Section, Step, timeseries

TASK_POD = f"{q.NAMESPACE}, {q.TASK_CONTAINER}"


def pending() -> Section:
    count = f"count by (namespace) ({q.pending_task_pods(q.NAMESPACE)})"
    age = f"max by (namespace) ({q.pending_task_pod_age(q.NAMESPACE)})"
    return Section(
        "Pending task pods",
        (
            timeseries(
                "Pending task pods",
                Query(count, "{{namespace}}"),
                width=12,
                steps=(Step("green"), Step("orange", 10), Step("red", 50)),
            ),
            timeseries(
                "Oldest pending task pod",
                Query(age, "{{namespace}}"),
                unit="s",
                width=12,
                steps=(Step("green"), Step("orange", 120), Step("red", 600)),
            ),
        ),
    )


def start_latency() -> Section:
    return Section(
        "Start latency",
        (
            timeseries(
                "Task pod start (kube-state-metrics)",
                *(
                    Query(
                        f"max by (namespace) (airglow:task_pod_start_latency_seconds:{p}_30m{{{q.NAMESPACE}}})",
                        f"{{{{namespace}}}} {p}",
                    )
                    for p in ("p50", "p95")
                ),
                unit="s",
                width=12,
                description="Pod created → task container started, per pod, kept by a recording rule so that deleted "
                "task pods still count; percentiles over 30 min.",
            ),
            timeseries(
                "Queued → running (Airflow)",
                *(
                    Query(
                        q.quantile(
                            p, "airflow_task_queued_duration_seconds", q.DEPLOYMENT, group=("deployment",)
                        ),
                        f"{{{{deployment}}}} p{int(p * 100)}",
                    )
                    for p in (0.5, 0.95)
                ),
                unit="s",
                width=12,
                description="task.queued_duration from Airflow 2 (Airflow 3 does not send it yet, apache/airflow#63503).",
            ),
        ),
    )


def failures() -> Section:
    waiting = q.gauge("kube_pod_container_status_waiting_reason", TASK_POD, group=("namespace", "reason"))
    oom = (
        f"count by (namespace) (max_over_time(kube_pod_container_status_terminated_reason"
        f'{{{TASK_POD}, reason="OOMKilled"}}[{q.RATE_WINDOW}]) == 1)'
    )
    return Section(
        "Why task pods wait or die",
        (
            timeseries(
                "Waiting reasons",
                Query(waiting, "{{namespace}} {{reason}}"),
                width=12,
                stack=True,
                description="ContainerCreating, ImagePullBackOff, ErrImagePull, CreateContainerConfigError, …",
            ),
            timeseries(
                "OOM-killed task pods",
                Query(oom, "{{namespace}}"),
                width=12,
                steps=(Step("green"), Step("red", 1)),
            ),
        ),
    )


def pod_creation() -> Section:
    return Section(
        "Pod creation (KubernetesExecutor)",
        (
            timeseries(
                "create_namespaced_pod latency",
                *(
                    Query(
                        q.quantile(
                            p,
                            "airflow_kubernetes_executor_pod_creation_seconds",
                            q.DEPLOYMENT,
                            group=("deployment",),
                        ),
                        f"{{{{deployment}}}} p{int(p * 100)}",
                    )
                    for p in (0.5, 0.95)
                ),
                unit="s",
                width=12,
            ),
            timeseries(
                "create_namespaced_pod status",
                Query(
                    q.rate(
                        "airflow_kubernetes_executor_pod_creation_status_total",
                        q.DEPLOYMENT,
                        group=("deployment", "status"),
                    ),
                    "{{deployment}} {{status}}",
                ),
                unit="ops",
                width=12,
                stack=True,
                description="HTTP status of each pod creation call (403 quota exceeded, 409 conflict, 422 invalid …).",
            ),
        ),
    )


def build() -> core.Dashboard:
    return dashboard(
        "pods",
        "Airflow task pods",
        "Pod-per-task health: pending pods, start latency, waiting reasons, OOM kills and pod creation calls.",
        [pending(), start_latency(), failures(), pod_creation()],
        [variables.datasource(), variables.deployment()],
    )
