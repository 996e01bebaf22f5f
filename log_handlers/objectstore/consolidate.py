"""Airflow's layout at the end of a segment: the whole log as one object where Airflow's own handler looks.

The steps are ordered so that a reader never loses or repeats a line, whatever step a crash interrupts:

1. mark the segments about to be added ``consolidated.<size>``, ``size`` being the whole object's size
   once it holds them (a reader skips a segment's chunks only when the whole object is at least that big);
2. write the whole object: what it held before, then the chunks of those segments (one upload, streamed);
3. remove the chunk layout: chunks and ``complete`` markers first, the ``consolidated`` markers last.

Chunks of tries that never finished stay until a bucket lifecycle rule expires them (docs/logs-cost.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from airglow.log_handlers.objectstore.keys import airflow_key, consolidated_name, parse_consolidated
from airglow.log_handlers.objectstore.reader import RemoteLogFile, RemoteLogReader
from airglow.log_handlers.objectstore.store import ObjectStore

log = logging.getLogger(__name__)


def consolidate(store: ObjectStore, relative_path: str, keep_chunks: bool = False) -> RemoteLogFile | None:
    """Write the log at ``relative_path`` whole at its Airflow key and, unless ``keep_chunks``, remove its
    chunk layout. Returns the log as it was before, or None when there was none. Raises StoreError."""
    whole_key = airflow_key(relative_path)
    if whole_key is None:
        log.info("log path %r is not safe unencoded; it stays in chunks only", relative_path)
        return None
    name = whole_key.rpartition("/")[2]
    log_file = next((f for f in RemoteLogReader(store).files(relative_path) if f.name == name), None)
    if log_file is None:
        return None
    new_markers = [
        f"{log_file.key}/{segment}/{consolidated_name(log_file.size)}" for segment in log_file.pending
    ]
    for key in new_markers:
        store.put(key, b"")
    if log_file.pending:
        store.put_stream(whole_key, _blocks(store, log_file))
    if not keep_chunks:
        objects = set(log_file.objects) | set(new_markers)
        markers = {key for key in objects if parse_consolidated(key.rpartition("/")[2]) is not None}
        store.delete(sorted(objects - markers))
        store.delete(sorted(markers))
    return log_file


def _blocks(store: ObjectStore, log_file: RemoteLogFile) -> Iterator[bytes]:
    for part in log_file.parts:
        yield from store.iter_bytes(part.key)
