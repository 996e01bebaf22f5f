"""Airflow 2's task handler over Airglow's Elasticsearch task logs, compatible with the provider's
``ElasticsearchTaskHandler``: ``_read`` returns lines grouped by host and ``offset``/``end_of_log`` metadata,
and the external link comes from ``frontend``."""

from __future__ import annotations

import logging
from typing import Any

from airflow.utils.log.file_task_handler import FileTaskHandler
from airflow.utils.log.logging_mixin import ExternalLoggingMixin

from airglow.log_handlers.airflow.es_reads import read_increment
from airglow.log_handlers.airflow.task_instance import is_finished, try_of
from airglow.log_handlers.elasticsearch.documents import LogEvent
from airglow.log_handlers.elasticsearch.settings import EsLogSettings
from airglow.log_handlers.elasticsearch.task_logs import EsTaskLogs, TryLogWriter
from airglow.log_handlers.errors import LogHandlerError

log = logging.getLogger(__name__)


class AirglowEsTaskHandler(FileTaskHandler, ExternalLoggingMixin):
    """Writes the local file as FileTaskHandler does and every record to the configured sink."""

    LOG_NAME = "Elasticsearch"

    def __init__(self, base_log_folder: str, es: dict[str, Any] | None = None, **file_handler_kwargs: Any):
        super().__init__(base_log_folder, **file_handler_kwargs)
        self.logs = EsTaskLogs(EsLogSettings.build(**(es or {})))
        self.max_lines_per_read = self.logs.settings.page_size * 10
        self._writer: TryLogWriter | None = None
        self._ti: Any = None
        self._mark_end = False
        self._closed = False

    def set_context(self, ti: Any, *, identifier: str | None = None) -> Any:
        result = super().set_context(ti, identifier=identifier)
        # As the provider's handler: the supervising process (not ``--raw``) ends the log.
        self._mark_end = not getattr(ti, "raw", False) and not getattr(ti, "is_trigger_log_context", False)
        self._ti = ti
        try:
            self._writer = self.logs.open_writer(try_of(ti))
        except LogHandlerError as err:
            log.warning("task log will not reach Elasticsearch (the local log keeps it): %s", err)
        return result

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        if self._writer is not None:
            try:
                self._writer.write(LogEvent.from_record(record, self.format(record)))
            except Exception:
                self.handleError(record)

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        if self._writer is not None:
            deferred = str(getattr(self._ti, "state", "") or "").lower() == "deferred"
            self._writer.finish(ended=self._mark_end and not deferred)
        self._closed = True

    def _read(self, ti: Any, try_number: int, metadata: dict[str, Any] | None = None):
        identity = try_of(ti, try_number)
        finished = try_number != ti.try_number or is_finished(ti.state)
        try:
            groups, metadata = read_increment(
                self.logs, identity, dict(metadata or {}), finished, self.max_lines_per_read
            )
        except LogHandlerError as err:
            return [(ti.hostname or "", f"*** Could not read the log from Elasticsearch: {err}")], {
                "end_of_log": True
            }
        if metadata["end_of_log"] and not groups and not metadata.get("offset"):
            groups = [("", f"*** No log found in {self.logs.source(identity)}")]
        return groups, metadata

    def _read_grouped_logs(self) -> bool:
        return True

    @property
    def log_name(self) -> str:
        return self.LOG_NAME

    @property
    def supports_external_link(self) -> bool:
        return bool(self.logs.settings.frontend)

    def get_external_log_url(self, task_instance: Any, try_number: int) -> str:
        return self.logs.external_url(try_of(task_instance, try_number))
