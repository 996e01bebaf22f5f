"""Where a pod's end is written: the try's log in object storage, or in Elasticsearch. Each answers whether
the note is already there (the tail of the log names the pod's uid) and adds it, complete."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Protocol

from airglow.log_handlers.elasticsearch.documents import LogEvent
from airglow.log_handlers.elasticsearch.task_logs import EsTaskLogs
from airglow.log_handlers.objectstore.task_logs import ObjectStoreTaskLogs
from airglow.log_handlers.try_identity import TryIdentity, render_log_path

LOGGER = "airglow.pod_ends"
# How much of an object-store log's end is read to see whether its pod's end is already there.
TAIL_BYTES = 4096
# How many of the last documents of an Elasticsearch log are looked at (the note, then the end mark).
TAIL_DOCUMENTS = 4


class Notes(Protocol):
    def noted(self, identity: TryIdentity, uid: str) -> bool: ...

    def note(self, identity: TryIdentity, message: str) -> bool: ...


class ObjectStoreNotes:
    """A last line of the log file: JSON as Airflow 3 writes task logs, or plain text for Airflow 2."""

    def __init__(self, logs: ObjectStoreTaskLogs, text_lines: bool = False) -> None:
        self._logs = logs
        self._text = text_lines

    def noted(self, identity: TryIdentity, uid: str) -> bool:
        return self._logs.tail_contains(render_log_path(identity), uid, TAIL_BYTES)

    def note(self, identity: TryIdentity, message: str) -> bool:
        return self._logs.append_line(render_log_path(identity), self._line(message))

    def _line(self, message: str) -> str:
        now = datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")
        if self._text:
            return f"[{now}] ERROR - {message}"
        return json.dumps({"timestamp": now, "level": "error", "event": message, "logger": LOGGER})


class EsNotes:
    """A last document of the try's log, then its end mark (the log is complete)."""

    def __init__(self, logs: EsTaskLogs) -> None:
        self._logs = logs

    def noted(self, identity: TryIdentity, uid: str) -> bool:
        tail = self._logs.reader().tail(self._logs.log_id(identity), TAIL_DOCUMENTS)
        return any(uid in line.message for line in tail)

    def note(self, identity: TryIdentity, message: str) -> bool:
        writer = self._logs.open_writer(identity)
        writer.write(LogEvent(message, time.time_ns(), level="error", logger=LOGGER))
        return writer.finish(ended=True)
