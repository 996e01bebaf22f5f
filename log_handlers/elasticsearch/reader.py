"""Read a task log back: exact ``log_id``, offset order, ``search_after`` pages, a bounded end.

Memory stays constant whatever the log's length: one page (``page_size`` documents) is held at a time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from airglow.log_handlers.elasticsearch.client import call
from airglow.log_handlers.elasticsearch.documents import END_MARK
from airglow.log_handlers.elasticsearch.queries import by_offset, log_query, tries_query
from airglow.log_handlers.elasticsearch.settings import EsLogSettings
from airglow.log_handlers.timestamps import parse_timestamp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LogLine:
    offset: int
    source: dict[str, Any]

    @property
    def message(self) -> str:
        return str(self.source.get("message", self.source.get("event", "")))


@dataclass
class Progress:
    """Where a reader got to in one log: the last offset read and whether the log ended there."""

    offset: int | None = None
    ended: bool = False
    lines: int = 0
    last_time: float = 0.0


class EsLogReader:
    def __init__(self, settings: EsLogSettings, client: Any, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._client = client
        self._clock = clock
        self._id_field: str | None = None

    @property
    def index(self) -> str:
        return ",".join(self.settings.index_patterns)

    def id_field(self) -> str:
        """``log_id`` when it is a keyword (Airglow's index template); ``log_id.keyword`` on an index that
        Elasticsearch mapped dynamically (``log_id`` is then analysed text, useless for an exact match)."""
        if self._id_field is None:
            response = call(
                "get field mapping",
                self._client.indices.get_field_mapping,
                index=self.index,
                fields="log_id,log_id.keyword",
                ignore_unavailable=True,
                allow_no_indices=True,
            )
            types = {
                name: next(iter(mapping["mapping"].values())).get("type")
                for index in response.body.values()
                for name, mapping in index.get("mappings", {}).items()
            }
            keyword = types.get("log_id") == "keyword" or "log_id.keyword" not in types
            if not types:  # no index maps log_id yet: look again next time
                return "log_id"
            self._id_field = "log_id" if keyword else "log_id.keyword"
        return self._id_field

    def lines(self, log_id: str, after: int | None = None, limit: int | None = None) -> Iterator[LogLine]:
        """Every document of ``log_id`` with an offset above ``after``, in offset order, page by page, each
        offset once: a shipper that lets Elasticsearch make the ids (a data stream) stores a retried batch
        twice, and a log's offsets only ever grow, so a repeated offset is such a copy."""
        offset_field = self.settings.offset_field
        search_after: list[Any] | None = None
        remaining = limit
        last = after
        while remaining is None or remaining > 0:
            size = self.settings.page_size if remaining is None else min(remaining, self.settings.page_size)
            page = self._page(log_id, after, search_after, size)
            for hit in page:
                offset = int(hit["_source"][offset_field])
                if last is None or offset > last:
                    last = offset
                    yield LogLine(offset, hit["_source"])
            if len(page) < size:
                return
            search_after = page[-1]["sort"]
            remaining = None if remaining is None else remaining - len(page)

    def count(self, log_id: str) -> int:
        query = log_query(self.id_field(), log_id, self.settings.offset_field)
        response = call("count", self._client.count, index=self.index, query=query, ignore_unavailable=True)
        return int(response["count"])

    def latest_try(self, dag_id: str, task_id: str, run_id: str, map_index: int) -> int | None:
        """The highest try of a task instance with a document in the read indices, or None."""
        response = call(
            "search",
            self._client.search,
            index=self.index,
            query=tries_query(dag_id, task_id, run_id, map_index),
            # unmapped_type: an index of other documents (no try_number mapped) sorts, rather than fails.
            sort=[{"try_number": {"order": "desc", "unmapped_type": "integer"}}],
            size=1,
            track_total_hits=False,
            ignore_unavailable=True,
        )
        hits = response["hits"]["hits"]
        return int(hits[0]["_source"]["try_number"]) if hits else None

    def highest_offset(self, log_id: str) -> int:
        tail = self.tail(log_id, 1)
        return tail[0].offset if tail else 0

    def tail(self, log_id: str, count: int) -> list[LogLine]:
        """The last ``count`` documents of ``log_id``, the last first."""
        offset_field = self.settings.offset_field
        return [
            LogLine(int(hit["_source"][offset_field]), hit["_source"])
            for hit in self._page(log_id, None, None, count, order="desc")
        ]

    def is_end(self, line: LogLine) -> bool:
        """Airglow's end mark, or the mark Airflow's own handler writes (the bare ``end_of_log_mark``)."""
        return line.source.get("mark") == END_MARK or line.message.strip() == self.settings.end_of_log_mark

    def follow(
        self, log_id: str, task_finished: Callable[[], bool], progress: Progress | None = None
    ) -> Iterator[LogLine]:
        """Lines as they arrive until the log is complete: its end mark is the last line, or the task is
        finished and nothing new arrived for ``end_of_log_timeout`` (a lost mark never makes this hang)."""
        progress = progress or Progress()
        quiet_since: float | None = None
        while True:
            arrived = False
            for line in self.lines(log_id, after=progress.offset):
                progress.offset, progress.ended = line.offset, self.is_end(line)
                progress.lines += 1
                progress.last_time = _epoch(line.source.get("@timestamp"))
                arrived = True
                yield line
            if progress.ended:
                return
            quiet_since = self._quiet_since(quiet_since, arrived, progress)
            if self.quiet_for_long(quiet_since) and task_finished():
                progress.ended = True
                return
            time.sleep(self.settings.poll_interval)

    def _quiet_since(self, previous: float | None, arrived: bool, progress: Progress) -> float:
        """On the first look, the time of the last line stored (an old log of a finished task ends at
        once); afterwards, when new lines last arrived."""
        if previous is None:
            return self._clock() if not progress.lines else min(self._clock(), progress.last_time)
        return self._clock() if arrived else previous

    def quiet_for_long(self, quiet_since: float) -> bool:
        """Quiet for ``end_of_log_timeout``: a finished task's log without an end mark ends here."""
        return self._clock() - quiet_since >= self.settings.end_of_log_timeout

    def _page(
        self, log_id: str, after: int | None, search_after: list[Any] | None, size: int, order: str = "asc"
    ) -> list[dict[str, Any]]:
        offset_field = self.settings.offset_field
        extra = {"search_after": search_after} if search_after is not None else {}
        response = call(
            "search",
            self._client.search,
            index=self.index,
            query=log_query(self.id_field(), log_id, offset_field, after),
            sort=by_offset(offset_field, order),
            size=size,
            track_total_hits=False,
            ignore_unavailable=True,
            **extra,
        )
        return response["hits"]["hits"]


def _epoch(stamp: Any) -> float:
    moment = parse_timestamp(stamp) if isinstance(stamp, str) else None
    return moment.timestamp() if moment is not None else 0.0
