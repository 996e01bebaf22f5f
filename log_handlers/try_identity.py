"""Which try a task log belongs to, and the one place that renders and parses Airflow's templates for it:
the log file path (``[logging] log_filename_template``, Airflow's default) and the Elasticsearch ``log_id``
(``[elasticsearch] log_id_template``, ``str.format`` fields). Only the fields every writer knows are allowed
in a log id, so that writers and readers of one fleet always agree on it.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from airglow.log_handlers.errors import LogConfigError

# ``attempt=N.log``, or a trigger's log of that try, ``attempt=N.log.trigger.<trigger id>.log``.
_ATTEMPT = re.compile(r"^(\d+)\.log(\.trigger\.\d+\.log)?$")
DEFAULT_FILENAME_TEMPLATE = (
    "dag_id={dag_id}/run_id={run_id}/task_id={task_id}/{map_index_part}attempt={try_number}.log"
)
DEFAULT_LOG_ID_TEMPLATE = "{dag_id}-{task_id}-{run_id}-{map_index}-{try_number}"
TEMPLATE_FIELDS = frozenset({"dag_id", "task_id", "run_id", "map_index", "try_number"})


@dataclass(frozen=True)
class TryIdentity:
    """One try of one task instance."""

    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    map_index: int = -1

    def fields(self) -> dict[str, Any]:
        return {
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "map_index": self.map_index,
            "try_number": self.try_number,
        }


def render_log_path(identity: TryIdentity) -> str:
    """Airflow's default ``log_filename_template`` for a try (the relative path of its log file)."""
    map_part = f"map_index={identity.map_index}/" if identity.map_index >= 0 else ""
    return DEFAULT_FILENAME_TEMPLATE.format(**identity.fields(), map_index_part=map_part)


def parse_log_path(relative_path: str) -> TryIdentity | None:
    """The try of a path in Airflow's default ``log_filename_template`` shape; None for another shape."""
    parts = PurePosixPath(relative_path).parts
    fields = dict(part.split("=", 1) for part in parts if "=" in part)
    attempt = _ATTEMPT.match(fields.get("attempt", ""))
    if not (fields.keys() >= {"dag_id", "run_id", "task_id"} and attempt):
        return None
    map_index = fields.get("map_index", "-1")
    return TryIdentity(
        dag_id=fields["dag_id"],
        task_id=fields["task_id"],
        run_id=fields["run_id"],
        try_number=int(attempt.group(1)),
        map_index=int(map_index) if map_index.lstrip("-").isdigit() else -1,
    )


def is_trigger_log(relative_path: str) -> bool:
    """A triggerer's part of a try's log: its lines join the try's log, but its end is not the try's end."""
    match = _ATTEMPT.match(PurePosixPath(relative_path).name.removeprefix("attempt="))
    return bool(match and match.group(2))


def validate_log_id_template(template: str) -> str:
    """Reject a template that names unknown fields or is not a valid format string."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as err:
        raise LogConfigError("log_id_template", f"{template!r} is not a valid format string: {err}") from None
    unknown = names - TEMPLATE_FIELDS
    if unknown or not names:
        raise LogConfigError(
            "log_id_template",
            f"{template!r} may use only {{{'}, {'.join(sorted(TEMPLATE_FIELDS))}}}"
            + (f", not {{{'}, {'.join(sorted(unknown))}}}" if unknown else ", and must use some"),
        )
    return template


def render_log_id(template: str, identity: TryIdentity) -> str:
    return template.format(**identity.fields())
