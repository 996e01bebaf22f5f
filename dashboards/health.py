"""The health of each deployment, one concern at a time: what the fleet overview shows and sorts by.

Each concern is a value per deployment, kept by a recording rule (so the overview reads a few hundred
ready series however large the fleet), with two thresholds: ``warn`` (worth a look, orange) and ``trouble``
(red). The thresholds mean trouble, not busyness: a busy deployment with a long queue that drains is green.
The deployment's score is the sum of its concerns' levels (1 orange, 2 red); the overview sorts by it.
"""

from __future__ import annotations

from dataclasses import dataclass

from airglow.dashboards import promql as q

PREFIX = "deployment:airglow_health"
SCORE = f"{PREFIX}:score"
# A heartbeat rate below this share of its norm is degraded; 0 is stopped.
HEARTBEAT_WARN, HEARTBEAT_TROUBLE = 0.7, 0.5
# Task pod waiting reasons that mean the pod will not start by itself.
POD_START_ERRORS = (
    "ErrImagePull|ImagePullBackOff|InvalidImageName|CreateContainerConfigError|CreateContainerError"
)
# Fewer finished task instances than this in 15 minutes say nothing about a failure ratio.
FAILURE_RATIO_MIN_TASKS = 20


@dataclass(frozen=True)
class Concern:
    """One column of the overview: ``expr`` gives a value per deployment (``deployment`` label)."""

    name: str
    title: str
    expr: str
    warn: float
    trouble: float
    unit: str = "short"
    low_is_bad: bool = False
    # Which deployments get a 0 when ``expr`` has nothing for them: those whose Airflow reports ("airflow"),
    # those kube-state-metrics sees pods of ("kubernetes"), or none ("": no value is not a good value).
    zero_for: str = ""
    description: str = ""

    @property
    def record(self) -> str:
        return f"{PREFIX}:{self.name}"

    def level(self) -> str:
        """0, 1 (warn) or 2 (trouble) per deployment, from the recorded value."""
        compare = "<" if self.low_is_bad else ">="
        return f"({self.record} {compare} bool {self.warn}) + ({self.record} {compare} bool {self.trouble})"


def heartbeat_rate(component: str) -> str:
    return f"deployment:airflow_{component}_heartbeat:rate10m"


def heartbeat_norm(component: str) -> str:
    return f"{heartbeat_rate(component)}_norm"


def heartbeat_recordings(component: str) -> list[tuple[str, str]]:
    """(record, expr): the 10-minute heartbeat rate (0 once a component that beat in the last hour stops),
    and its norm: the higher of its own median over a day and the fleet's median now. A component that
    crash-loops from the start falls short of the fleet; one of a differently tuned deployment, of its own day."""
    series = f"airflow_{component}_heartbeat_total"
    rate = heartbeat_rate(component)
    own = f"quantile_over_time(0.5, {rate}[1d])"
    fleet = f"quantile(0.5, {rate})"
    return [
        (
            rate,
            f"sum by (deployment) (rate({series}[10m])) or 0 * group by (deployment) (max_over_time({series}[1h]))",
        ),
        (
            heartbeat_norm(component),
            f"({own} > on () group_left () {fleet}) or on (deployment) (0 * {own} + on () group_left () {fleet})",
        ),
    ]


def as_deployment(expr: str) -> str:
    """Kubernetes series carry the deployment as their namespace (one Airflow deployment per namespace)."""
    return f'label_replace({expr}, "deployment", "$1", "namespace", "(.*)")'


def per_deployment(pods: str) -> str:
    """How many pods per deployment ``pods`` (one series per pod) finds."""
    return f"count by (deployment) ({as_deployment(pods)})"


def pods_pending_longer(seconds: int, *namespace: str) -> str:
    """Task pods Pending for longer than ``seconds`` now, one series per pod."""
    return f"({q.pending_task_pod_age(*namespace)}) > {seconds}"


def unstartable_pods(*namespace: str) -> str:
    """Task pods waiting on a reason that will not go away by itself, one series per pod."""
    selector = q.matchers(q.TASK_CONTAINER, f'reason=~"{POD_START_ERRORS}"', *namespace)
    return f"max by (namespace, pod) (kube_pod_container_status_waiting_reason{selector}) == 1"


def oom_killed_pods(window: str, *namespace: str) -> str:
    """Task pods whose container was OOM-killed within ``window``, one series per pod."""
    selector = q.matchers(q.TASK_CONTAINER, 'reason="OOMKilled"', *namespace)
    return f"max by (namespace, pod) (max_over_time(kube_pod_container_status_terminated_reason{selector}[{window}])) == 1"


