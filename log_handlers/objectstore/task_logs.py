"""Shipping and reading of task logs under one base URL: the core the Airflow 2 and 3 adapters share
(``airglow.log_handlers.airflow``) and ``airglow-logs`` reads through; it knows nothing of Airflow."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from airglow.log_handlers.errors import LogHandlerError, StoreError, UnsafeLogPath
from airglow.log_handlers.objectstore.consolidate import consolidate
from airglow.log_handlers.objectstore.credentials import (
    ConnectionLike,
    no_connections,
    storage_options_for,
)
from airglow.log_handlers.objectstore.keys import log_key
from airglow.log_handlers.objectstore.reader import RemoteLogReader
from airglow.log_handlers.objectstore.settings import ObjectStoreLogSettings
from airglow.log_handlers.objectstore.shipper import LogShipper, file_size
from airglow.log_handlers.objectstore.store import ObjectStore

log = logging.getLogger(__name__)

LogStreams = tuple[list[str], list[Iterator[str]]]


class ObjectStoreTaskLogs:
    """Tracks the local log files of running tasks and ships them; streams shipped logs back."""

    def __init__(
        self,
        settings: ObjectStoreLogSettings,
        connection_lookup: Callable[[str], ConnectionLike] = no_connections,
    ) -> None:
        self.settings = settings
        self._connection_lookup = connection_lookup
        self._store: ObjectStore | None = None
        self._shippers: dict[Path, LogShipper] = {}
        self._lock = threading.Lock()

    @classmethod
    def build(
        cls,
        base_log_folder: str | os.PathLike[str],
        remote_base: str,
        delete_local_copy: bool = False,
        conn_id: str | None = None,
        storage_options: dict[str, Any] | None = None,
        connection_lookup: Callable[[str], ConnectionLike] = no_connections,
        **shipping: Any,
    ) -> ObjectStoreTaskLogs:
        """Validate the handler's arguments (as Airflow passes them) once, into settings; ``conn_id`` is
        resolved by ``connection_lookup`` when the store is first used."""
        return cls(
            ObjectStoreLogSettings.build(
                remote_base,
                base_log_folder,
                delete_local_copy=delete_local_copy,
                conn_id=conn_id,
                storage_options=storage_options,
                **shipping,
            ),
            connection_lookup,
        )

    @property
    def store(self) -> ObjectStore:
        """The store, built on first use: that is when the Airflow connection (if any) is available."""
        if self._store is None:
            options = dict(self.settings.storage_options)
            if self.settings.conn_id:
                conn = self._connection_lookup(self.settings.conn_id)
                options = storage_options_for(self.settings.protocol, conn) | options
            self._store = ObjectStore(self.settings.remote_base, options)
        return self._store

    def track(self, local_path: Path) -> None:
        """Start shipping ``local_path`` from its current end (what is there came from earlier segments)."""
        local_path = local_path.resolve()
        if local_path in self._shippers:
            return
        with self._lock:
            if local_path in self._shippers:
                return
            shipper = self._shipper(local_path, start_offset=file_size(local_path))
            shipper.start()
            self._shippers[local_path] = shipper

    def finish(self, local_path: Path) -> bool:
        """Ship the rest of ``local_path`` and mark it complete; never raises. True when complete."""
        try:
            local_path = local_path.resolve()
            with self._lock:
                shipper = self._shippers.pop(local_path, None) or self._shipper(local_path, start_offset=0)
            complete = shipper.close()
        except (LogHandlerError, OSError) as err:
            log.warning("remote log upload of %s failed; the local log is kept: %s", local_path, err)
            return False
        if complete and self.settings.writes_airflow_layout:
            self._consolidate(self.relative_path(local_path))
        if complete and self.settings.delete_local_copy:
            local_path.unlink(missing_ok=True)
        return complete

    def append_line(self, relative_path: str, line: str) -> bool:
        """Add ``line`` at the end of a log as a segment of its own, complete (a note from outside the task,
        such as how its pod ended); retried like a task end. True when it is in the store."""
        with tempfile.TemporaryDirectory(prefix="airglow-note-") as folder:
            note = Path(folder) / "note.log"
            note.write_text(line + "\n", encoding="utf-8")
            shipped = LogShipper(self.store, log_key(relative_path), note, 0, self.settings.policy).close()
        if shipped and self.settings.writes_airflow_layout:
            self._consolidate(relative_path)
        return shipped

    def tail_contains(self, relative_path: str, text: str, tail_bytes: int) -> bool:
        """Whether the last ``tail_bytes`` of the log hold ``text``."""
        reader = RemoteLogReader(self.store)
        name = log_key(relative_path).rpartition("/")[2]
        own = [log_file for log_file in reader.files(relative_path) if log_file.name == name]
        if not own:
            return False
        skip = max(0, own[0].size - tail_bytes)
        return any(text in line for line in reader.lines(own[0], skip=skip))

    def _consolidate(self, relative_path: str) -> None:
        """Airflow's layout for the complete log; a failure only leaves it in chunks, where it is whole too."""
        try:
            consolidate(self.store, relative_path, self.settings.keep_chunks)
        except LogHandlerError as err:
            log.warning("the log %s stays in chunks (Airflow's layout not written): %s", relative_path, err)

    def relative_path(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the base log folder; refuses paths outside it."""
        base = self.settings.base_log_folder.resolve()
        candidate = Path(path)
        resolved = (candidate if candidate.is_absolute() else base / candidate).resolve()
        if not resolved.is_relative_to(base):
            raise UnsafeLogPath(str(path), f"not inside the base log folder {base}")
        return resolved.relative_to(base).as_posix()

    def stream(self, relative_path: str) -> LogStreams:
        """Airflow's ``(sources, streams)``: one line stream per shipped file (attempt log, trigger logs)."""
        reader = RemoteLogReader(self.store)
        files = reader.files(relative_path)
        sources = [reader.location(f) + ("" if f.complete else " (still being written)") for f in files]
        return sources, [_reporting_failures(reader.lines(f)) for f in files]

    def _shipper(self, local_path: Path, start_offset: int) -> LogShipper:
        key = log_key(self.relative_path(local_path))
        return LogShipper(self.store, key, local_path, start_offset, self.settings.policy)


def _reporting_failures(lines: Iterator[str]) -> Iterator[str]:
    """The lines, then, if the store fails mid-read (an object expired, the network dropped), a line that
    says so: the reader sees that the log is cut short instead of an error page or a silent end."""
    try:
        yield from lines
    except StoreError as err:
        log.warning("remote log read cut short: %s", err)
        yield f"*** Airglow: the rest of this log could not be read: {err}"
