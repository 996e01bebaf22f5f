"""``airglow-es-logs check``: reach the cluster, find the index template, then write, read back and delete
a probe document the way the handlers and the reader do."""

from __future__ import annotations

import time
import uuid
from typing import Any, TextIO

from airglow.log_handlers.checks import Step, run_steps
from airglow.log_handlers.elasticsearch.client import EsError, call
from airglow.log_handlers.elasticsearch.documents import DocumentFactory, LogEvent
from airglow.log_handlers.elasticsearch.index_template import TEMPLATE_NAME
from airglow.log_handlers.elasticsearch.queries import log_query
from airglow.log_handlers.elasticsearch.reader import EsLogReader
from airglow.log_handlers.elasticsearch.settings import EsLogSettings
from airglow.log_handlers.try_identity import TryIdentity


def run_check(settings: EsLogSettings, client: Any, out: TextIO, template: str = TEMPLATE_NAME) -> int:
    factory = DocumentFactory(settings, TryIdentity("airglow-check", "probe", uuid.uuid4().hex, 1, -1))
    probe = factory.line(LogEvent("airglow check probe", time.time_ns()))
    reader = EsLogReader(settings, client)
    target = settings.target_index
    steps = [
        Step("reach the cluster", lambda: call("info", client.info), "the credentials are refused"),
        Step(
            f"find the index template {template}",
            lambda: call("get index template", client.indices.get_index_template, name=template),
            f"install it first: airglow-es-logs install-template (log_id must be a keyword in {target})",
        ),
        Step(
            f"write a probe document to {target}",
            lambda: _write(client, target, probe),
            f"the credentials may not create documents in {target}",
        ),
        Step("read it back", lambda: _read_back(reader, factory.log_id), "the credentials may not search"),
        Step(
            "delete it",
            lambda: call(
                "delete by query",
                client.delete_by_query,
                index=target,
                query=log_query(reader.id_field(), factory.log_id, settings.offset_field),
                refresh=True,
            ),
            f"the credentials may not delete in {target} (the probe stays; only the check needs this)",
        ),
    ]
    return run_steps(f"Elasticsearch at {', '.join(settings.hosts)}", steps, out)


def _write(client: Any, target: str, document: dict[str, Any]) -> None:
    response = call(
        "bulk", client.bulk, index=target, operations=[{"create": {}}, document], refresh="wait_for"
    )
    item = response["items"][0]["create"]
    if item.get("status", 200) >= 300:
        raise EsError("create a document", _Refused(item))


def _read_back(reader: EsLogReader, log_id: str) -> None:
    if not any(line.message == "airglow check probe" for line in reader.lines(log_id)):
        raise EsError("search", LookupError(f"the probe document of {log_id} is not found"))


class _Refused(Exception):
    """A bulk item's refusal, shaped as the client's errors (status and error body) for ``EsError``."""

    def __init__(self, item: dict[str, Any]) -> None:
        super().__init__(item.get("error"))
        self.status_code = item.get("status")
        self.info = {"error": item.get("error", {})}
