"""Object names of remote task logs: deterministic, and never outside the configured prefix.

A log's relative path (rendered by Airflow from dag, run, task, map index and try) is split on ``/`` and
each component is percent-encoded over a small safe alphabet. ``..``, absolute paths, ``%2e%2e``-style
tricks and unicode look-alikes (``．．``, ``∕``) therefore become literal, inert components; the key is then
checked to sit under the prefix as a second line of defence.

Layout under ``<remote base URL>/<encoded relative path>/``::

    <segment>/<start>-<end>.chunk   bytes [start, end) of the local file, whole lines only
    <segment>/complete              the writer shipped everything and closed the segment
    <segment>/consolidated.<size>   the segment's bytes are in the whole object (below) once that object
                                    holds ``size`` bytes; its chunks may then go

A *segment* is one writer's run over the file (a deferred task resumes as a new segment); segments are
numbered in the order they start, chunks are ordered by their offsets.

When a segment closes, the whole log is also written as one object at ``<remote base URL>/<relative path>``
(the *Airflow key*: the path Airflow's own S3, GCS and WASB handlers use, unencoded), and its chunks are
removed. The Airflow key is only used when the raw path is as safe as the encoded one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from airglow.log_handlers.errors import UnsafeLogPath

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=~.")
_CHUNK_NAME = re.compile(r"^(\d{16})-(\d{16})\.chunk$")
_SEGMENT_NAME = re.compile(r"^\d{6}$")
COMPLETE_MARKER = "complete"
_CONSOLIDATED_NAME = re.compile(r"^consolidated\.(\d{16})$")
MAX_RELATIVE_PATH = 1024


def encode_component(component: str) -> str:
    """Percent-encode one path component; ``.`` and ``..`` are encoded whole so they stay inert."""
    if component in (".", ".."):
        return "".join(f"%{byte:02X}" for byte in component.encode())
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in component.encode("utf-8"))


def encode_relative_path(relative_path: str) -> str:
    """Encode an Airflow-rendered relative log path into a key suffix; refuse empty or oversized paths."""
    if not relative_path or len(relative_path) > MAX_RELATIVE_PATH:
        raise UnsafeLogPath(relative_path[:80], f"a log path must have 1 to {MAX_RELATIVE_PATH} characters")
    if "\x00" in relative_path:
        raise UnsafeLogPath(relative_path, "NUL byte in path")
    components = [c for c in relative_path.split("/") if c]
    if not components:
        raise UnsafeLogPath(relative_path, "path has no component")
    return "/".join(encode_component(c) for c in components)


def log_key(relative_path: str) -> str:
    """The key (relative to the store's base URL) under which one log file's segments live."""
    key = encode_relative_path(relative_path)
    if key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        raise UnsafeLogPath(relative_path, "the object key would leave the configured prefix")
    return key


def airflow_key(relative_path: str) -> str | None:
    """The key Airflow's stock handlers use for ``relative_path`` (the path itself), or None when a raw
    component could be read as a traversal or a control sequence (the log then keeps only its chunks)."""
    log_key(relative_path)  # the same length and NUL checks
    components = relative_path.split("/")
    if any(not c or c in (".", "..") or not c.isprintable() or "\\" in c for c in components):
        return None
    return relative_path


def segment_name(index: int) -> str:
    return f"{index:06d}"


def is_segment_name(name: str) -> bool:
    return bool(_SEGMENT_NAME.match(name))


def chunk_name(start: int, end: int) -> str:
    return f"{start:016d}-{end:016d}.chunk"


@dataclass(frozen=True, order=True)
class ChunkRef:
    """One chunk object: its place in the log (segment, start, end) and its key."""

    segment: str
    start: int
    end: int
    key: str

    @property
    def size(self) -> int:
        return self.end - self.start


def consolidated_name(whole_size: int) -> str:
    return f"consolidated.{whole_size:016d}"


def parse_consolidated(name: str) -> int | None:
    """The whole-object size a ``consolidated`` marker names, or None for other names."""
    match = _CONSOLIDATED_NAME.match(name)
    return int(match.group(1)) if match else None


def parse_chunk(segment: str, name: str, key: str) -> ChunkRef | None:
    """The chunk an object name denotes, or None for markers and foreign objects."""
    match = _CHUNK_NAME.match(name)
    if not match:
        return None
    return ChunkRef(segment, int(match.group(1)), int(match.group(2)), key)
