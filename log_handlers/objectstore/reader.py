"""Read a task's remote log back: find its log files, stream their chunks in order, tell if complete."""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from airglow.log_handlers.objectstore.keys import (
    COMPLETE_MARKER,
    ChunkRef,
    is_segment_name,
    log_key,
    parse_chunk,
)
from airglow.log_handlers.objectstore.store import ObjectStore


@dataclass(frozen=True)
class RemoteLogFile:
    """One shipped log file (the task attempt's, or a trigger's): its chunks in order."""

    name: str
    key: str
    chunks: tuple[ChunkRef, ...]
    complete: bool


class RemoteLogReader:
    """Finds and streams the logs one relative path (and its trigger logs) left in the store."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def files(self, relative_path: str) -> list[RemoteLogFile]:
        """The attempt's log first, then its trigger logs (``<name>.trigger.<id>.log``), by name."""
        parent, _, base = log_key(relative_path).rpartition("/")
        grouped: dict[str, list[str]] = {}
        for object_key in self._store.list_keys(parent):
            name, _, rest = (
                object_key[len(parent) + 1 :].partition("/") if parent else object_key.partition("/")
            )
            if name == base or name.startswith(base + "."):
                grouped.setdefault(name, []).append(rest)
        ordered = sorted(grouped, key=lambda name: (name != base, name))
        return [self._describe(f"{parent}/{name}".lstrip("/"), name, grouped[name]) for name in ordered]

    def lines(self, chunks: Iterable[ChunkRef]) -> Iterator[str]:
        """The lines (without newline) of ``chunks``, one after the other, with constant memory."""
        return iter_lines(self._chunk_bytes(chunks))

    def _chunk_bytes(self, chunks: Iterable[ChunkRef]) -> Iterator[bytes]:
        for chunk in chunks:
            yield from self._store.iter_bytes(chunk.key)

    def location(self, log_file: RemoteLogFile) -> str:
        return self._store.location(log_file.key)

    @staticmethod
    def _describe(key: str, name: str, names: list[str]) -> RemoteLogFile:
        chunks: list[ChunkRef] = []
        completed: set[str] = set()
        for relative in names:
            segment, _, leaf = relative.partition("/")
            if not is_segment_name(segment):
                continue
            if leaf == COMPLETE_MARKER:
                completed.add(segment)
            elif (chunk := parse_chunk(segment, leaf, f"{key}/{relative}")) is not None:
                chunks.append(chunk)
        chunks.sort()
        segments = {chunk.segment for chunk in chunks} | completed
        last = max(segments, default=None)
        return RemoteLogFile(name, key, tuple(chunks), last is not None and last in completed)


def iter_lines(blocks: Iterable[bytes]) -> Iterator[str]:
    """Split a byte stream into text lines with constant memory (apart from one line)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    carry = ""
    for block in blocks:
        text = carry + decoder.decode(block)
        *complete, carry = text.split("\n")
        yield from complete
    carry += decoder.decode(b"", final=True)
    if carry:
        yield carry
