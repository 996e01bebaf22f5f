"""Airflow connections for the object stores (``[logging] remote_log_conn_id``), looked up the way the
running Airflow does it."""

from __future__ import annotations

from airglow.log_handlers.errors import LogConfigError
from airglow.log_handlers.objectstore.credentials import ConnectionLike


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
