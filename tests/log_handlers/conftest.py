"""Fixtures of the task-log tests (tests/log_handlers): the object stores, each started once per module when
a test first asks for it. ``python3 -m pytest tests/log_handlers -m "not server and not airflow"`` runs what
needs no store server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.storage_servers import STARTERS, StorageServer, Target, make_target


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[dict[str, StorageServer]]:
    started: dict[str, StorageServer] = {}

    def get(kind: str) -> StorageServer:
        if kind not in started:
            started[kind] = STARTERS[kind](tmp_path_factory.mktemp(kind))
        return started[kind]

    yield get  # type: ignore[misc]
    for server in started.values():
        server.stop()


@pytest.fixture(params=["file", "memory", "s3", "gcs", "azure"])
def target(request, servers, tmp_path) -> Target:
    return make_target(request.param, servers, tmp_path)
