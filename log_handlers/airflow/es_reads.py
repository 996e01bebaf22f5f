"""How Airflow's log viewers read a try's log from Elasticsearch: Airflow 3 streams structured JSON lines,
Airflow 2 asks for increments with offset and end-of-log metadata. Neither imports Airflow."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

from airglow.log_handlers.elasticsearch.client import EsError
from airglow.log_handlers.elasticsearch.reader import Progress
from airglow.log_handlers.elasticsearch.task_logs import EsTaskLogs
from airglow.log_handlers.try_identity import TryIdentity

log = logging.getLogger(__name__)


def airflow3_lines(logs: EsTaskLogs, identity: TryIdentity, follow: bool) -> Iterator[str]:
    """The try's lines as the structured JSON lines Airflow 3's log viewer parses. A running task: what is
    stored now (the UI asks again); a finished one (``follow``): up to its end. A change of host (a try
    resumed on another pod) is announced, so lines are grouped by the host that wrote them."""
    host: str | None = None
    try:
        for line in logs.lines(identity, follow):
            line_host = logs.host_of(line)
            if host is not None and line_host != host:
                yield _notice(line.source.get("@timestamp"), f"continued on host {line_host}")
            host = line_host
            source = line.source
            event = {
                "timestamp": source.get("@timestamp"),
                "level": source.get("level", "info"),
                "event": line.message,
                "logger": source.get("logger", ""),
            }
            yield json.dumps(event | dict(source.get("extra") or {}), ensure_ascii=False)
    except EsError as err:
        log.warning("Elasticsearch log read of %s cut short: %s", logs.log_id(identity), err)
        yield _notice(None, f"the rest of this log could not be read: {err}")


def read_increment(
    logs: EsTaskLogs, identity: TryIdentity, metadata: dict[str, Any], task_finished: bool, max_lines: int
) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Airflow 2's incremental read: lines after ``metadata['offset']``, grouped by host, and metadata with
    the new offset, ``end_of_log`` and ``last_log_timestamp`` (when new lines last came)."""
    reader = logs.reader()
    progress = Progress(offset=_int_or_none(metadata.get("offset")))
    groups: dict[str, list[str]] = {}
    for line in reader.lines(logs.log_id(identity), after=progress.offset, limit=max_lines):
        progress.offset, progress.ended = line.offset, reader.is_end(line)
        if not progress.ended:
            groups.setdefault(logs.host_of(line), []).append(line.message)
    now = time.time()
    quiet_since = now if groups or progress.ended else float(metadata.get("last_log_timestamp") or now)
    ended = progress.ended or (task_finished and reader.quiet_for_long(quiet_since))
    result = dict(metadata) | {
        "offset": progress.offset if progress.offset is not None else metadata.get("offset", 0),
        "end_of_log": ended,
        "last_log_timestamp": quiet_since,
    }
    return [(host, "\n".join(messages)) for host, messages in groups.items()], result


def _notice(timestamp: Any, text: str) -> str:
    return json.dumps({"timestamp": timestamp, "level": "info", "event": f"*** Airglow: {text}"})


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) or None
    except (TypeError, ValueError):
        return None
