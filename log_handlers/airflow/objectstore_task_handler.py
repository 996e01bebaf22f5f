"""Airflow 2's task handler over Airglow's object-store task logs (``logging_config_class``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.utils.log.file_task_handler import FileTaskHandler

from airglow.log_handlers.airflow.connections import object_store_logs


class AirglowTaskHandler(FileTaskHandler):
    """Writes the local file as FileTaskHandler does, ships it every interval from a thread, reads it back."""

    def __init__(
        self,
        base_log_folder: str,
        remote_base: str,
        delete_local_copy: bool = False,
        conn_id: str | None = None,
        storage_options: dict[str, Any] | None = None,
        shipping: dict[str, Any] | None = None,
        **file_handler_kwargs: Any,
    ) -> None:
        super().__init__(base_log_folder, **file_handler_kwargs)
        self.logs = object_store_logs(
            base_log_folder, remote_base, delete_local_copy, conn_id, storage_options, shipping or {}
        )
        self._shipping_path: Path | None = None
        self._closed = False

    def set_context(self, ti: Any, *, identifier: str | None = None) -> Any:
        result = super().set_context(ti, identifier=identifier)
        # The supervising ``airflow tasks run --local`` process (not ``--raw``) writes the file first and last
        # and outlives the raw task process, so it ships; the raw process would ship a second, partial copy.
        owns_file = not getattr(ti, "raw", False) or getattr(ti, "is_trigger_log_context", False)
        if owns_file and self.handler is not None:
            self._shipping_path = Path(self.handler.baseFilename)
            self.logs.track(self._shipping_path)
        return result

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        if self._shipping_path is not None:
            self.logs.finish(self._shipping_path)
        self._closed = True

    def _read_remote_logs(self, ti: Any, try_number: int, metadata: dict[str, Any] | None = None):
        relative_path = self._render_filename(ti, try_number)
        sources, streams = self.logs.stream(relative_path)
        return sources, ["\n".join(lines) for lines in streams]
