"""Prometheus recording and alerting rules for the fleet, as a rules file and as a PrometheusRule object.

Every alert here has ``promtool test rules`` cases (tests/dashboards/rules/airglow-rules.test.yml) that show it firing
when it should and staying silent when it should not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airglow.dashboards import health
from airglow.dashboards import promql as q

# How long a heartbeat may be missing before its alert fires; a stalled scheduler stops all scheduling.
HEARTBEAT_WAIT = {"scheduler": "2m", "triggerer": "5m", "dag_processor": "5m"}
# Where runbook_url points when the rules are generated without --runbook-url (the repository's docs).
RUNBOOKS = "docs/runbooks"
# How many pods an alert's description lists.
LISTED_PODS = 10

# What an alert is derived from; an Alertmanager inhibit rule silences the statsd-derived alerts while a
# bridge is down (docs/alertmanager-inhibit.yml).
STATSD, KUBERNETES, BRIDGE = "statsd", "kubernetes", "bridge"
# The deployment label of alerts about the bridge, which serves the whole fleet.
FLEET = "fleet"


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str

    def as_dict(self) -> dict[str, Any]:
        return {"record": self.record, "expr": self.expr}


@dataclass(frozen=True)
class Alert:
    """An alerting rule; ``signal`` says what it is derived from; its page in docs/runbooks is named after
    it, or ``runbook`` (the alerts of one kind for several components share one)."""

    name: str
    expr: str
    summary: str
    description: str
    signal: str
    runbook: str = ""  # its page's name when not the alert's
    severity: str = "warning"
    for_: str = "0m"
    deployment: str = ""  # a fixed deployment label (the bridge's alerts); else the expression's

    def as_dict(self, runbooks: str = RUNBOOKS) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_ != "0m":
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity, "signal": self.signal}
        if self.deployment:
            rule["labels"]["deployment"] = self.deployment
        rule["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": f"{runbooks}/{self.runbook or self.name}.md",
        }
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


def health_recordings() -> list[Recording]:
    return [Recording(record, expr) for record, expr in health.recordings()]


def listed_pods(pods_expr: str) -> str:
    """A template that lists the pods (up to LISTED_PODS) ``pods_expr`` finds in the alert's deployment;
    ``pods_expr`` selects by ``namespace="%s"`` and returns one series per pod."""
    query = f"topk({LISTED_PODS}, {pods_expr})".replace('"', '\\"')
    return (
        f'{{{{ range printf "{query}" $labels.deployment | query | sortByLabel "pod" }}}}'
        "{{ .Labels.pod }} {{ end }}"
    )


def heartbeat_alerts(metric: str) -> list[Alert]:
    series = f"airflow_{metric}_heartbeat_total"
    component = "".join(part.title() for part in metric.split("_"))
    wait = HEARTBEAT_WAIT[metric]
    ratio = f"{health.PREFIX}:{metric}_heartbeat_ratio"
    return [
        Alert(
            f"Airflow{component}HeartbeatMissing",
            f"(sum by (deployment) (rate({series}[2m])) == 0)"
            f" or (group by (deployment) (max_over_time({series}[1h]))"
            f" unless on (deployment) group by (deployment) ({series}))",
            f"{component} of {{{{ $labels.deployment }}}} stopped heartbeating",
            f"No {metric} heartbeat of deployment {{{{ $labels.deployment }}}} reached the bridge for {wait}: "
            "the component is down, stuck, or cannot send statsd.",
            STATSD,
            runbook="AirflowHeartbeatMissing",
            severity="critical",
            for_=wait,
        ),
        Alert(
            f"Airflow{component}HeartbeatDegraded",
            f"{ratio} < {health.HEARTBEAT_TROUBLE} and {ratio} > 0",
            f"{component} of {{{{ $labels.deployment }}}} heartbeats at {{{{ $value | humanizePercentage }}}}"
            " of its norm",
            f"The {metric} of deployment {{{{ $labels.deployment }}}} sent less than half its usual heartbeats "
            "over the last 10 minutes (its norm: the higher of its own daily median and the fleet's): it "
            "restarts, crash-loops or stalls between beats.",
            STATSD,
            runbook="AirflowHeartbeatDegraded",
            for_="15m",
        ),
    ]


def p95(histogram: str, window: str, *group: str) -> str:
    buckets = f"sum by ({', '.join((*group, 'le'))}) (rate({histogram}_bucket[{window}]))"
    return f"histogram_quantile(0.95, {buckets})"


def task_alerts() -> list[Alert]:
    queued = "airflow_executor_queued_tasks"
    return [
        Alert(
            "AirflowTaskFailureRatioHigh",
            "deployment:airflow_ti_failure:ratio15m > 0.2 and deployment:airflow_ti_finished:increase15m >= 10",
            "{{ $labels.deployment }}: {{ $value | humanizePercentage }} of tasks failed",
            "More than 20% of the task instances that finished in the last 15 minutes failed (10 at least).",
            STATSD,
            for_="10m",
        ),
        Alert(
            "AirflowQueueNotDraining",
            f"{health.PREFIX}:queue_stuck >= 1",
            "{{ $labels.deployment }}: {{ $value }} tasks queued and none starting",
            "Tasks stayed queued for 15 minutes while not one task instance started: pods are not being "
            "created or not starting.",
            STATSD,
            for_="5m",
        ),
        Alert(
            "AirflowTaskBacklogGrowing",
            f"min by (deployment) (min_over_time({queued}[30m])) >= 10"
            f" and sum by (deployment) ({queued}) > sum by (deployment) ({queued} offset 30m)",
            "{{ $labels.deployment }}: a backlog of {{ $value }} queued tasks that keeps growing",
            "At least 10 tasks were queued at every moment of the last 30 minutes, and more are queued now "
            "than 30 minutes ago: tasks arrive faster than the executor starts them.",
            STATSD,
            for_="15m",
        ),
        Alert(
            "AirflowTaskQueuedTooLong",
            f"{p95('airflow_task_queued_duration_seconds', '15m', 'deployment')} > 600",
            "{{ $labels.deployment }}: tasks wait {{ $value | humanizeDuration }} in the queue (p95)",
            "95% of the task instances that left the queue in the last 15 minutes waited up to this long "
            "between queued and running (Airflow 2 sends task.queued_duration; Airflow 3 does not yet).",
            STATSD,
            for_="10m",
        ),
        Alert(
            "AirflowPoolStarvingTasks",
            "max by (deployment, pool_name) (airflow_pool_starving_tasks) > 0",
            "{{ $labels.deployment }}: pool {{ $labels.pool_name }} starves {{ $value }} tasks",
            "Tasks cannot be scheduled because pool {{ $labels.pool_name }} has no open slot.",
            STATSD,
            for_="15m",
        ),
        Alert(
            "AirflowDagImportErrors",
            "max by (deployment) (airflow_dag_processing_import_errors) > 0",
            "{{ $labels.deployment }}: {{ $value }} DAG files fail to import",
            "The dag-processor reports import errors; the DAGs in those files are not updated.",
            STATSD,
            for_="5m",
        ),
        Alert(
            "AirflowDagFileSlow",
            "max by (deployment) ("
            f"{p95('airflow_dag_processing_last_duration_seconds', '30m', 'deployment', 'file_name')}) > 30",
            "{{ $labels.deployment }}: a DAG file takes {{ $value | humanizeDuration }} to parse (p95)",
            "A DAG file of deployment {{ $labels.deployment }} took more than 30 s to parse over the last 30 "
            "minutes, near dag_file_processor_timeout (50 s by default): the slowest files are on the DAG "
            "parsing row of the deployment dashboard.",
            STATSD,
            for_="15m",
        ),
        Alert(
            "AirflowZombieTasks",
            "(sum by (deployment) (increase(airflow_task_instances_without_heartbeats_killed_total[15m]))"
            " or sum by (deployment) (increase(airflow_zombies_killed_total[15m]))) > 0",
            "{{ $labels.deployment }}: {{ $value }} tasks killed for missing heartbeats",
            "The scheduler killed task instances whose task stopped heartbeating (zombies) in the last 15 "
            "minutes: their pods died without telling Airflow.",
            STATSD,
        ),
        Alert(
            "AirflowDeadlineMissed",
            "sum by (deployment) (increase(airflow_deadline_alerts_deadline_missed_total[15m])) > 0",
            "{{ $labels.deployment }}: {{ $value }} DAG run deadlines missed",
            "DAG runs of deployment {{ $labels.deployment }} missed the deadline their DAG sets "
            "(Airflow 3.1+ deadline alerts) in the last 15 minutes.",
            STATSD,
        ),
    ]


def scheduler_alerts() -> list[Alert]:
    return [
        Alert(
            "AirflowSchedulerLoopSlow",
            f"{p95('airflow_scheduler_scheduler_loop_duration_seconds', '10m', 'deployment')} > 30",
            "{{ $labels.deployment }}: a scheduler loop takes {{ $value | humanizeDuration }} (p95)",
            "The scheduler's loop is slow: tasks are scheduled and queued late. Usually the database, or too "
            "many DAG runs per loop.",
            STATSD,
            for_="10m",
        ),
        Alert(
            "AirflowSchedulerCriticalSectionSlow",
            f"{p95('airflow_scheduler_critical_section_duration_seconds', '10m', 'deployment')} > 10",
            "{{ $labels.deployment }}: the scheduler's critical section takes {{ $value | humanizeDuration }}"
            " (p95)",
            "The section that queues task instances under a database lock is slow: every scheduler waits "
            "for it, and tasks start late.",
            STATSD,
            for_="10m",
        ),
        Alert(
            "AirflowPodCreationErrors",
            'sum by (deployment, status) (rate(airflow_kubernetes_executor_pod_creation_status_total{status!~"2.."}[10m]))'
            " > 0",
            "{{ $labels.deployment }}: the KubernetesExecutor fails to create pods (HTTP {{ $labels.status }})",
            "Calls to create task pods are refused by the Kubernetes API (403: quota or RBAC, 409: name "
            "conflict, 422: invalid pod spec): the tasks stay queued or fail.",
            STATSD,
            for_="5m",
        ),
    ]


def task_pod_alerts() -> list[Alert]:
    """One alert per deployment (its namespace), the pods named in the description."""
    in_namespace = 'namespace="%[1]s"'  # printf's first argument, however often it is used
    return [
        Alert(
            "AirflowTaskPodPendingTooLong",
            f"{health.per_deployment(health.pods_pending_longer(600))} > 0",
            "{{ $labels.deployment }}: {{ $value }} task pods pending for more than 10 minutes",
            "Pending for more than 10 minutes (unschedulable, quota, image pull or volume): "
            + listed_pods(health.pods_pending_longer(600, in_namespace)),
            KUBERNETES,
            for_="1m",
        ),
        Alert(
            "AirflowTaskPodOOMKilled",
            f"{health.per_deployment(health.oom_killed_pods('10m'))} > 0",
            "{{ $labels.deployment }}: {{ $value }} task pods OOM-killed",
            "Task containers hit their memory limit in the last 10 minutes; raise the limit in the pod "
            "override or the pod template. Pods: " + listed_pods(health.oom_killed_pods("10m", in_namespace)),
            KUBERNETES,
        ),
        Alert(
            "AirflowTaskPodsCannotStart",
            f"{health.per_deployment(health.unstartable_pods())} > 0",
            "{{ $labels.deployment }}: {{ $value }} task pods cannot start",
            "Task pods wait on an image pull error or a bad container config and will not start by "
            "themselves. Pods: " + listed_pods(health.unstartable_pods(in_namespace)),
            KUBERNETES,
            for_="5m",
        ),
    ]


def bridge_alerts() -> list[Alert]:
    # One "or" per counter: rate() over a {__name__=~...} selector would give series with equal label sets.
    dropped = " or ".join(
        f"(sum by (instance, job) (rate({counter}[5m])) > 0)" for counter in q.DROP_COUNTERS
    )
    return [
        Alert(
            "AirglowBridgeDown",
            f"(up{{{q.BRIDGE_JOB}}} == 0) or absent(up{{{q.BRIDGE_JOB}}})",
            "Bridge {{ $labels.instance }} is down",
            "Prometheus cannot scrape the bridge (or finds none): the Airflow metrics behind it are missing, "
            "and the alerts derived from them are inhibited while it is down.",
            BRIDGE,
            severity="critical",
            for_="2m",
            deployment=FLEET,
        ),
        Alert(
            "AirglowBridgeDroppingLines",
            dropped,
            "Bridge {{ $labels.instance }} is dropping statsd lines",
            "Malformed lines, a full UDP queue or receive buffer (raise --statsd.read-buffer) or over-long TCP "
            "lines; see statsd_exporter_sample_errors_total by reason on the bridge dashboard.",
            BRIDGE,
            for_="10m",
            deployment=FLEET,
        ),
        Alert(
            "AirglowBridgeSeriesLimitHit",
            "sum by (instance, job, limit) (increase(airglow_bridge_series_dropped_total[5m])) > 0",
            "Bridge {{ $labels.instance }} drops new series at its {{ $labels.limit }} limit",
            "A label is exploding (see airglow_bridge_series_dropped_total by metric_name); metrics of new "
            "series are lost until old ones expire or the limit is raised.",
            BRIDGE,
            deployment=FLEET,
        ),
        Alert(
            "AirglowBridgeSeriesNearLimit",
            "max by (instance, job) (airglow_bridge_series)"
            ' / max by (instance, job) (airglow_bridge_series_limit{scope="global"}) > 0.9',
            "Bridge {{ $labels.instance }} holds {{ $value | humanizePercentage }} of its series limit",
            "New series will be dropped once the limit is reached.",
            BRIDGE,
            for_="15m",
            deployment=FLEET,
        ),
    ]


def alerts() -> list[Alert]:
    heartbeats = [alert for component in q.HEARTBEAT_COMPONENTS for alert in heartbeat_alerts(component)]
    return [*heartbeats, *task_alerts(), *scheduler_alerts(), *task_pod_alerts(), *bridge_alerts()]


def groups(runbooks: str = RUNBOOKS) -> list[dict[str, Any]]:
    """The rule groups; ``runbooks`` is the URL (or path) the runbook pages are served at."""
    recorded = {"airglow.recording": recordings(), "airglow.health": health_recordings()}
    alerting = {
        "airglow.airflow": STATSD,
        "airglow.kubernetes": KUBERNETES,
        "airglow.bridge": BRIDGE,
    }
    return [
        *({"name": name, "rules": [rule.as_dict() for rule in rules]} for name, rules in recorded.items()),
        *(
            {"name": name, "rules": [alert.as_dict(runbooks) for alert in alerts() if alert.signal == signal]}
            for name, signal in alerting.items()
        ),
    ]


def rules_file(runbooks: str = RUNBOOKS) -> dict[str, Any]:
    return {"groups": groups(runbooks)}


def inhibit_rules() -> dict[str, Any]:
    """The Alertmanager inhibit rule of a bridge outage: while any bridge is down, the alerts derived from
    statsd stay quiet (they would only repeat that their numbers are missing). Merge it into the
    Alertmanager configuration's ``inhibit_rules``."""
    return {
        "inhibit_rules": [
            {
                "source_matchers": ['alertname="AirglowBridgeDown"'],
                "target_matchers": [f'signal="{STATSD}"'],
            }
        ]
    }


def prometheus_rule(
    name: str = "airglow", namespace: str = "monitoring", runbooks: str = RUNBOOKS
) -> dict[str, Any]:
    """The same groups as a Prometheus Operator ``PrometheusRule``."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "airglow"},
        },
        "spec": rules_file(runbooks),
    }
