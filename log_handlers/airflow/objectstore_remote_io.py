"""Airflow 3's ``RemoteLogIO`` over Airglow's object-store task logs.

Airflow builds it either from a ``[logging] logging_config_class`` module that exposes ``REMOTE_TASK_LOG``
(see ``airglow.log_handlers.airflow.logging_config``) or, through provider dispatch on the URL scheme of
``remote_base_log_folder`` (``airglow+s3://…``), by calling ``from_config``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from airglow.log_handlers.airflow.connections import object_store_logs
from airglow.log_handlers.airflow.settings import remote_task_handler_kwargs
from airglow.log_handlers.airflow.structlog_files import file_of_logger
from airglow.log_handlers.errors import LogHandlerError
from airglow.log_handlers.objectstore.task_logs import LogStreams

log = logging.getLogger(__name__)


class AirglowRemoteLogIO:
    """Ships the task log while the task runs (``processors``), at task end (``upload``); reads it back."""

    def __init__(
        self,
        base_log_folder: str | os.PathLike[str],
        remote_base: str,
        delete_local_copy: bool = False,
        conn_id: str | None = None,
        storage_options: dict[str, Any] | None = None,
        **shipping: Any,
    ) -> None:
        self.logs = object_store_logs(
            base_log_folder, remote_base, delete_local_copy, conn_id, storage_options, shipping
        )
        self._tracked_logger: object = None

    @classmethod
    def from_config(cls) -> AirglowRemoteLogIO:
        """Build from Airflow's ``[logging]`` settings (``remote_task_handler_kwargs`` tune shipping)."""
        from airflow.configuration import conf

        return cls(
            base_log_folder=os.path.expanduser(conf.get("logging", "base_log_folder")),
            remote_base=conf.get("logging", "remote_base_log_folder"),
            delete_local_copy=conf.getboolean("logging", "delete_local_logs", fallback=False),
            conn_id=conf.get("logging", "remote_log_conn_id", fallback=None),
            **remote_task_handler_kwargs(conf),
        )

    @property
    def processors(self) -> tuple[Any, ...]:
        """A structlog processor that starts shipping the file the task log is written to."""
        try:
            self.logs.store  # noqa: B018 - resolve the Airflow connection while Airflow has it in scope
        except LogHandlerError as err:
            log.warning("remote log store unavailable, will retry when shipping: %s", err)
        return (self._ship_file_of,)

    def upload(self, path: str | os.PathLike[str], ti: Any = None) -> None:
        """Ship the rest of the log and mark it complete; a failure is logged, never raised to Airflow."""
        self.logs.finish(self.logs.settings.base_log_folder / path)

    def read(self, relative_path: str, ti: Any) -> tuple[list[str], list[str]]:
        """Legacy read: each shipped file as one string."""
        sources, streams = self.stream(relative_path, ti)
        return sources, ["\n".join(lines) for lines in streams]

    def stream(self, relative_path: str, ti: Any) -> LogStreams:
        """One line stream per shipped file, read with constant memory."""
        try:
            return self.logs.stream(relative_path)
        except LogHandlerError as err:
            return [f"Could not read remote logs: {err}"], []

    def _ship_file_of(self, logger: Any, method_name: str, event_dict: Any) -> Any:
        if logger is not self._tracked_logger:
            self._tracked_logger = logger
            path = file_of_logger(logger)
            if path is not None:
                try:
                    self.logs.track(path)
                except LogHandlerError as err:
                    log.warning("remote log shipping not started: %s", err)
        return event_dict
