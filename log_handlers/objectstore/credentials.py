"""fsspec storage options from a connection (an Airflow connection, ``[logging] remote_log_conn_id``, as
``airglow.log_handlers.airflow.connections`` looks it up).

Without a connection, fsspec's backends find credentials where their SDKs look (environment variables,
instance/workload identity, ``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_STORAGE_CONNECTION_STRING``…).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from airglow.log_handlers.errors import LogConfigError


class ConnectionLike(Protocol):
    conn_type: str | None
    login: str | None
    password: str | None
    host: str | None

    @property
    def extra_dejson(self) -> dict[str, Any]: ...


def no_connections(conn_id: str) -> ConnectionLike:
    """The lookup of a store used outside Airflow: a connection id cannot be resolved there."""
    raise LogConfigError("remote_log_conn_id", f"{conn_id!r} is set, but no Airflow is there to look it up")


def storage_options_for(protocol: str, conn: ConnectionLike) -> dict[str, Any]:
    """Translate an aws / google_cloud_platform / wasb connection into the backend's fsspec options."""
    extra = conn.extra_dejson or {}
    if protocol == "s3":
        return _s3_options(conn, extra)
    if protocol in ("gs", "gcs"):
        return _gcs_options(extra)
    if protocol in ("abfs", "abfss", "az"):
        return _azure_options(conn, extra)
    return {}


def _s3_options(conn: ConnectionLike, extra: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if conn.login:
        options["key"] = conn.login
    if conn.password:
        options["secret"] = conn.password
    if token := extra.get("aws_session_token"):
        options["token"] = token
    endpoint = extra.get("endpoint_url") or (
        extra.get("service_config", {}).get("s3", {}).get("endpoint_url")
    )
    if endpoint:
        options["endpoint_url"] = endpoint
    if region := extra.get("region_name"):
        options["client_kwargs"] = {"region_name": region}
    return options


def _gcs_options(extra: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if keyfile := extra.get("keyfile_dict") or extra.get("extra__google_cloud_platform__keyfile_dict"):
        options["token"] = json.loads(keyfile) if isinstance(keyfile, str) else keyfile
    elif key_path := extra.get("key_path") or extra.get("extra__google_cloud_platform__key_path"):
        options["token"] = key_path
    if project := extra.get("project") or extra.get("extra__google_cloud_platform__project"):
        options["project"] = project
    if endpoint := extra.get("endpoint_url"):
        options["endpoint_url"] = endpoint
    return options


def _azure_options(conn: ConnectionLike, extra: dict[str, Any]) -> dict[str, Any]:
    if connection_string := extra.get("connection_string"):
        return {"connection_string": connection_string}
    options: dict[str, Any] = {}
    if conn.login:
        options["account_name"] = conn.login
    if conn.password:
        options["account_key"] = conn.password
    if sas := extra.get("sas_token"):
        options["sas_token"] = sas
    return options
