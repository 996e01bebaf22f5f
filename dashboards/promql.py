"""PromQL fragments shared by the dashboards: the variable matchers and the histogram/rate shapes."""

from __future__ import annotations

DEPLOYMENT = 'deployment=~"$deployment"'
# Kubernetes objects carry the deployment as their namespace (one Airflow deployment per namespace).
NAMESPACE = 'namespace=~"$deployment"'
DAG = 'dag_id=~"$dag_id"'
TASK_CONTAINER = 'container="base"'
CORE_CONTAINERS = 'container=~"scheduler|api-server|webserver|triggerer|dag-processor"'
AIRFLOW_CONTAINERS = 'container=~"scheduler|api-server|webserver|triggerer|dag-processor|base"'
RATE_WINDOW = "$__rate_interval"
# Airflow components that heartbeat, as named in their metrics (airflow_<component>_heartbeat_total).
HEARTBEAT_COMPONENTS = ("scheduler", "triggerer", "dag_processor")


def matchers(*parts: str) -> str:
    """``{a, b}`` from label matchers, skipping empty ones; nothing when there are none."""
    given = [part for part in parts if part]
    return "{" + ", ".join(given) + "}" if given else ""


def by(labels: tuple[str, ...]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def rate(metric: str, *label_matchers: str, group: tuple[str, ...] = (), window: str = RATE_WINDOW) -> str:
    return f"sum{by(group)} (rate({metric}{matchers(*label_matchers)}[{window}]))"


def increase(
    metric: str, *label_matchers: str, group: tuple[str, ...] = (), window: str = RATE_WINDOW
) -> str:
    return f"sum{by(group)} (increase({metric}{matchers(*label_matchers)}[{window}]))"


def gauge(metric: str, *label_matchers: str, group: tuple[str, ...] = (), aggregation: str = "sum") -> str:
    return f"{aggregation}{by(group)} ({metric}{matchers(*label_matchers)})"


def quantile(
    q: float, histogram: str, *label_matchers: str, group: tuple[str, ...] = (), window: str = RATE_WINDOW
) -> str:
    """The q-quantile of a bridge histogram (``<name>_bucket``), aggregated over ``group``."""
    buckets = rate(f"{histogram}_bucket", *label_matchers, group=("le", *group), window=window)
    return f"histogram_quantile({q}, {buckets})"


def heatmap_buckets(histogram: str, *label_matchers: str) -> str:
    return increase(f"{histogram}_bucket", *label_matchers, group=("le",))


def heartbeats_per_minute(component: str, *label_matchers: str, group: tuple[str, ...] = ()) -> str:
    return f"60 * {rate(f'airflow_{component}_heartbeat_total', *label_matchers, group=group)}"


def pending_task_pods(*namespace_matchers: str) -> str:
    """One series per task pod that is Pending now, labelled (namespace, pod)."""
    phase = matchers(*namespace_matchers, 'phase="Pending"')
    task = matchers(*namespace_matchers, TASK_CONTAINER)
    return (
        f"max by (namespace, pod) (kube_pod_status_phase{phase}) == 1"
        f" and on (namespace, pod) max by (namespace, pod) (kube_pod_container_info{task})"
    )


def pending_task_pod_age(*namespace_matchers: str) -> str:
    """Seconds since each Pending task pod was created, labelled (namespace, pod)."""
    created = f"max by (namespace, pod) (kube_pod_created{matchers(*namespace_matchers)})"
    return f"(time() - {created}) and on (namespace, pod) ({pending_task_pods(*namespace_matchers)})"
