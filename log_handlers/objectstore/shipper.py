"""Ship a growing local log file as immutable chunk objects while the task runs.

Never a read-modify-write: each tick writes the new whole lines as one object named by its byte range.
A range is pinned at its first attempt, so a retry after a failure re-sends exactly the same bytes under
the same name: nothing is duplicated, and a late success of an earlier attempt cannot leave a gap.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from airglow.log_handlers.errors import StoreError
from airglow.log_handlers.objectstore.keys import COMPLETE_MARKER, chunk_name, is_segment_name, segment_name
from airglow.log_handlers.objectstore.store import ObjectStore
from airglow.log_handlers.retry import backoff_delay, retry_until

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShippingPolicy:
    """How eagerly and how persistently a log leaves the pod.

    ``interval``: the longest a written line waits before it is shipped (a SIGKILL loses at most that);
    the shipper looks every half interval so that the upload itself fits inside the bound.
    ``final_timeout``: how long task end keeps retrying an unreachable store before giving up (the local
    file is then kept).
    """

    interval: float = 5.0
    max_chunk_bytes: int = 8 << 20
    final_timeout: float = 60.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0

    def backoff(self, failures: int) -> float:
        return backoff_delay(failures, self.backoff_initial, self.backoff_max)


@dataclass(frozen=True)
class _Range:
    """Bytes [start, end) of the file, read once and re-sent unchanged on every retry."""

    start: int
    end: int
    data: bytes


class LogShipper:
    """Ships one local file (from ``start_offset`` on) as one segment of the log at ``key``."""

    def __init__(
        self,
        store: ObjectStore,
        key: str,
        local_path: Path,
        start_offset: int,
        policy: ShippingPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._key = key
        self._path = local_path
        self._offset = start_offset
        self._policy = policy
        self._clock = clock
        self._segment: str | None = None
        self._pending: _Range | None = None
        self._failures = 0
        self._permanent: StoreError | None = None
        self._retry_at = 0.0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Ship in the background until ``close``."""
        self._thread = threading.Thread(
            target=self._run, name=f"airglow-log-shipper:{self._key}", daemon=True
        )
        self._thread.start()

    def ship_available(self) -> bool:
        """Ship every whole line written so far; False (and a later retry) when the store failed."""
        with self._lock:
            if self._clock() < self._retry_at:
                return False
            return self._attempt(final=False)

    def close(self) -> bool:
        """Ship the rest (a last line without newline included) and mark the segment complete.

        Retries a transient failure with backoff for at most ``final_timeout``, a permanent one (no bucket,
        access denied) not at all; never raises. True when the remote log is complete, False when it is not
        (the local file must then be kept).
        """
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if (
                retry_until(
                    lambda: self._attempt(final=True) or self._permanent is not None,
                    self._policy.final_timeout,
                    self._policy.backoff,
                    self._clock,
                )
                and self._permanent is None
            ):
                return True
        if self._permanent is None:
            log.warning(
                "remote log %s incomplete after %.0fs of retries; the local log %s is kept",
                self._store.location(self._key),
                self._policy.final_timeout,
                self._path,
            )
        return False

    def _run(self) -> None:
        while not self._stopped.wait(self._policy.interval / 2):
            try:
                self.ship_available()
            except Exception:
                log.exception("remote log shipping of %s failed unexpectedly; retrying", self._path)

    def _attempt(self, final: bool) -> bool:
        """Ship what is there (and at ``final``, mark the segment complete); False after a failure."""
        try:
            while self._next_range(final) is not None:
                self._ship_pending()
            if final:
                self._mark_complete()
        except StoreError as err:
            self._failed(err)
            return False
        except OSError as err:
            log.warning("remote log shipping of %s failed, will retry: %s", self._path, err)
            self._failures += 1
            self._retry_at = self._clock() + self._policy.backoff(self._failures)
            return False
        self._failures, self._permanent = 0, None
        return True

    def _failed(self, err: StoreError) -> None:
        """A transient failure is retried with backoff and logged each time; a permanent one is logged once
        (until it changes), and retried only at the slowest pace in case someone fixes the store."""
        self._failures += 1
        if err.configuration:
            if self._permanent is None or str(self._permanent) != str(err):
                log.error(
                    "remote logging of %s cannot work as configured: %s. The local log is kept; not retrying "
                    "before %.0fs. Check the settings with: airglow-logs check",
                    self._path,
                    err,
                    self._policy.backoff_max,
                )
            self._permanent = err
            self._retry_at = self._clock() + self._policy.backoff_max
            return
        self._retry_at = self._clock() + self._policy.backoff(self._failures)
        log.warning("remote log shipping failed (attempt %d), will retry: %s", self._failures, err)

    def _next_range(self, final: bool) -> _Range | None:
        """The pinned range if one is in flight, else the next whole lines of the file, else None."""
        if self._pending is not None:
            return self._pending
        size = self._path.stat().st_size
        if size < self._offset:
            log.warning("local log %s shrank below what was shipped; starting a new segment", self._path)
            self._segment, self._offset = None, 0
        window = self._policy.max_chunk_bytes
        data = self._read(self._offset, min(size, self._offset + window))
        if not final or self._offset + len(data) < size:
            data = _whole_lines(data, window_full=len(data) == window)
        if not data:
            return None
        self._pending = _Range(self._offset, self._offset + len(data), data)
        return self._pending

    def _ship_pending(self) -> None:
        assert self._pending is not None
        segment = self._segment or self._open_segment()
        pending = self._pending
        self._store.put(f"{self._key}/{segment}/{chunk_name(pending.start, pending.end)}", pending.data)
        self._offset, self._pending = pending.end, None

    def _open_segment(self) -> str:
        """Number this writer's segment after every segment already in the store."""
        existing = {key[len(self._key) + 1 :].split("/", 1)[0] for key in self._store.list_keys(self._key)}
        numbers = [int(name) for name in existing if is_segment_name(name)]
        self._segment = segment_name(max(numbers, default=-1) + 1)
        return self._segment

    def _mark_complete(self) -> None:
        if self._segment is None:
            return
        marker = json.dumps({"end": self._offset, "closed_at": time.time()}).encode()
        self._store.put(f"{self._key}/{self._segment}/{COMPLETE_MARKER}", marker)

    def _read(self, start: int, end: int) -> bytes:
        with open(self._path, "rb") as handle:
            handle.seek(start)
            return handle.read(end - start)


def _whole_lines(data: bytes, window_full: bool) -> bytes:
    """The longest prefix of ``data`` ending in a newline; all of a full window without one (a huge line)."""
    cut = data.rfind(b"\n") + 1
    return data[:cut] if cut or not window_full else data


def file_size(path: Path) -> int:
    """Current size of ``path``, 0 when it does not exist yet."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0
