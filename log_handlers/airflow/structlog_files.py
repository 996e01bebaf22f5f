"""Which task log file an Airflow 3 structlog logger writes to (its processors see the logger, not the ti)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def file_of_logger(logger: Any) -> Path | None:
    """The file a structlog Bytes/Write logger writes to, or None for streams such as stdout."""
    handle = getattr(logger, "_file", None)
    name = getattr(handle, "name", None)
    try:
        if handle is None or not isinstance(name, str) or handle.fileno() in (1, 2):
            return None
    except (OSError, ValueError):
        return None
    return Path(name)
