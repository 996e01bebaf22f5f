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
# The scrape job of the bridges (manifests/monitoring: the job name, or the ServiceMonitor's service).
BRIDGE_JOB = 'job="airglow-bridge"'
# The bridge's counters of statsd lines it dropped.
DROP_COUNTERS = (
    "statsd_exporter_sample_errors_total",
    "statsd_exporter_udp_packet_drops_total",
    "airglow_bridge_udp_kernel_drops_total",
    "statsd_exporter_tcp_too_long_lines_total",
)


def matchers(*parts: str) -> str:
    """``{a, b}`` from label matchers, skipping empty ones; nothing when there are none."""
    given = [part for part in parts if part]
    return "{" + ", ".join(given) + "}" if given else ""


def by(labels: tuple[str, ...]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def rate(metric: str, *label_matchers: str, group: tuple[str, ...] = (), window: str = RATE_WINDOW) -> str:
    return f"sum{by(group)} (rate({metric}{matchers(*label_matchers)}[{window}]))"


def per_minute(metric: str, *label_matchers: str, group: tuple[str, ...] = ()) -> str:
    """Events per minute of a counter (unit ``cpm``): unlike an increase over the rate interval, the number
    does not change with the zoom."""
    return f"60 * {rate(metric, *label_matchers, group=group)}"


def gauge(metric: str, *label_matchers: str, group: tuple[str, ...] = (), aggregation: str = "sum") -> str:
    return f"{aggregation}{by(group)} ({metric}{matchers(*label_matchers)})"


def quantile(
    q: float, histogram: str, *label_matchers: str, group: tuple[str, ...] = (), window: str = RATE_WINDOW
) -> str:
    """The q-quantile of a bridge histogram (``<name>_bucket``), aggregated over ``group``."""
    buckets = rate(f"{histogram}_bucket", *label_matchers, group=("le", *group), window=window)
    return f"histogram_quantile({q}, {buckets})"


def zero_per_namespace(*container_matchers: str) -> str:
    """0 for each deployment's namespace that has such containers: a panel of what goes wrong shows a
    line at 0, not "No data", while nothing does."""
    return f"sum by (namespace) (0 * kube_pod_container_info{matchers(NAMESPACE, *container_matchers)})"


def heatmap_buckets(histogram: str, *label_matchers: str) -> str:
    """Observations per minute by bucket, cumulative as Prometheus keeps them (the heatmap de-accumulates)."""
    return per_minute(f"{histogram}_bucket", *label_matchers, group=("le",))


def heartbeats_per_minute(component: str, *label_matchers: str, group: tuple[str, ...] = ()) -> str:
    return per_minute(f"airflow_{component}_heartbeat_total", *label_matchers, group=group)


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


def dropped_lines_per_minute() -> str:
    """Lines dropped by every bridge, per minute; 0 when none was (one term per counter: a rate over a
    ``__name__`` regex would give series with equal label sets)."""
    return " + ".join(f"({per_minute(counter)} or vector(0))" for counter in DROP_COUNTERS)
