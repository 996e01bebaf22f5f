"""What kube-state-metrics, cAdvisor and the PgBouncer exporter would expose for the simulated fleet.

Names, labels and value conventions follow those exporters (kube-state-metrics v2: one series per phase or
reason with 0/1 values, limits in cores and bytes; cAdvisor: cumulative CPU seconds, working-set bytes;
prometheus-community/pgbouncer_exporter). PgBouncer's series carry ``namespace``, which Kubernetes service
discovery adds to a real exporter's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from airglow.dashboards.simulate.model import CorePod, Deployment, Fleet, TaskPod

GIB = 1024**3
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
CORE_LIMITS = {
    "scheduler": (2.0, 4 * GIB),
    "api-server": (1.0, 2 * GIB),
    "triggerer": (1.0, 2 * GIB),
    "dag-processor": (1.0, 2 * GIB),
}
TASK_LIMITS = (1.0, 2 * GIB)
QUOTA_HARD = {
    "pods": 200,
    "requests.cpu": 40,
    "requests.memory": 160 * GIB,
    "limits.cpu": 80,
    "limits.memory": 320 * GIB,
}


def render(families: Iterable[tuple[str, str, str, Iterable[tuple[dict[str, str], float]]]]) -> str:
    """Text exposition of (name, type, help, samples) families."""
    lines: list[str] = []
    for name, kind, help_text, samples in families:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            rendered = ",".join(f'{key}="{value_}"' for key, value_ in labels.items())
            lines.append(f"{name}{{{rendered}}} {value:.17g}")
    return "\n".join(lines) + "\n"


def pod_labels(namespace: str, pod: str, uid: str) -> dict[str, str]:
    return {"namespace": namespace, "pod": pod, "uid": uid}


def core_uid(pod: CorePod) -> str:
    return f"{pod.namespace}-{pod.name}"


def pods_of(deployment: Deployment) -> list[CorePod | TaskPod]:
    return [*deployment.core, *deployment.pods]


def all_pods(fleet: Fleet) -> Iterator[tuple[Deployment, CorePod | TaskPod]]:
    for deployment in fleet.deployments:
        for pod in pods_of(deployment):
            yield deployment, pod


def container_of(pod: CorePod | TaskPod) -> str:
    return pod.container if isinstance(pod, CorePod) else "base"


def identity(pod: CorePod | TaskPod) -> dict[str, str]:
    uid = core_uid(pod) if isinstance(pod, CorePod) else pod.uid
    return pod_labels(pod.namespace, pod.name, uid)


def with_container(pod: CorePod | TaskPod, **extra: str) -> dict[str, str]:
    return {**identity(pod), "container": container_of(pod), **extra}


def limits(pod: CorePod | TaskPod) -> tuple[float, float]:
    return CORE_LIMITS[pod.container] if isinstance(pod, CorePod) else TASK_LIMITS


def phase(pod: CorePod | TaskPod) -> str:
    return "Running" if isinstance(pod, CorePod) else pod.phase


def kube_state_metrics(fleet: Fleet) -> str:
    pods = [pod for _, pod in all_pods(fleet)]
    task_pods = [pod for pod in pods if isinstance(pod, TaskPod)]
    return render(
        [
            (
                "kube_pod_created",
                "gauge",
                "Unix creation timestamp",
                ((identity(p), p.created) for p in pods),
            ),
            (
                "kube_pod_status_phase",
                "gauge",
                "The pods current phase.",
                ((identity(p) | {"phase": name}, float(phase(p) == name)) for p in pods for name in PHASES),
            ),
            (
                "kube_pod_container_info",
                "gauge",
                "Information about a container in a pod.",
                ((with_container(p, image="apache/airflow:3.3.2"), 1.0) for p in pods),
            ),
            (
                "kube_pod_container_state_started",
                "gauge",
                "Start time in unix timestamp for a pod container.",
                ((with_container(p), p.started) for p in task_pods if p.started is not None),
            ),
            (
                "kube_pod_container_status_waiting_reason",
                "gauge",
                "Describes the reason the container is waiting.",
                ((with_container(p, reason=p.waiting_reason), 1.0) for p in pods if waiting(p)),
            ),
            (
                "kube_pod_container_status_terminated_reason",
                "gauge",
                "Describes the reason the container is terminated.",
                (
                    (with_container(p, reason=p.terminated_reason), 1.0)
                    for p in task_pods
                    if p.finished is not None
                ),
            ),
            (
                "kube_pod_container_status_last_terminated_reason",
                "gauge",
                "Describes the last reason the container was in terminated state.",
                (
                    (with_container(p, reason=p.last_terminated_reason), 1.0)
                    for p in pods
                    if isinstance(p, CorePod) and p.last_terminated_reason
                ),
            ),
            (
                "kube_pod_container_status_restarts_total",
                "counter",
                "The number of container restarts.",
                ((with_container(p), float(p.restarts)) for p in pods if isinstance(p, CorePod)),
            ),
            (
                "kube_pod_container_resource_limits",
                "gauge",
                "The number of requested limit resource by a container.",
                limit_samples(pods),
            ),
            ("kube_resourcequota", "gauge", "Information about resource quota.", quota_samples(fleet)),
        ]
    )


def waiting(pod: CorePod | TaskPod) -> bool:
    if isinstance(pod, CorePod):
        return bool(pod.waiting_reason)
    return pod.phase == "Pending"


def limit_samples(pods: list[CorePod | TaskPod]) -> Iterator[tuple[dict[str, str], float]]:
    for pod in pods:
        if phase(pod) in ("Succeeded", "Failed"):
            continue
        cpu, memory = limits(pod)
        yield with_container(pod, resource="cpu", unit="core"), cpu
        yield with_container(pod, resource="memory", unit="byte"), float(memory)


def quota_samples(fleet: Fleet) -> Iterator[tuple[dict[str, str], float]]:
    for deployment in fleet.deployments:
        live = [pod for pod in pods_of(deployment) if phase(pod) not in ("Succeeded", "Failed")]
        cpu = sum(limits(pod)[0] for pod in live)
        memory = sum(limits(pod)[1] for pod in live)
        used = {
            "pods": len(live),
            "requests.cpu": cpu / 2,
            "requests.memory": memory / 2,
            "limits.cpu": cpu,
            "limits.memory": memory,
        }
        for resource, hard in QUOTA_HARD.items():
            base = {"namespace": deployment.name, "resourcequota": "airflow", "resource": resource}
            yield base | {"type": "hard"}, float(hard)
            yield base | {"type": "used"}, float(used[resource])


def cadvisor(fleet: Fleet) -> str:
    running = [pod for _, pod in all_pods(fleet) if phase(pod) == "Running" and not waiting(pod)]
    return render(
        [
            (
                "container_cpu_usage_seconds_total",
                "counter",
                "Cumulative cpu time consumed in seconds.",
                ((with_container(p), p.cpu_seconds) for p in running),
            ),
            (
                "container_memory_working_set_bytes",
                "gauge",
                "Current working set in bytes.",
                ((with_container(p), working_set(p)) for p in running),
            ),
        ]
    )


def working_set(pod: CorePod | TaskPod) -> float:
    """A stable share of the limit per pod (from its name), so each container draws its own line."""
    share = 0.3 + (sum(map(ord, pod.name)) % 60) / 100
    return limits(pod)[1] * share


def pgbouncer(fleet: Fleet) -> str:
    def per_deployment(value) -> Iterator[tuple[dict[str, str], float]]:
        for deployment in fleet.deployments:
            yield (
                {"namespace": deployment.name, "database": "airflow", "user": "airflow"},
                float(value(deployment)),
            )

    def active(deployment: Deployment) -> int:
        return 10 + sum(pod.phase == "Running" for pod in deployment.pods)

    return render(
        [
            ("pgbouncer_up", "gauge", "The pgbouncer scrape succeeded", per_deployment(lambda d: 1)),
            (
                "pgbouncer_databases_current_connections",
                "gauge",
                "Current number of connections for this database",
                per_deployment(lambda d: min(active(d), 40)),
            ),
            (
                "pgbouncer_databases_pool_size",
                "gauge",
                "Maximum number of server connections",
                per_deployment(lambda d: 40),
            ),
            (
                "pgbouncer_pools_client_active_connections",
                "gauge",
                "Client connections linked to server connection and able to process queries",
                per_deployment(active),
            ),
            (
                "pgbouncer_pools_client_waiting_connections",
                "gauge",
                "Client connections waiting on a server connection",
                per_deployment(lambda d: max(active(d) - 40, 0)),
            ),
            (
                "pgbouncer_config_max_client_connections",
                "gauge",
                "Config maximum number of client connections",
                per_deployment(lambda d: 1000),
            ),
        ]
    )


EXPOSITIONS = {"kube-state-metrics": kube_state_metrics, "cadvisor": cadvisor, "pgbouncer": pgbouncer}
