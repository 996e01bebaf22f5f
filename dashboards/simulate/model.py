"""The fleet model: deployments, DAG runs, task pods and their states, stepped one tick at a time.

Time is compressed: a task pod lives a few ticks of wall time (so a short run shows churn), but reports the
durations a real task would have (minutes), drawn from log-normal distributions; a DAG run reports its
duration and outcome when it starts. Pod timestamps are wall
time, because Prometheus compares them with ``time()``. One deployment in the fleet is "troubled" (import
errors, a crash-looping triggerer, OOM-killed and image-pull-failing task pods, a starving pool) so that
every panel and alert has something to show.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

POOLS = ("default_pool", "etl")
CORE_CONTAINERS = ("scheduler", "api-server", "triggerer", "dag-processor")
# What goes wrong in the troubled deployment (see Fleet.new_deployment and the troubled branches of Fleet).
TROUBLES = (
    "DAG import errors",
    "a crash-looping triggerer",
    "OOM-killed and image-pull-failing task pods",
    "a starving pool",
    "a quarter of its DAG runs failing",
)
TERMINATED_LINGER_TICKS = 5


@dataclass(frozen=True)
class Metric:
    """One statsd event as Airflow sends it: the tagged name, its legacy twin, and the tags."""

    kind: str  # "incr", "gauge" or "timing" (milliseconds)
    name: str
    value: float
    tags: tuple[tuple[str, str], ...] = ()
    legacy: str = ""


@dataclass
class TaskPod:
    namespace: str
    name: str
    uid: str
    dag_id: str
    task_id: str
    created: float
    start_after: float
    run_for: float
    outcome: str  # success, failed, up_for_retry, oom
    waiting_reason: str = "ContainerCreating"
    started: float | None = None
    finished: float | None = None
    finished_tick: int = 0
    cpu_seconds: float = 0.0

    @property
    def phase(self) -> str:
        if self.finished is not None:
            return "Succeeded" if self.outcome == "success" else "Failed"
        return "Running" if self.started is not None else "Pending"

    @property
    def terminated_reason(self) -> str:
        return {"success": "Completed", "oom": "OOMKilled"}.get(self.outcome, "Error")


@dataclass
class CorePod:
    namespace: str
    name: str
    container: str
    created: float
    restarts: int = 0
    waiting_reason: str = ""
    last_terminated_reason: str = ""
    cpu_seconds: float = 0.0


@dataclass
class Deployment:
    name: str
    dags: tuple[tuple[str, tuple[str, ...]], ...]
    troubled: bool
    slots: int = 32
    core: list[CorePod] = field(default_factory=list)
    pods: list[TaskPod] = field(default_factory=list)


@dataclass(frozen=True)
class FleetShape:
    deployments: int = 3
    dags: int = 4
    tasks: int = 4
    seed: int = 1
    # Expected new DAG runs per DAG per tick.
    run_rate: float = 0.15


def lognormal_seconds(rng: random.Random, median: float, spread: float = 0.6) -> float:
    return rng.lognormvariate(math.log(median), spread)


class Fleet:
    """The whole fleet; ``step(now)`` advances one tick and returns the statsd events of that tick."""

    def __init__(self, shape: FleetShape, now: float) -> None:
        self.shape = shape
        self.rng = random.Random(shape.seed)
        self.tick = 0
        self.uids = itertools.count(1)
        troubled = 1 if shape.deployments > 1 else 0
        self.deployments = [
            self.new_deployment(index, index == troubled, now) for index in range(shape.deployments)
        ]

    def new_deployment(self, index: int, troubled: bool, now: float) -> Deployment:
        name = f"airflow-{('prod', 'staging', 'analytics', 'ml', 'finance')[index % 5]}{index // 5 or ''}"
        dags = tuple(
            (
                f"dag_{dag:02d}_{('ingest', 'transform', 'report', 'train')[dag % 4]}",
                tuple(f"task_{task}" for task in range(self.shape.tasks)),
            )
            for dag in range(self.shape.dags)
        )
        deployment = Deployment(name=name, dags=dags, troubled=troubled)
        deployment.core = [
            CorePod(name, f"{container}-{suffix}", container, now - 86400)
            for container in CORE_CONTAINERS
            for suffix in (("0", "1") if container == "scheduler" else ("0",))
        ]
        if troubled:
            triggerer = next(pod for pod in deployment.core if pod.container == "triggerer")
            triggerer.waiting_reason, triggerer.last_terminated_reason = "CrashLoopBackOff", "Error"
        deployment.core[1].last_terminated_reason, deployment.core[1].restarts = "OOMKilled", 1
        return deployment

    def step(self, now: float) -> dict[str, list[Metric]]:
        self.tick += 1
        return {deployment.name: self.step_deployment(deployment, now) for deployment in self.deployments}

    def step_deployment(self, deployment: Deployment, now: float) -> list[Metric]:
        metrics = self.component_metrics(deployment)
        for dag_id, tasks in deployment.dags:
            if self.rng.random() < self.shape.run_rate:
                metrics += self.start_run(deployment, dag_id, tasks, now)
        for pod in list(deployment.pods):
            metrics += self.advance_pod(deployment, pod, now)
        metrics += self.slot_metrics(deployment)
        self.advance_core(deployment)
        return metrics

    def start_run(
        self, deployment: Deployment, dag_id: str, tasks: tuple[str, ...], now: float
    ) -> list[Metric]:
        for task_id in tasks:
            deployment.pods.append(self.new_pod(deployment, dag_id, task_id, now))
        tags = (("dag_id", dag_id),)
        delay = lognormal_seconds(self.rng, 4.0) * 1000
        outcome = self.run_outcome(deployment)
        return [
            Metric("timing", "dagrun.schedule_delay", delay, tags, f"dagrun.schedule_delay.{dag_id}"),
            Metric(
                "timing",
                "dagrun.first_task_scheduling_delay",
                delay / 3,
                tags,
                f"dagrun.{dag_id}.first_task_scheduling_delay",
            ),
            Metric(
                "timing",
                f"dagrun.duration.{outcome}",
                lognormal_seconds(self.rng, 900) * 1000,
                tags,
                f"dagrun.duration.{outcome}.{dag_id}",
            ),
        ]

    def run_outcome(self, deployment: Deployment) -> str:
        return "failed" if self.rng.random() < (0.25 if deployment.troubled else 0.1) else "success"

    def new_pod(self, deployment: Deployment, dag_id: str, task_id: str, now: float) -> TaskPod:
        uid = next(self.uids)
        roll = self.rng.random()
        failing = 0.2 if deployment.troubled else 0.04
        outcome = "failed" if roll < failing else "up_for_retry" if roll < failing * 1.5 else "success"
        if deployment.troubled and self.rng.random() < 0.1:
            outcome = "oom"
        pod = TaskPod(
            deployment.name,
            f"{dag_id}-{task_id}-{uid:06d}".replace("_", "-"),
            f"uid-{uid}",
            dag_id,
            task_id,
            created=now,
            start_after=lognormal_seconds(self.rng, 6.0, 0.7),
            run_for=self.rng.uniform(3, 15),
            outcome=outcome,
        )
        if deployment.troubled and self.rng.random() < 0.05:
            pod.waiting_reason, pod.start_after = "ImagePullBackOff", math.inf
        return pod

    def advance_pod(self, deployment: Deployment, pod: TaskPod, now: float) -> list[Metric]:
        if pod.finished is not None:
            if self.tick - pod.finished_tick >= TERMINATED_LINGER_TICKS:
                deployment.pods.remove(pod)
            return []
        if pod.started is None and now - pod.created >= pod.start_after:
            pod.started = now
            return self.task_started(pod, now)
        if pod.started is None and pod.waiting_reason == "ImagePullBackOff" and now - pod.created > 60:
            deployment.pods.remove(pod)  # the scheduler gives up on the pod (and the task fails)
            return self.task_finished(pod, "failed")
        if pod.started is not None and now - pod.started >= pod.run_for:
            pod.finished, pod.finished_tick = now, self.tick
            return self.task_finished(pod, "failed" if pod.outcome == "oom" else pod.outcome)
        return []

    def task_started(self, pod: TaskPod, started: float) -> list[Metric]:
        tags = (("dag_id", pod.dag_id), ("task_id", pod.task_id))
        legacy = f"{pod.dag_id}.{pod.task_id}"
        return [
            Metric("incr", "ti.start", 1, tags, f"ti.start.{legacy}"),
            Metric(
                "timing",
                "task.queued_duration",
                (started - pod.created) * 1000,
                tags,
                f"dag.{legacy}.queued_duration",
            ),
            Metric(
                "timing",
                "task.scheduled_duration",
                lognormal_seconds(self.rng, 1.5) * 1000,
                tags,
                f"dag.{legacy}.scheduled_duration",
            ),
        ]

    def task_finished(self, pod: TaskPod, state: str) -> list[Metric]:
        tags = (("dag_id", pod.dag_id), ("task_id", pod.task_id))
        legacy = f"{pod.dag_id}.{pod.task_id}"
        median = {"ingest": 120.0, "transform": 600.0, "report": 45.0, "train": 2400.0}[
            pod.dag_id.rsplit("_", 1)[1]
        ]
        metrics = [
            Metric("incr", "ti.finish", 1, (*tags, ("state", state)), f"ti.finish.{legacy}.{state}"),
            Metric(
                "timing",
                "task.duration",
                lognormal_seconds(self.rng, median) * 1000,
                tags,
                f"dag.{legacy}.duration",
            ),
        ]
        if state in ("success", "failed"):
            metrics.append(Metric("incr", "ti_successes" if state == "success" else "ti_failures", 1, tags))
        return metrics

    def slot_metrics(self, deployment: Deployment) -> list[Metric]:
        running = sum(pod.phase == "Running" for pod in deployment.pods)
        queued = sum(pod.phase == "Pending" for pod in deployment.pods)
        executor = (("executor_class_name", "KubernetesExecutor"),)
        metrics = [
            Metric("gauge", f"executor.{name}", value, executor, f"executor.{name}.KubernetesExecutor")
            for name, value in (
                ("open_slots", max(deployment.slots - running - queued, 0)),
                ("queued_tasks", queued),
                ("running_tasks", running),
            )
        ]
        for pool in POOLS:
            starving = 3 if deployment.troubled and pool == "etl" else 0
            share = running // 2 if pool == "etl" else running - running // 2
            tags = (("pool_name", pool),)
            for name, value in (
                ("open_slots", max(16 - share, 0)),
                ("running_slots", share),
                ("queued_slots", queued // 2),
                ("starving_tasks", starving),
            ):
                metrics.append(Metric("gauge", f"pool.{name}", value, tags, f"pool.{name}.{pool}"))
        metrics.append(Metric("gauge", "scheduler.tasks.starving", 3 if deployment.troubled else 0))
        metrics.append(Metric("gauge", "scheduler.tasks.executable", queued))
        for dag_id, tasks in deployment.dags:
            pods = [pod for pod in deployment.pods if pod.dag_id == dag_id and pod.finished is None]
            tags = (("dag_id", dag_id),)
            metrics.append(
                Metric(
                    "gauge",
                    "scheduler.dagruns.running",
                    len({p.created for p in pods}),
                    tags,
                    f"scheduler.dagruns.running.{dag_id}",
                )
            )
            metrics.append(
                Metric("gauge", "scheduler.dagruns.queued", 0, tags, f"scheduler.dagruns.queued.{dag_id}")
            )
            for task_id in tasks:
                metrics += task_state_gauges(dag_id, task_id, [pod for pod in pods if pod.task_id == task_id])
        return metrics

    def component_metrics(self, deployment: Deployment) -> list[Metric]:
        rng = self.rng
        host = (("hostname", f"{deployment.name}-triggerer-0"),)
        metrics = [
            Metric("incr", "scheduler_heartbeat", 1),
            Metric("incr", "dag_processor_heartbeat", 1),
            Metric("timing", "scheduler.scheduler_loop_duration", lognormal_seconds(rng, 0.25) * 1000),
            Metric("timing", "scheduler.critical_section_duration", lognormal_seconds(rng, 0.05) * 1000),
            Metric(
                "timing", "scheduler.critical_section_query_duration", lognormal_seconds(rng, 0.02) * 1000
            ),
            Metric("incr", "scheduler.critical_section_busy", 1 if rng.random() < 0.3 else 0),
            Metric("gauge", "dag_processing.import_errors", 2 if deployment.troubled else 0),
            Metric("gauge", "dag_processing.total_parse_time", lognormal_seconds(rng, 12.0, 0.2)),
            Metric("gauge", "dagbag_size", len(deployment.dags)),
            Metric("gauge", "triggers.running", rng.randint(0, 20), host, f"triggers.running.{host[0][1]}"),
            Metric(
                "gauge",
                "triggerer.capacity_left",
                1000 - rng.randint(0, 20),
                host,
                f"triggerer.capacity_left.{host[0][1]}",
            ),
            Metric("incr", "triggers.succeeded", rng.randint(0, 3)),
            Metric("incr", "triggers.failed", 1 if rng.random() < 0.1 else 0),
            Metric("incr", "triggers.blocked_main_thread", 1 if rng.random() < 0.05 else 0),
            Metric("timing", "kubernetes_executor.pod_creation", lognormal_seconds(rng, 0.08) * 1000),
            Metric(
                "incr",
                "kubernetes_executor.pod_creation_status",
                1,
                (("status", "403" if deployment.troubled and rng.random() < 0.3 else "201"),),
            ),
        ]
        if not deployment.troubled or self.tick % 10 < 3:  # a crash-looping triggerer beats now and then
            metrics.append(Metric("incr", "triggerer_heartbeat", 1))
        for dag_id, _ in deployment.dags:
            file_name = f"{dag_id}.py"
            tags = (("bundle_name", "dags-folder"), ("file_name", file_name))
            metrics.append(
                Metric(
                    "timing",
                    "dag_processing.last_duration",
                    lognormal_seconds(rng, 1.5) * 1000,
                    tags,
                    f"dag_processing.last_duration.dags-folder.{dag_id}",
                )
            )
        return metrics

    def advance_core(self, deployment: Deployment) -> None:
        for pod in deployment.core:
            if pod.waiting_reason == "CrashLoopBackOff" and self.tick % 10 == 0:
                pod.restarts += 1
            if not pod.waiting_reason:
                pod.cpu_seconds += self.rng.uniform(0.2, 0.9)
        for task_pod in deployment.pods:
            if task_pod.phase == "Running":
                task_pod.cpu_seconds += self.rng.uniform(0.3, 1.0)


def task_state_gauges(dag_id: str, task_id: str, pods: list[TaskPod]) -> list[Metric]:
    """``ti.<state>`` gauges of one task, sent for every task whether or not it has pods now."""
    tags = (("queue", "default"), ("dag_id", dag_id), ("task_id", task_id))
    counts = {
        "running": sum(p.phase == "Running" for p in pods),
        "queued": sum(p.phase == "Pending" for p in pods),
        "deferred": 0,
    }
    return [
        Metric("gauge", f"ti.{state}", count, tags, f"ti.{state}.default.{dag_id}.{task_id}")
        for state, count in counts.items()
    ]
