"""What Airglow reads from an Airflow task instance (2 or 3): which try it is, and whether it may still
write to its log."""

from __future__ import annotations

from typing import Any

from airglow.log_handlers.try_identity import TryIdentity

# Task instance states in which a try may still write to its log.
_UNFINISHED_STATES = frozenset(
    {"running", "deferred", "queued", "scheduled", "up_for_reschedule", "restarting"}
)


def try_of(ti: Any, try_number: int | None = None) -> TryIdentity:
    """The try ``try_number`` (or the ti's own) of a task instance."""
    map_index = getattr(ti, "map_index", -1)
    return TryIdentity(
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        try_number=int(try_number if try_number is not None else ti.try_number),
        map_index=-1 if map_index is None else int(map_index),
    )


def is_finished(state: Any) -> bool:
    """Whether a task instance in ``state`` writes no more to its log."""
    return str(state or "").lower() not in _UNFINISHED_STATES
