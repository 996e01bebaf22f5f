"""Writing and reading the Elasticsearch logs of task tries: the core the Airflow 2 and 3 glue share."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from airglow.log_handlers.elasticsearch.client import EsError, es_client
from airglow.log_handlers.elasticsearch.documents import DocumentFactory, LogEvent
from airglow.log_handlers.elasticsearch.log_id import TryIdentity, frontend_url, render_log_id
from airglow.log_handlers.elasticsearch.reader import EsLogReader, LogLine, Progress
from airglow.log_handlers.elasticsearch.settings import EsLogSettings
from airglow.log_handlers.elasticsearch.sinks import Sink, open_sink

log = logging.getLogger(__name__)
# Airflow 3 writes this when a try stops without ending (deferral, waiting for human input): no end mark then.
PAUSE_PREFIX = "Pausing task as "
# Task instance states in which a try may still write to its log.
_UNFINISHED_STATES = frozenset(
    {"running", "deferred", "queued", "scheduled", "up_for_reschedule", "restarting"}
)
# Loggers of the sinks themselves: their lines stay in the local log only, or every request they log
# would produce another request (Airflow 2 routes the root logger into the task handler).
SINK_LOGGERS = ("elastic_transport", "elasticsearch", "urllib3", "fluent", "airglow.log_handlers")


def is_finished(state: Any) -> bool:
    return str(state or "").lower() not in _UNFINISHED_STATES


def from_sink(logger_name: str) -> bool:
    return logger_name.startswith(SINK_LOGGERS)


class TryLogWriter:
    """The documents of one try, handed to a sink as they are written; an end mark when the try ends."""

    def __init__(self, settings: EsLogSettings, identity: TryIdentity, sink: Sink, floor: int = 0) -> None:
        self.documents = DocumentFactory(settings, identity, floor)
        self.paused = False
        self._sink = sink

    def write(self, event: LogEvent) -> None:
        if from_sink(event.logger):
            return
        if event.message.startswith(PAUSE_PREFIX):
            self.paused = True
        self._sink.send(self.documents.line(event))

    def finish(self, ended: bool = True) -> bool:
        """Deliver what is left; with ``ended`` (and no pause seen) mark the log complete. Never raises."""
        try:
            if ended and not self.paused:
                self._sink.send(self.documents.end_mark())
            return self._sink.close()
        except Exception:
            log.exception("finishing the Elasticsearch task log %s failed", self.documents.log_id)
            return False


class EsTaskLogs:
    """Builds writers for tries and reads their logs back."""

    def __init__(
        self, settings: EsLogSettings, client_factory: Callable[[EsLogSettings], Any] = es_client
    ) -> None:
        self.settings = settings
        self._client_factory = client_factory
        self._client: Any = None
        self._reader: EsLogReader | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory(self.settings)
        return self._client

    def open_writer(self, identity: TryIdentity) -> TryLogWriter:
        sink = open_sink(self.settings, lambda _: self.client)
        return TryLogWriter(self.settings, identity, sink, self._stored_offset(identity))

    def reader(self) -> EsLogReader:
        if self._reader is None:
            self._reader = EsLogReader(self.settings, self.client)
        return self._reader

    def _stored_offset(self, identity: TryIdentity) -> int:
        """Where a resumed try must start: above what its earlier part stored, whatever the clocks say.
        Only the bulk writer talks to Elasticsearch; the others rely on time going forward."""
        if self.settings.writer != "bulk":
            return 0
        try:
            return self.reader().highest_offset(self.log_id(identity))
        except EsError as err:
            log.warning("could not read the highest stored offset of %s: %s", self.log_id(identity), err)
            return 0

    def log_id(self, identity: TryIdentity) -> str:
        return render_log_id(self.settings.log_id_template, identity)

    def external_url(self, identity: TryIdentity) -> str:
        return frontend_url(self.settings.frontend, self.log_id(identity)) if self.settings.frontend else ""

    def source(self, identity: TryIdentity) -> str:
        where = f"Elasticsearch {','.join(self.settings.index_patterns)} log_id={self.log_id(identity)!r}"
        link = self.external_url(identity)
        return f"{where} ({link})" if link else where

    def stream(self, identity: TryIdentity, task_finished: bool) -> Iterator[str]:
        """Airflow 3 log lines (JSON events) in offset order, in constant memory.

        A running task: what is stored now (the UI asks again). A finished one: until the end mark, or for at
        most ``end_of_log_timeout`` of quiet when the mark was lost. A change of host (a try resumed on
        another pod) is announced in the log, so lines are grouped by the host that wrote them.
        """
        reader = self.reader()
        log_id = self.log_id(identity)
        lines = reader.follow(log_id, lambda: True) if task_finished else reader.lines(log_id)
        host: str | None = None
        try:
            for line in lines:
                if reader.is_end(line):
                    continue
                line_host = str(line.source.get(self.settings.host_field, ""))
                if host is not None and line_host != host:
                    yield _notice(line.source.get("@timestamp"), f"continued on host {line_host}")
                host = line_host
                yield airflow3_line(line)
        except EsError as err:
            log.warning("Elasticsearch log read of %s cut short: %s", log_id, err)
            yield _notice(None, f"the rest of this log could not be read: {err}")

    def read_increment(
        self, identity: TryIdentity, metadata: dict[str, Any], task_finished: bool, max_lines: int
    ) -> tuple[list[tuple[str, str]], dict[str, Any]]:
        """Airflow 2's incremental read: lines after ``metadata['offset']``, grouped by host, and metadata
        with the new offset, ``end_of_log`` and ``last_log_timestamp`` (when new lines last came)."""
        reader = self.reader()
        progress = Progress(offset=_int_or_none(metadata.get("offset")))
        groups: dict[str, list[str]] = {}
        for line in reader.lines(self.log_id(identity), after=progress.offset, limit=max_lines):
            progress.offset, progress.ended = line.offset, reader.is_end(line)
            if not progress.ended:
                groups.setdefault(str(line.source.get(self.settings.host_field, "")), []).append(line.message)
        now = time.time()
        quiet_since = now if groups or progress.ended else float(metadata.get("last_log_timestamp") or now)
        ended = progress.ended or (task_finished and reader.quiet_for_long(quiet_since))
        result = dict(metadata) | {
            "offset": progress.offset if progress.offset is not None else metadata.get("offset", 0),
            "end_of_log": ended,
            "last_log_timestamp": quiet_since,
        }
        return [(host, "\n".join(messages)) for host, messages in groups.items()], result


def airflow3_line(line: LogLine) -> str:
    """A stored document as the structured JSON line Airflow 3's log viewer parses."""
    source = line.source
    event = {
        "timestamp": source.get("@timestamp"),
        "level": source.get("level", "info"),
        "event": line.message,
        "logger": source.get("logger", ""),
    }
    return json.dumps(event | dict(source.get("extra") or {}), ensure_ascii=False)


def _notice(timestamp: Any, text: str) -> str:
    return json.dumps({"timestamp": timestamp, "level": "info", "event": f"*** Airglow: {text}"})


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) or None
    except (TypeError, ValueError):
        return None
