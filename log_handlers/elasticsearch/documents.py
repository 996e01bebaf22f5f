"""The documents a task log becomes: one per line, then an end mark; with offsets that never collide.

An ``offset`` is ``max(previous + 1, the line's own time in nanoseconds)``: strictly increasing within a
writer however many lines share a timestamp (Airflow's equal offsets scrambled the order,
apache/airflow#17512), and above everything an earlier upload of the same try wrote, because that upload
happened earlier (Airflow 3 restarted at 1 on every upload, so a resumed try collided with itself). Writers
that can read the store (bulk) also start above the highest offset already stored, which covers clock skew
between the pod that deferred and the pod that resumed.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airglow.log_handlers.elasticsearch.settings import EsLogSettings
from airglow.log_handlers.timestamps import parse_timestamp
from airglow.log_handlers.try_identity import TryIdentity, render_log_id

# Keys of a structlog event that become document fields of their own; everything else goes to ``extra``.
_EVENT_KEYS = frozenset({"event", "timestamp", "level", "logger", "logger_name"})
END_MARK = "end"


@dataclass(frozen=True)
class LogEvent:
    """One log line, whatever produced it (a structlog event in Airflow 3, a LogRecord in Airflow 2)."""

    message: str
    time_ns: int
    level: str = "info"
    logger: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_structlog(cls, event: dict[str, Any]) -> LogEvent:
        extra = {key: _jsonable(value) for key, value in event.items() if key not in _EVENT_KEYS}
        return cls(
            message=str(event.get("event", "")),
            time_ns=_time_ns(event.get("timestamp")),
            level=str(event.get("level", "info")).lower(),
            logger=str(event.get("logger") or event.get("logger_name") or ""),
            extra=extra,
        )

    @classmethod
    def from_record(cls, record: logging.LogRecord, message: str) -> LogEvent:
        """``message`` is the record as the handler's formatter renders it."""
        return cls(
            message=message,
            time_ns=int(record.created * 1_000_000_000),
            level=record.levelname.lower(),
            logger=record.name,
        )


class OffsetClock:
    """Hands out strictly increasing offsets that follow the lines' own times."""

    def __init__(self, floor: int = 0) -> None:
        self._last = floor

    def next(self, time_ns: int) -> int:
        self._last = max(self._last + 1, time_ns)
        return self._last


class DocumentFactory:
    """Builds the documents of one try: every document carries the same identity fields."""

    def __init__(self, settings: EsLogSettings, identity: TryIdentity, floor: int = 0) -> None:
        self.settings = settings
        self.log_id = render_log_id(settings.log_id_template, identity)
        self.offsets = OffsetClock(floor)
        self._common = {
            "log_id": self.log_id,
            settings.host_field: settings.host,
            "deployment": settings.deployment,
            **identity.fields(),
        }

    def line(self, event: LogEvent) -> dict[str, Any]:
        document = self._document(event.time_ns, event.message, event.level, event.logger)
        if event.extra:
            document["extra"] = event.extra
        return document

    def end_mark(self) -> dict[str, Any]:
        """The last document of a finished try; its message is Airflow's ``end_of_log_mark``."""
        document = self._document(time.time_ns(), self.settings.end_of_log_mark, "info", "airglow")
        document["mark"] = END_MARK
        return document

    def _document(self, time_ns: int, message: str, level: str, logger: str) -> dict[str, Any]:
        offset = self.offsets.next(time_ns)
        return {
            "@timestamp": _iso(time_ns),
            self.settings.offset_field: offset,
            "level": level,
            "logger": logger,
            "message": message,
            **self._common,
        }


def document_id(log_id: str, offset: int) -> str:
    """The same line always gets the same id, so a retried bulk request never duplicates it."""
    return hashlib.blake2b(f"{log_id}\x00{offset}".encode(), digest_size=16).hexdigest()


def _iso(time_ns: int) -> str:
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos // 1000:06d}Z"


def _time_ns(value: Any) -> int:
    """The event's timestamp (a datetime or an ISO string, as Airflow's processors leave it), else now."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif isinstance(value, str):
        parsed = parse_timestamp(value)
        if parsed is None:
            return time.time_ns()
        moment = parsed
    else:
        return time.time_ns()
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)
