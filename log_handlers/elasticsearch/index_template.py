"""The index template for task logs: exact-match ids, numeric offsets, no mapping conflicts from extras."""

from __future__ import annotations

from typing import Any

from airglow.log_handlers.elasticsearch.client import call
from airglow.log_handlers.elasticsearch.settings import EsLogSettings

TEMPLATE_NAME = "airglow-task-logs"


def index_template(settings: EsLogSettings, data_stream: bool = False) -> dict[str, Any]:
    """The ``_index_template`` body for the settings' write target (and patterns that read it)."""
    keyword = {"type": "keyword"}
    properties: dict[str, Any] = {
        "@timestamp": {"type": "date_nanos"},
        "log_id": {"type": "keyword"},
        settings.offset_field: {"type": "long"},
        settings.host_field: keyword,
        "deployment": keyword,
        "dag_id": keyword,
        "task_id": keyword,
        "run_id": keyword,
        "map_index": {"type": "integer"},
        "try_number": {"type": "integer"},
        "level": keyword,
        "logger": keyword,
        "message": {"type": "text"},
        "mark": keyword,
        # Whatever else a task logs: kept in _source, never mapped, so it cannot conflict with a field type.
        "extra": {"type": "object", "enabled": False},
    }
    body: dict[str, Any] = {
        "index_patterns": [settings.target_index + ("*" if not data_stream else "")],
        "priority": 200,
        "template": {
            "settings": {"index": {"sort.field": [settings.offset_field], "sort.order": ["asc"]}},
            "mappings": {"dynamic": "false", "properties": properties},
        },
        "_meta": {"managed_by": "airglow", "description": "Airflow task logs written by Airglow"},
    }
    if data_stream:
        body["data_stream"] = {}
    return body


def install(
    client: Any, settings: EsLogSettings, name: str = TEMPLATE_NAME, data_stream: bool = False
) -> dict:
    body = index_template(settings, data_stream)
    call("put index template", client.indices.put_index_template, name=name, **body)
    return body
