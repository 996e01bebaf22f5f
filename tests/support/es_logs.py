"""Task logs in Elasticsearch, written and read back through Airglow's core against the stand-in server."""

from __future__ import annotations

import time

from airglow.log_handlers.elasticsearch.documents import LogEvent
from airglow.log_handlers.elasticsearch.index_template import install
from airglow.log_handlers.elasticsearch.settings import EsLogSettings
from airglow.log_handlers.elasticsearch.task_logs import EsTaskLogs, TryLogWriter
from airglow.log_handlers.try_identity import TryIdentity
from support.es_server import EsServer

TRY = TryIdentity("etl", "load", "manual__2026-11-21T00:00:00+00:00", 1)
ES_OPTIONS = {"writer": "bulk", "deployment": "prod", "end_of_log_timeout": 2, "poll_interval": 0.1}


def task_logs(es: EsServer, template: bool = True, **options) -> EsTaskLogs:
    settings = EsLogSettings.build(hosts=es.url, **(ES_OPTIONS | options))
    logs = EsTaskLogs(settings)
    if template:
        install(logs.client, settings)
    return logs


def write_lines(writer: TryLogWriter, texts: list[str], time_ns: int | None = None) -> None:
    for text in texts:
        writer.write(LogEvent(text, time_ns if time_ns is not None else time.time_ns()))


def read_messages(logs: EsTaskLogs, identity: TryIdentity = TRY) -> list[str]:
    logs.client.indices.refresh(index=",".join(logs.settings.index_patterns))
    reader = logs.reader()
    lines = list(reader.lines(logs.log_id(identity)))
    offsets = [line.offset for line in lines]
    assert offsets == sorted(set(offsets)), "offsets must be unique and come back in order"
    return [line.message for line in lines]
