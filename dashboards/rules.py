"""Prometheus recording and alerting rules for the fleet, as a rules file and as a PrometheusRule object.

Every alert here has ``promtool test rules`` cases (tests/dashboards/rules/airglow-rules.test.yml) that show it firing
when it should and staying silent when it should not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airglow.dashboards import promql as q

# How long a heartbeat may be missing before its alert fires; a stalled scheduler stops all scheduling.
HEARTBEAT_WAIT = {"scheduler": "2m", "triggerer": "5m", "dag_processor": "5m"}


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str

    def as_dict(self) -> dict[str, Any]:
        return {"record": self.record, "expr": self.expr}


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    summary: str
    description: str
    severity: str = "warning"
    for_: str = "0m"

    def as_dict(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_ != "0m":
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity}
        rule["annotations"] = {"summary": self.summary, "description": self.description}
        return rule


def recordings() -> list[Recording]:
    per_pod = "airglow:task_pod_start_latency_seconds"
    return [
        # One value per task pod while it exists; the 30-minute percentiles below keep pods already deleted.
        Recording(
            per_pod,
            f"max by (namespace, pod) (kube_pod_container_state_started{{{q.TASK_CONTAINER}}})"
            " - on (namespace, pod) max by (namespace, pod) (kube_pod_created)",
        ),
        *(
            Recording(
                f"{per_pod}:p{int(q * 100)}_30m",
                f"quantile by (namespace) ({q}, max_over_time({per_pod}[30m]))",
            )
            for q in (0.5, 0.95)
        ),
        Recording(
            "deployment:airflow_ti_finished:increase15m",
            'sum by (deployment) (increase(airflow_ti_finish_total{state=~"success|failed"}[15m]))',
        ),
        Recording(
            "deployment:airflow_ti_failure:ratio15m",
            'sum by (deployment) (increase(airflow_ti_finish_total{state="failed"}[15m]))'
            " / deployment:airflow_ti_finished:increase15m",
        ),
    ]


def heartbeat_alert(metric: str) -> Alert:
    series = f"airflow_{metric}_heartbeat_total"
    component = "".join(part.title() for part in metric.split("_"))
    wait = HEARTBEAT_WAIT[metric]
    return Alert(
        f"Airflow{component}HeartbeatMissing",
        f"(sum by (deployment) (rate({series}[2m])) == 0)"
        f" or (group by (deployment) (max_over_time({series}[1h]))"
        f" unless on (deployment) group by (deployment) ({series}))",
        f"{component} of {{{{ $labels.deployment }}}} stopped heartbeating",
        f"No {metric} heartbeat of deployment {{{{ $labels.deployment }}}} reached the bridge for {wait}: "
        "the component is down, stuck, or cannot send statsd.",
        severity="critical",
        for_=wait,
    )


def task_alerts() -> list[Alert]:
    return [
        Alert(
            "AirflowTaskFailureRatioHigh",
            "deployment:airflow_ti_failure:ratio15m > 0.2 and deployment:airflow_ti_finished:increase15m >= 10",
            "{{ $labels.deployment }}: {{ $value | humanizePercentage }} of tasks failed",
            "More than 20% of the task instances that finished in the last 15 minutes failed (10 at least).",
            for_="10m",
        ),
        Alert(
            "AirflowQueueNotDraining",
            "min by (deployment) (min_over_time(airflow_executor_queued_tasks[15m])) > 0"
            " and on (deployment) min by (deployment) (min_over_time(airflow_executor_open_slots[15m])) > 0",
            "{{ $labels.deployment }}: queued tasks do not start although slots are free",
            "The executor queue was never empty for 15 minutes while the executor had open slots the whole "
            "time: pods are not being created or not starting.",
            for_="5m",
        ),
        Alert(
            "AirflowPoolStarvingTasks",
            "max by (deployment, pool_name) (airflow_pool_starving_tasks) > 0",
            "{{ $labels.deployment }}: pool {{ $labels.pool_name }} starves {{ $value }} tasks",
            "Tasks cannot be scheduled because pool {{ $labels.pool_name }} has no open slot.",
            for_="15m",
        ),
        Alert(
            "AirflowDagImportErrors",
            "max by (deployment) (airflow_dag_processing_import_errors) > 0",
            "{{ $labels.deployment }}: {{ $value }} DAG files fail to import",
            "The dag-processor reports import errors; the DAGs in those files are not updated.",
            for_="5m",
        ),
        Alert(
            "AirflowTaskPodPendingTooLong",
            f"({q.pending_task_pod_age()}) > 600",
            "Task pod {{ $labels.namespace }}/{{ $labels.pod }} pending for {{ $value | humanizeDuration }}",
            "A task pod has been Pending for more than 10 minutes: unschedulable, quota, image pull or volume.",
            for_="1m",
        ),
        Alert(
            "AirflowTaskPodOOMKilled",
            "max by (namespace, pod) (max_over_time(kube_pod_container_status_terminated_reason"
            f'{{{q.TASK_CONTAINER}, reason="OOMKilled"}}[10m])) == 1',
            "Task pod {{ $labels.namespace }}/{{ $labels.pod }} was OOM-killed",
            "The task container hit its memory limit; raise the limit in the pod override or the pod template.",
        ),
    ]


def bridge_alerts() -> list[Alert]:
    # One "or" per counter: rate() over a {__name__=~...} selector would give series with equal label sets.
    dropped = " or ".join(
        f"(sum by (instance, job) (rate({counter}[5m])) > 0)"
        for counter in (
            "statsd_exporter_sample_errors_total",
            "statsd_exporter_udp_packet_drops_total",
            "airglow_bridge_udp_kernel_drops_total",
            "statsd_exporter_tcp_too_long_lines_total",
        )
    )
    return [
        Alert(
            "AirglowBridgeDroppingLines",
            dropped,
            "Bridge {{ $labels.instance }} is dropping statsd lines",
            "Malformed lines, a full UDP queue or receive buffer (raise --statsd.read-buffer) or over-long TCP "
            "lines; see statsd_exporter_sample_errors_total by reason on the bridge dashboard.",
            for_="10m",
        ),
        Alert(
            "AirglowBridgeSeriesLimitHit",
            "sum by (instance, job, limit) (increase(airglow_bridge_series_dropped_total[5m])) > 0",
            "Bridge {{ $labels.instance }} drops new series at its {{ $labels.limit }} limit",
            "A label is exploding (see airglow_bridge_series_dropped_total by metric_name); metrics of new "
            "series are lost until old ones expire or the limit is raised.",
        ),
        Alert(
            "AirglowBridgeSeriesNearLimit",
            "max by (instance, job) (airglow_bridge_series)"
            ' / max by (instance, job) (airglow_bridge_series_limit{scope="global"}) > 0.9',
            "Bridge {{ $labels.instance }} holds {{ $value | humanizePercentage }} of its series limit",
            "New series will be dropped once the limit is reached.",
            for_="15m",
        ),
    ]


def groups() -> list[dict[str, Any]]:
    airflow_alerts = [heartbeat_alert(component) for component in q.HEARTBEAT_COMPONENTS] + task_alerts()
    return [
        {"name": "airglow.recording", "rules": [rule.as_dict() for rule in recordings()]},
        {"name": "airglow.airflow", "rules": [rule.as_dict() for rule in airflow_alerts]},
        {"name": "airglow.bridge", "rules": [rule.as_dict() for rule in bridge_alerts()]},
    ]


def rules_file() -> dict[str, Any]:
    return {"groups": groups()}


def prometheus_rule(name: str = "airglow", namespace: str = "monitoring") -> dict[str, Any]:
    """The same groups as a Prometheus Operator ``PrometheusRule``."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "airglow"},
        },
        "spec": rules_file(),
    }
