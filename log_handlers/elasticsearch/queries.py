"""The only queries Airglow sends: structured term/range/sort bodies, never a query string.

A log is found by a ``term`` on a keyword field holding its exact ``log_id``: no analysis, no wildcard or
query-syntax meaning for quotes, ``*``, ``?`` or JSON in an id (Airflow's ``match_phrase`` on an analysed field
matched other logs whose ids share words).
"""

from __future__ import annotations

from typing import Any


def log_query(id_field: str, log_id: str, offset_field: str, after: int | None = None) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [{"term": {id_field: log_id}}]
    if after is not None:
        filters.append({"range": {offset_field: {"gt": after}}})
    return {"bool": {"filter": filters}}


def by_offset(offset_field: str, order: str = "asc") -> list[dict[str, Any]]:
    return [{offset_field: {"order": order}}]


def tries_query(dag_id: str, task_id: str, run_id: str, map_index: int) -> dict[str, Any]:
    """Every document of one task instance, whatever its try (the ids are keyword fields of their own)."""
    ids = {"dag_id": dag_id, "task_id": task_id, "run_id": run_id, "map_index": map_index}
    return {"bool": {"filter": [{"term": {name: value}} for name, value in ids.items()]}}
