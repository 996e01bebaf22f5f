"""Writing and reading the Elasticsearch logs of task tries: the core the Airflow 2 and 3 adapters share
(``airglow.log_handlers.airflow``); it knows nothing of Airflow's versions, states or line formats."""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

from airglow.log_handlers.elasticsearch.client import EsError, es_client
from airglow.log_handlers.elasticsearch.documents import DocumentFactory, LogEvent
from airglow.log_handlers.elasticsearch.reader import EsLogReader, LogLine
from airglow.log_handlers.elasticsearch.settings import EsLogSettings
from airglow.log_handlers.elasticsearch.sinks import Sink, open_sink
from airglow.log_handlers.try_identity import TryIdentity, render_log_id

log = logging.getLogger(__name__)
# Loggers of the sinks themselves: their lines stay in the local log only, or every request they log
# would produce another request (Airflow 2 routes the root logger into the task handler).
SINK_LOGGERS = ("elastic_transport", "elasticsearch", "urllib3", "fluent", "airglow.log_handlers")


def from_sink(logger_name: str) -> bool:
    return logger_name.startswith(SINK_LOGGERS)


class TryLogWriter:
    """The documents of one try, handed to a sink as they are written; an end mark when the try ends."""

    def __init__(self, settings: EsLogSettings, identity: TryIdentity, sink: Sink, floor: int = 0) -> None:
        self.documents = DocumentFactory(settings, identity, floor)
        self._sink = sink

    def write(self, event: LogEvent) -> None:
        if not from_sink(event.logger):
            self._sink.send(self.documents.line(event))

    def finish(self, ended: bool = True) -> bool:
        """Deliver what is left; with ``ended`` mark the log complete. Never raises."""
        try:
            if ended:
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
        self._client_pid = 0
        self._reader: EsLogReader | None = None

    @property
    def client(self) -> Any:
        """One client per process: Airflow 2 forks the task from its supervisor, and a connection both
        processes use hands one's responses to the other (timeouts, then lost lines)."""
        if self._client is None or self._client_pid != os.getpid():
            self._client = self._client_factory(self.settings)
            self._client_pid = os.getpid()
            self._reader = None
        return self._client

    def open_writer(self, identity: TryIdentity) -> TryLogWriter:
        sink = open_sink(self.settings, lambda _: self.client)
        return TryLogWriter(self.settings, identity, sink, self._stored_offset(identity))

    def reader(self) -> EsLogReader:
        client = self.client  # first: a forked process drops the reader of its parent's client
        if self._reader is None:
            self._reader = EsLogReader(self.settings, client)
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

    def lines(self, identity: TryIdentity, follow: bool) -> Iterator[LogLine]:
        """The try's stored lines in offset order, in constant memory, without its end mark. ``follow``:
        until the end mark, or for at most ``end_of_log_timeout`` of quiet when the mark was lost."""
        reader = self.reader()
        log_id = self.log_id(identity)
        lines = reader.follow(log_id, lambda: True) if follow else reader.lines(log_id)
        return (line for line in lines if not reader.is_end(line))

    def host_of(self, line: LogLine) -> str:
        return str(line.source.get(self.settings.host_field, ""))


def frontend_url(template: str, log_id: str) -> str:
    """A Kibana (or other) link: ``{log_id}`` in the template is replaced by the URL-quoted id."""
    url = template.replace("{log_id}", urllib.parse.quote(log_id, safe=""))
    return url if "://" in url else "https://" + url
