"""Airflow 3's ``RemoteLogIO`` over Airglow's Elasticsearch task logs.

Lines leave as Airflow logs them (a structlog processor in the supervisor), not at task end: a killed pod
loses at most what the sink had not delivered yet (Airflow's own handler wrote nothing before the task ended,
apache/airflow#54501). Built from ``[logging] logging_config_class = airglow.log_handlers.airflow.logging_config.LOGGING_CONFIG``
or by provider dispatch on ``remote_base_log_folder = airglow+es://host:port``.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from pathlib import Path
from typing import Any

from airglow.log_handlers.airflow.es_reads import airflow3_lines
from airglow.log_handlers.airflow.settings import es_options
from airglow.log_handlers.airflow.structlog_files import file_of_logger
from airglow.log_handlers.airflow.task_instance import is_finished, try_of
from airglow.log_handlers.elasticsearch.documents import LogEvent
from airglow.log_handlers.elasticsearch.settings import EsLogSettings
from airglow.log_handlers.elasticsearch.task_logs import EsTaskLogs, TryLogWriter
from airglow.log_handlers.errors import LogConfigError, LogHandlerError
from airglow.log_handlers.try_identity import TryIdentity, is_trigger_log, parse_log_path

log = logging.getLogger(__name__)
# Airflow 3 writes this when a try stops without ending (deferral, waiting for human input): no end mark then.
PAUSE_PREFIX = "Pausing task as "


class AirglowEsRemoteLogIO:
    def __init__(
        self, base_log_folder: str | os.PathLike[str], delete_local_copy: bool = False, **options: Any
    ):
        self.base_log_folder = Path(base_log_folder)
        self.delete_local_copy = delete_local_copy
        self.logs = EsTaskLogs(EsLogSettings.build(**options))
        self._writers: dict[Path, TryLogWriter] = {}
        self._current: tuple[Any, TryLogWriter] | None = None  # (logger, its writer): no path work per line
        self._paused: set[TryLogWriter] = set()  # tries that stopped without ending: no end mark
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls) -> AirglowEsRemoteLogIO:
        from airflow.configuration import conf

        return cls(
            base_log_folder=os.path.expanduser(conf.get("logging", "base_log_folder")),
            delete_local_copy=conf.getboolean("logging", "delete_local_logs", fallback=False),
            **es_options(conf),
        )

    @property
    def processors(self) -> tuple[Any, ...]:
        return (self._write_event,)

    def upload(self, path: str | os.PathLike[str], ti: Any = None) -> None:
        """The try's process is done: deliver the rest and mark the end (not after a deferral, and not for a
        trigger's part of the log: the try goes on)."""
        local = (self.base_log_folder / path).resolve()
        with self._lock:
            writer = self._writers.pop(local, None)
            self._current = None
        if writer is None:
            return
        paused = writer in self._paused
        self._paused.discard(writer)
        if writer.finish(ended=not paused and not is_trigger_log(str(path))) and self.delete_local_copy:
            local.unlink(missing_ok=True)

    def read(self, relative_path: str, ti: Any) -> tuple[list[str], list[str]]:
        sources, streams = self.stream(relative_path, ti)
        return sources, ["\n".join(lines) for lines in streams]

    def stream(self, relative_path: str, ti: Any) -> tuple[list[str], list[Any]]:
        identity = parse_log_path(relative_path) or try_of(ti)
        try:
            lines = airflow3_lines(self.logs, identity, follow=is_finished(getattr(ti, "state", None)))
            first = next(lines, None)
        except LogHandlerError as err:
            return [f"Could not read the log from Elasticsearch: {err}"], []
        if first is None:
            return [], []
        return [self.logs.source(identity)], [itertools.chain([first], lines)]

    def _write_event(self, logger: Any, method_name: str, event_dict: Any) -> Any:
        if isinstance(event_dict, dict):
            try:
                writer = self._writer_for(logger)
                if writer is not None:
                    event = LogEvent.from_structlog(event_dict)
                    if event.message.startswith(PAUSE_PREFIX):
                        self._paused.add(writer)
                    writer.write(event)
            except Exception as err:  # a log sink must never fail the task it logs for
                log.warning("task log line not sent to Elasticsearch (the local log keeps it): %s", err)
        return event_dict

    def _writer_for(self, logger: Any) -> TryLogWriter | None:
        """The writer of the file ``logger`` writes to; None for loggers of streams such as stdout."""
        current = self._current
        if current is not None and current[0] is logger:
            return current[1]
        path = file_of_logger(logger)
        if path is None:
            return None
        path = path.resolve()
        with self._lock:
            writer = self._writers.get(path)
            if writer is None:
                writer = self.logs.open_writer(self._identity(path))
                self._writers[path] = writer
            self._current = (logger, writer)
        return writer

    def _identity(self, path: Path) -> TryIdentity:
        try:
            relative = path.relative_to(self.base_log_folder.resolve()).as_posix()
        except ValueError:
            relative = path.as_posix()
        identity = parse_log_path(relative)
        if identity is None:
            raise LogConfigError(
                "log_filename_template",
                f"cannot tell the task try of {relative!r}: keep Airflow's default log_filename_template",
            )
        return identity
