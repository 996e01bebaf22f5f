"""Read a task's remote log back: find its log files, stream their parts in order, tell if complete.

A log file is found in any of the layouts a store may hold: Airflow's own (one object at the relative path,
as the stock S3, GCS and WASB handlers write it), Airglow's chunks (as older Airglow versions, or a try
still running or killed, leave them), or both after a consolidation (the whole object, then the chunks of
segments it does not hold yet).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from airglow.log_handlers.errors import StoreError
from airglow.log_handlers.objectstore.keys import (
    COMPLETE_MARKER,
    ChunkRef,
    airflow_key,
    is_segment_name,
    log_key,
    parse_chunk,
    parse_consolidated,
)
from airglow.log_handlers.objectstore.store import ObjectStore

# How often a read follows a log whose chunks were consolidated under it (once is the normal case).
_VANISHED_RETRIES = 3
# How often a lookup lists the two folders of a log again when a consolidation changed them under it.
_SNAPSHOT_ATTEMPTS = 5

_Entries = list[tuple[str, str, int]]


@dataclass(frozen=True)
class Part:
    """One object of a log file, read whole, in order."""

    key: str
    size: int


@dataclass(frozen=True)
class RemoteLogFile:
    """One shipped log file (the task attempt's, or a trigger's): its parts in order.

    ``whole``: the object at Airflow's path, if any; ``chunks``: every chunk object still in the store;
    ``parts``: what to read, the whole object first, then the chunks of segments it does not hold;
    ``pending``: those segments; ``objects``: every key of the chunk layout (chunks and markers).
    """

    name: str
    key: str
    relative_path: str
    parts: tuple[Part, ...]
    complete: bool
    whole: Part | None = None
    chunks: tuple[ChunkRef, ...] = field(default=())
    pending: tuple[str, ...] = field(default=())
    objects: tuple[str, ...] = field(default=())

    @property
    def size(self) -> int:
        return sum(part.size for part in self.parts)


@dataclass
class _Found:
    """What a listing found for one file name: its whole object, and its chunk-layout entries."""

    whole: Part | None = None
    entries: dict[str, int] = field(default_factory=dict)


class RemoteLogReader:
    """Finds and streams the logs one relative path (and its trigger logs) left in the store."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    def files(self, relative_path: str) -> list[RemoteLogFile]:
        """The attempt's log first, then its trigger logs (``<name>.trigger.<id>.log``), by name."""
        chunk_parent, _, base = log_key(relative_path).rpartition("/")
        whole_key = airflow_key(relative_path)
        whole_parent = whole_key.rpartition("/")[0] if whole_key is not None else None
        found: dict[str, _Found] = {}
        chunk_entries, whole_entries = self._snapshot(chunk_parent, whole_parent, base)
        for name, rest, size in chunk_entries:
            if rest:
                found.setdefault(name, _Found()).entries[rest] = size
        for name, rest, size in whole_entries:
            if not rest:
                found.setdefault(name, _Found()).whole = Part(_join(whole_parent or "", name), size)
        ordered = sorted(found, key=lambda name: (name != base, name))
        return [_describe(_join(chunk_parent, name), name, relative_path, found[name]) for name in ordered]

    def lines(self, log_file: RemoteLogFile, skip: int = 0) -> Iterator[str]:
        """The lines (without newline) of ``log_file`` from byte ``skip`` on, with constant memory."""
        return iter_lines(self._bytes(log_file, skip))

    def location(self, log_file: RemoteLogFile) -> str:
        return self._store.location(log_file.whole.key if log_file.whole else log_file.key)

    def _snapshot(self, chunk_parent: str, whole_parent: str | None, base: str) -> tuple[_Entries, _Entries]:
        """The chunk layout's entries and the whole objects' entries as of one moment.

        Two folders take two listings, and a consolidation may run between them. The chunk folder is listed
        before and after the whole objects' folder, until both listings agree: a consolidation changes the
        chunk folder before (markers) and after (removal) it writes the whole object, so an unchanged chunk
        folder means the whole object seen belongs with it."""
        chunks = self._entries(chunk_parent, base)
        if whole_parent is None:
            return chunks, []
        if whole_parent == chunk_parent:
            return chunks, chunks
        for _ in range(_SNAPSHOT_ATTEMPTS):
            wholes = self._entries(whole_parent, base)
            again = self._entries(chunk_parent, base)
            if again == chunks:
                break
            chunks = again
        return chunks, wholes

    def _entries(self, parent: str, base: str) -> _Entries:
        """(file name, key below the file's own key, size) of every object of ``base``'s files."""
        entries = []
        for object_key, size in sorted(self._store.list_objects(parent).items()):
            name, _, rest = (object_key[len(parent) + 1 :] if parent else object_key).partition("/")
            if name == base or name.startswith(base + "."):
                entries.append((name, rest, size))
        return entries

    def _bytes(self, log_file: RemoteLogFile, skip: int) -> Iterator[bytes]:
        """The bytes of ``log_file`` from ``skip`` on. When a chunk vanishes mid-read (the writer just wrote
        the log whole and removed its chunks), the file is looked up again and read on from the same byte:
        the whole object holds the same bytes in the same order."""
        for _ in range(_VANISHED_RETRIES):
            try:
                for block in self._part_bytes(log_file.parts, skip):
                    skip += len(block)
                    yield block
                return
            except StoreError as err:
                again = [f for f in self.files(log_file.relative_path) if f.name == log_file.name]
                whole = again[0].whole if again else None
                if not err.missing or whole is None or whole.size < skip:
                    raise  # gone for another reason (a lifecycle rule): the caller says the log is cut short
                log_file = again[0]
        yield from self._part_bytes(log_file.parts, skip)

    def _part_bytes(self, parts: Iterable[Part], skip: int) -> Iterator[bytes]:
        for part in parts:
            if skip >= part.size:
                skip -= part.size
                continue
            yield from self._store.iter_bytes(part.key, start=skip)
            skip = 0


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def _describe(key: str, name: str, relative_path: str, found: _Found) -> RemoteLogFile:
    chunks: list[ChunkRef] = []
    completed: set[str] = set()
    held: set[str] = set()  # segments the whole object holds: a marker's size is within the object's
    whole_size = found.whole.size if found.whole else -1
    for relative in found.entries:
        segment, _, leaf = relative.partition("/")
        if not is_segment_name(segment):
            continue
        if leaf == COMPLETE_MARKER:
            completed.add(segment)
        elif (size := parse_consolidated(leaf)) is not None:
            if size <= whole_size:
                held.add(segment)
        elif (chunk := parse_chunk(segment, leaf, f"{key}/{relative}")) is not None:
            chunks.append(chunk)
    chunks.sort()
    unread = [chunk for chunk in chunks if chunk.segment not in held]
    segments = {chunk.segment for chunk in unread} | (completed - held)
    last = max(segments, default=None)
    complete = last in completed if last is not None else found.whole is not None
    parts = ([found.whole] if found.whole else []) + [Part(chunk.key, chunk.size) for chunk in unread]
    objects = tuple(f"{key}/{relative}" for relative in sorted(found.entries))
    pending = tuple(sorted({chunk.segment for chunk in unread}))
    return RemoteLogFile(
        name, key, relative_path, tuple(parts), complete, found.whole, tuple(chunks), pending, objects
    )


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
