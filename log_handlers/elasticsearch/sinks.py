"""Where documents go: stdout for a node shipper, a Fluentd forward endpoint, or Elasticsearch's bulk API.

Each sink takes documents as they are written and delivers them in the background; ``close`` delivers the rest
within ``final_timeout`` and reports whether everything arrived. A sink never raises into the task: what it
cannot deliver is logged with a count (the task's local log file keeps every line).
"""

from __future__ import annotations

import itertools
import json
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from airglow.log_handlers.elasticsearch.client import EsError, call, es_client
from airglow.log_handlers.elasticsearch.documents import document_id
from airglow.log_handlers.elasticsearch.settings import EsLogSettings
from airglow.log_handlers.errors import LogConfigError
from airglow.log_handlers.retry import retry_until

log = logging.getLogger(__name__)
Document = dict[str, Any]


class Sink(Protocol):
    def send(self, document: Document) -> None: ...

    def close(self) -> bool: ...


def open_sink(settings: EsLogSettings, client_factory: Callable[[EsLogSettings], Any] = es_client) -> Sink:
    if settings.writer == "stdout":
        return StdoutSink()
    if settings.writer == "forward":
        return ForwardSink(settings)
    return BulkSink(settings, client_factory(settings))


class StdoutSink:
    """One JSON document per line on the process's real stdout, written at once.

    ``sys.__stdout__``: Airflow 2 redirects ``sys.stdout`` into the task log, which would loop back here.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        stream = stream or sys.__stdout__
        if stream is None:
            raise LogConfigError("stdout", "the process has no stdout to write log documents to")
        self._stream: TextIO = stream
        self._lock = threading.Lock()

    def send(self, document: Document) -> None:
        line = json.dumps(document, separators=(",", ":"), ensure_ascii=False) + "\n"
        with self._lock:
            self._stream.write(line)
            self._stream.flush()

    def close(self) -> bool:
        with self._lock:
            self._stream.flush()
        return True


class ForwardSink:
    """Fluentd's forward protocol through ``fluent-logger``: it buffers what a down endpoint refused and
    re-sends it with the next event; ``close`` keeps re-sending with backoff until ``final_timeout``."""

    def __init__(self, settings: EsLogSettings) -> None:
        try:
            from fluent.sender import EventTime, FluentSender
        except ImportError:
            raise LogConfigError(
                "writer", "forward needs fluent-logger: pip install 'airglow[fluent]'"
            ) from None

        class _FlushingSender(FluentSender):
            def flush(self) -> bool:
                """Send what is buffered without a new event."""
                return self._send(b"")

        self._settings = settings
        self._event_time = EventTime
        self._lost_bytes = 0
        self._sender = _FlushingSender(
            settings.forward_tag,
            host=settings.forward_host,
            port=settings.forward_port,
            bufmax=settings.forward_buffer_bytes,
            timeout=settings.request_timeout,
            nanosecond_precision=True,
            buffer_overflow_handler=self._overflowed,
        )

    def send(self, document: Document) -> None:
        if not self._sender.emit_with_time(None, self._event_time.from_unix_nano(time.time_ns()), document):
            log.debug("forward endpoint unavailable, buffering: %s", self._sender.last_error)

    def close(self) -> bool:
        retry_until(
            lambda: not self._sender.pendings or self._sender.flush(),
            self._settings.final_timeout,
            self._settings.backoff,
        )
        undelivered = len(self._sender.pendings or b"")
        if undelivered:
            log.warning(
                "forward to %s:%d failed for %.0fs; %d bytes of task log not delivered (the local log keeps them): %s",
                self._settings.forward_host,
                self._settings.forward_port,
                self._settings.final_timeout,
                undelivered,
                self._sender.last_error,
            )
            self._sender.pendings = None
        self._sender.close()
        return not undelivered and not self._lost_bytes

    def _overflowed(self, pending: bytes) -> None:
        self._lost_bytes += len(pending)
        log.warning(
            "forward buffer over %d bytes while %s:%d is down: %d bytes of task log dropped here "
            "(the local log keeps them)",
            self._settings.forward_buffer_bytes,
            self._settings.forward_host,
            self._settings.forward_port,
            len(pending),
        )


class BulkSink:
    """Batches documents into ``_bulk`` requests from a background thread.

    Every document is a ``create`` with an id derived from (log_id, offset): a retry of a request that did
    arrive answers 409 for those documents, which counts as delivered, so nothing is duplicated; ``create``
    is also the only operation a data stream accepts.
    """

    def __init__(self, settings: EsLogSettings, client: Any) -> None:
        self._settings = settings
        self._client = client
        self._queue: deque[Document] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closing = False
        self._failures = 0
        self._rejected = 0
        self._thread = threading.Thread(target=self._run, name="airglow-es-bulk", daemon=True)
        self._thread.start()

    def send(self, document: Document) -> None:
        with self._wake:
            self._queue.append(document)
            if len(self._queue) >= self._settings.batch_size:
                self._wake.notify()

    def close(self) -> bool:
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()
        if not retry_until(self._flush_all, self._settings.final_timeout, self._settings.backoff):
            log.warning(
                "bulk indexing failed for %.0fs; %d task log documents not delivered (the local log keeps them)",
                self._settings.final_timeout,
                len(self._queue),
            )
            return False
        return not self._rejected

    def _flush_all(self) -> bool:
        """Send batches until the queue is empty (True) or one must be retried (False)."""
        while self._queue:
            if not self._flush_once():
                return False
        return True

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._closing and len(self._queue) < self._settings.batch_size:
                    self._wake.wait(self._settings.flush_interval)
                if self._closing:
                    return
            if not self._flush_once():
                with self._wake:  # a close() does not wait out the backoff
                    if not self._closing:
                        self._wake.wait(self._settings.backoff(self._failures))

    def _flush_once(self) -> bool:
        """Send one batch; False when it must be retried. Documents stay queued until delivered."""
        with self._lock:
            batch = list(itertools.islice(self._queue, self._settings.batch_size))
        if not batch:
            return True
        try:
            retry = self._bulk(batch)
        except EsError as err:
            self._failures += 1
            log.warning("bulk indexing failed (attempt %d), will retry: %s", self._failures, err)
            return False
        with self._lock:
            for _ in batch:
                self._queue.popleft()
            self._queue.extendleft(reversed(retry))
        if retry:
            self._failures += 1
            return False
        self._failures = 0
        return True

    def _bulk(self, batch: list[Document]) -> list[Document]:
        """Index ``batch``; return the documents to retry (429 and 5xx items)."""
        operations: list[Document] = []
        offset_field = self._settings.offset_field
        for document in batch:
            operations.append({"create": {"_id": document_id(document["log_id"], document[offset_field])}})
            operations.append(document)
        response = call("bulk", self._client.bulk, index=self._settings.target_index, operations=operations)
        if not response.get("errors"):
            return []
        retry: list[Document] = []
        for document, item in zip(batch, response["items"], strict=True):
            result = item["create"]
            status = result.get("status", 200)
            if status < 300 or status == 409:
                continue
            if status == 429 or status >= 500:
                retry.append(document)
            else:
                self._rejected += 1
                error = result.get("error", {})
                log.warning(
                    "Elasticsearch rejected a task log document of %s: %s: %s",
                    document["log_id"],
                    error.get("type"),
                    error.get("reason"),
                )
        return retry
