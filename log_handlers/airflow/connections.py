"""Airflow connections for the object stores (``[logging] remote_log_conn_id``), looked up the way the
running Airflow does it, and the object-store core as Airflow's handlers configure it."""

from __future__ import annotations

import os
from typing import Any

from airglow.log_handlers.errors import LogConfigError
from airglow.log_handlers.objectstore.credentials import ConnectionLike
from airglow.log_handlers.objectstore.task_logs import ObjectStoreTaskLogs


def object_store_logs(
    base_log_folder: str | os.PathLike[str],
    remote_base: str,
    delete_local_copy: bool,
    conn_id: str | None,
    storage_options: dict[str, Any] | None,
    shipping: dict[str, Any],
) -> ObjectStoreTaskLogs:
    """The handler's arguments (as Airflow passes them), validated once; ``conn_id`` is looked up in Airflow."""
    return ObjectStoreTaskLogs.build(
        base_log_folder,
        remote_base,
        delete_local_copy,
        conn_id,
        storage_options,
        airflow_connection,
        **shipping,
    )


def airflow_connection(conn_id: str) -> ConnectionLike:
    """The connection through Airflow's own lookup (Task SDK first, then Airflow 2's BaseHook)."""
    try:
        from airflow.sdk import BaseHook
    except ImportError:
        try:
            from airflow.hooks.base import BaseHook
        except ImportError as err:
            raise LogConfigError("remote_log_conn_id", "set, but Airflow is not installed") from err
    try:
        return BaseHook.get_connection(conn_id)
    except Exception as err:
        raise LogConfigError(
            "remote_log_conn_id", f"connection {conn_id!r} not found: {type(err).__name__}"
        ) from None