def concerns() -> tuple[Concern, ...]:
    heartbeats = tuple(
        Concern(
            f"{component}_heartbeat_ratio",
            component.replace("_", "-").capitalize(),
            f"{heartbeat_rate(component)} / ({heartbeat_norm(component)} > 0)",
            HEARTBEAT_WARN,
            HEARTBEAT_TROUBLE,
            unit="percentunit",
            low_is_bad=True,
            description=f"{component} heartbeats of the last 10 minutes against their norm (the higher of its "
            "own daily median and the fleet's median); 0% = stopped.",
        )
        for component in q.HEARTBEAT_COMPONENTS
    )
    return (
        *heartbeats,
        Concern(
            "task_failure_ratio",
            "Failed tasks",
            f"deployment:airflow_ti_failure:ratio15m and deployment:airflow_ti_finished:increase15m"
            f" >= {FAILURE_RATIO_MIN_TASKS}",
            0.1,
            0.2,
            unit="percentunit",
            description="Share of the task instances that finished in the last 15 minutes and failed "
            f"(shown from {FAILURE_RATIO_MIN_TASKS} finished tasks on).",
        ),
        Concern(
            "queue_stuck",
            "Queue stuck",
            "min by (deployment) (min_over_time(airflow_executor_queued_tasks[15m]))"
            " unless on (deployment) sum by (deployment) (increase(airflow_ti_start_total[15m])) > 0",
            1,
            1,
            zero_for="airflow",
            description="Tasks queued for the last 15 minutes while not one task instance started.",
        ),
        Concern(
            "pods_pending",
            "Pods pending >5m",
            per_deployment(pods_pending_longer(300)),
            1,
            3,
            zero_for="kubernetes",
            description="Task pods Pending for more than 5 minutes now (unschedulable, quota, volumes).",
        ),
        Concern(
            "pod_start_errors",
            "Pod start errors",
            per_deployment(unstartable_pods()),
            1,
            1,
            zero_for="kubernetes",
            description="Task pods that cannot start now: image pull errors, bad container config.",
        ),
        Concern(
            "oom_kills",
            "OOM kills 1h",
            per_deployment(oom_killed_pods("1h")),
            1,
            3,
            zero_for="kubernetes",
            description="Task pods OOM-killed in the last hour.",
        ),
        Concern(
            "core_restarts",
            "Core restarts 1h",
            f"round(sum by (deployment) ({as_deployment(f'increase(kube_pod_container_status_restarts_total{{{q.CORE_CONTAINERS}}}[1h])')}))",
            1,
            3,
            zero_for="kubernetes",
            description="Restarts of the scheduler, API server, triggerer and dag-processor containers in "
            "the last hour (a crash loop).",
        ),
        Concern(
            "import_errors",
            "Import errors",
            "max by (deployment) (airflow_dag_processing_import_errors)",
            1,
            1,
            zero_for="airflow",
            description="DAG files that fail to import.",
        ),
        Concern(
            "parse_time",
            "Parse time",
            "max by (deployment) (airflow_dag_processing_total_parse_time)",
            30,
            120,
            unit="s",
            description="Time to parse every DAG file once; above min_file_process_interval (30 s by "
            "default) files are parsed less often than configured.",
        ),
    )


def zeros(source: str) -> str:
    """A 0 for each deployment whose Airflow reports (its scheduler heartbeat rate is recorded), or whose
    namespace kube-state-metrics sees pods in."""
    if source == "airflow":
        return f"0 * group by (deployment) ({heartbeat_rate('scheduler')})"
    return f"0 * group by (deployment) ({as_deployment('group by (namespace) (kube_pod_container_info)')})"


def recorded(concern: Concern) -> str:
    if not concern.zero_for:
        return concern.expr
    return f"({concern.expr}) or on (deployment) {zeros(concern.zero_for)}"


def recordings() -> list[tuple[str, str]]:
    """(record, expr) of every health value and the score, in evaluation order."""
    values = [(concern.record, recorded(concern)) for concern in concerns()]
    levels = " or ".join(
        f'label_replace({concern.level()}, "concern", "{concern.name}", "", "")' for concern in concerns()
    )
    return [
        *(recording for component in q.HEARTBEAT_COMPONENTS for recording in heartbeat_recordings(component)),
        *values,
        (SCORE, f"sum by (deployment) ({levels})"),
    ]
