"""Airflow 3's ``RemoteLogIO`` over Airglow's Elasticsearch task logs.

Lines leave as Airflow logs them (a structlog processor in the supervisor), not at task end: a killed pod
loses at most what the sink had not delivered yet (Airflow's own handler wrote nothing before the task ended,
apache/airflow#54501). Built from ``[logging] logging_config_class = airglow.log_handlers.logging_config.LOGGING_CONFIG``
or by provider dispatch on ``remote_base_log_folder = airglow+es://host:port``.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airglow.log_handlers.elasticsearch.documents import LogEvent
from airglow.log_handlers.elasticsearch.log_id import TryIdentity, is_trigger_log
from airglow.log_handlers.elasticsearch.settings import ES_SCHEME, EsLogSettings
from airglow.log_handlers.elasticsearch.task_logs import EsTaskLogs, TryLogWriter, is_finished
from airglow.log_handlers.errors import LogConfigError, LogHandlerError
from airglow.log_handlers.structlog_files import file_of_logger

log = logging.getLogger(__name__)
# Airflow's [elasticsearch] options that Airglow honours, under Airglow's names.
_AIRFLOW_OPTIONS = {
    "host": "hosts",
    "target_index": "target_index",
    "index_patterns": "index_patterns",
    "log_id_template": "log_id_template",
    "end_of_log_mark": "end_of_log_mark",
    "frontend": "frontend",
    "host_field": "host_field",
    "offset_field": "offset_field",
}


class AirglowEsRemoteLogIO:
    def __init__(
        self, base_log_folder: str | os.PathLike[str], delete_local_copy: bool = False, **options: Any
    ):
        self.base_log_folder = Path(base_log_folder)
        self.delete_local_copy = delete_local_copy
        self.logs = EsTaskLogs(EsLogSettings.build(**options))
        self._writers: dict[Path, TryLogWriter] = {}
        self._current: tuple[Any, TryLogWriter] | None = None  # (logger, its writer): no path work per line
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
        if writer.finish(ended=not is_trigger_log(str(path))) and self.delete_local_copy:
            local.unlink(missing_ok=True)

    def read(self, relative_path: str, ti: Any) -> tuple[list[str], list[str]]:
        sources, streams = self.stream(relative_path, ti)
        return sources, ["\n".join(lines) for lines in streams]

    def stream(self, relative_path: str, ti: Any) -> tuple[list[str], list[Any]]:
        identity = TryIdentity.from_log_path(relative_path) or TryIdentity.of(ti)
        finished = is_finished(getattr(ti, "state", None))
        try:
            lines = self.logs.stream(identity, task_finished=finished)
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
                    writer.write(LogEvent.from_structlog(event_dict))
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
        identity = TryIdentity.from_log_path(relative)
        if identity is None:
            raise LogConfigError(
                "log_filename_template",
                f"cannot tell the task try of {relative!r}: keep Airflow's default log_filename_template",
            )
        return identity


def es_options(conf: Any) -> dict[str, Any]:
    """Airglow's options from Airflow's configuration: ``[elasticsearch]``, the netloc of an
    ``airglow+es://host:port`` remote base, ``[elasticsearch_configs]`` (client options) and
    ``[logging] remote_task_handler_kwargs`` (Airglow's own options), later ones winning."""
    options: dict[str, Any] = {}
    # What the user set (file or environment), not provider defaults (Airflow 3 defaults index_patterns to
    # _all); Airflow 2 leaves out the environment when the section is not in any file.
    configured = conf.getsection("elasticsearch") or {}
    for airflow_name, name in _AIRFLOW_OPTIONS.items():
        value = configured.get(airflow_name) or os.environ.get(
            f"AIRFLOW__ELASTICSEARCH__{airflow_name.upper()}"
        )
        if value:
            options[name] = value
    remote = urlsplit(conf.get("logging", "remote_base_log_folder", fallback="") or "")
    if remote.scheme == ES_SCHEME and remote.netloc:
        options["hosts"] = f"http://{remote.netloc}"
    if conf.has_section("elasticsearch_configs"):
        options["client_options"] = _typed(dict(conf.getsection("elasticsearch_configs") or {}))
    kwargs = conf.getjson("logging", "remote_task_handler_kwargs", fallback={}) or {}
    if not isinstance(kwargs, dict):
        raise LogConfigError("remote_task_handler_kwargs", "must be a JSON object")
    return options | kwargs


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    """airflow.cfg strings for the client: booleans and numbers as such (``verify_certs = False``)."""
    typed: dict[str, Any] = {}
    for key, value in values.items():
        text = str(value).strip()
        if text.lower() in ("true", "false"):
            typed[key] = text.lower() == "true"
        elif text.replace(".", "", 1).isdigit():
            typed[key] = float(text) if "." in text else int(text)
        else:
            typed[key] = value
    return typed
