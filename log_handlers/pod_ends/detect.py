"""Which pod events are a task pod ending abnormally, and which try that pod ran.

A KubernetesExecutor pod carries its try in annotations (``dag_id``, ``task_id``, ``run_id``,
``try_number``, ``map_index``; labels hold only label-safe copies). An abnormal end is: a container
OOM-killed, the pod evicted, the pod failed with a non-zero exit code, or the pod deleted before it ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airglow.log_handlers.try_identity import TryIdentity

_ENDED = ("Succeeded", "Failed")


@dataclass(frozen=True)
class PodEnd:
    """A task pod that ended abnormally: which pod, which try, and why, in words for the task's log."""

    uid: str
    pod: str
    identity: TryIdentity
    reason: str

    def message(self) -> str:
        return (
            f"Airglow: the task pod {self.pod} ended abnormally: {self.reason}. The log above is everything the "
            f"task wrote before that (pod uid {self.uid})."
        )


def abnormal_end(kind: str, pod: Any) -> PodEnd | None:
    """The abnormal end an event shows (``kind``: ADDED, MODIFIED or DELETED), None for anything else."""
    identity = try_of(pod)
    if identity is None:
        return None
    reason = _reason(kind, pod)
    if reason is None:
        return None
    name = f"{pod.metadata.namespace}/{pod.metadata.name}"
    return PodEnd(pod.metadata.uid, name, identity, reason)


def try_of(pod: Any) -> TryIdentity | None:
    """The try a pod runs, from the executor's annotations; None for a pod that is not a task pod."""
    notes = pod.metadata.annotations or {}
    try:
        return TryIdentity(
            notes["dag_id"],
            notes["task_id"],
            notes["run_id"],
            int(notes["try_number"]),
            int(notes.get("map_index", -1)),
        )
    except (KeyError, ValueError):
        return None


def _reason(kind: str, pod: Any) -> str | None:
    status = pod.status
    phase = status.phase if status else None
    if phase == "Succeeded":
        return None
    terminated = [state for state in _terminated(status)]
    oom = next((t for t in terminated if t[1].reason == "OOMKilled"), None)
    if oom is not None:
        return f"OOMKilled (container {oom[0]} went over its memory limit, exit code {oom[1].exit_code})"
    if phase == "Failed" and status.reason == "Evicted":
        return f"Evicted ({status.message or 'no message'})"
    failed = next((t for t in terminated if t[1].exit_code), None)
    if phase == "Failed" and failed is not None:
        container, state = failed
        return f"container {container} exited with code {state.exit_code} ({state.reason or 'Error'})"
    if phase == "Failed":
        return f"Failed ({status.reason or 'no reason'}: {status.message or 'no message'})"
    if kind == "DELETED" and phase not in _ENDED:
        return f"deleted while {phase or 'starting'}"
    return None


def _terminated(status: Any) -> list[tuple[str, Any]]:
    containers = (status.container_statuses or []) if status else []
    return [
        (container.name, container.state.terminated)
        for container in containers
        if container.state is not None and container.state.terminated is not None
    ]
