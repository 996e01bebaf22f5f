"""Object-store remote logging settings, validated once when a handler is built."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from airglow.log_handlers.errors import LogConfigError
from airglow.log_handlers.objectstore.shipper import ShippingPolicy
from airglow.log_handlers.redact import redact

AIRGLOW_SCHEME_PREFIX = "airglow+"
SUPPORTED_PROTOCOLS = ("s3", "gs", "gcs", "abfs", "abfss", "az", "file", "memory")
# Stores with a stock Airflow handler (S3, GCS, WASB): there a finished log is also written in Airflow's layout.
AIRFLOW_LAYOUT_PROTOCOLS = ("s3", "gs", "gcs", "abfs", "abfss", "az")
_POLICY_FIELDS = {f.name for f in fields(ShippingPolicy)}


@dataclass(frozen=True)
class ObjectStoreLogSettings:
    """Where logs go and how they are shipped.

    ``remote_base`` is an fsspec URL; ``airglow+s3://…`` (the form Airflow's provider dispatch routes to
    Airglow) is accepted and means ``s3://…``. ``storage_options`` are passed to fsspec and never logged.
    ``airflow_layout``: when a try's log is complete, write it whole where Airflow's own handler reads it
    (object stores only: a file system cannot hold a file and a folder of one name); ``keep_chunks``: keep
    the chunks after that.
    """

    remote_base: str
    base_log_folder: Path
    policy: ShippingPolicy = field(default_factory=ShippingPolicy)
    delete_local_copy: bool = False
    conn_id: str | None = None
    storage_options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    airflow_layout: bool = True
    keep_chunks: bool = False

    @classmethod
    def build(
        cls,
        remote_base: str,
        base_log_folder: str | os.PathLike[str],
        *,
        delete_local_copy: bool = False,
        conn_id: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
        airflow_layout: Any = True,
        keep_chunks: Any = False,
        **shipping: Any,
    ) -> ObjectStoreLogSettings:
        return cls(
            remote_base=_remote_base(remote_base),
            base_log_folder=Path(base_log_folder),
            policy=_policy(shipping),
            delete_local_copy=bool(delete_local_copy),
            conn_id=conn_id or None,
            storage_options=dict(storage_options or {}),
            airflow_layout=_flag("airflow_layout", airflow_layout),
            keep_chunks=_flag("keep_chunks", keep_chunks),
        )

    @property
    def protocol(self) -> str:
        return self.remote_base.split("://", 1)[0]

    @property
    def writes_airflow_layout(self) -> bool:
        return self.airflow_layout and self.protocol in AIRFLOW_LAYOUT_PROTOCOLS


def _flag(name: str, value: Any) -> bool:
    """A yes/no option as JSON (``true``) or as Airflow's config strings (``"True"``) give it."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise LogConfigError("remote_task_handler_kwargs", f"{name} must be true or false, got {value!r}")


def _remote_base(url: str) -> str:
    url = url.strip().removeprefix(AIRGLOW_SCHEME_PREFIX).rstrip("/")
    protocol, sep, rest = url.partition("://")
    if not sep or protocol not in SUPPORTED_PROTOCOLS or not rest.strip("/"):
        raise LogConfigError(
            "remote_base_log_folder",
            f"{redact(url)!r} is not a URL of a supported store ({', '.join(p + '://' for p in SUPPORTED_PROTOCOLS)})",
        )
    return url


def _policy(options: Mapping[str, Any]) -> ShippingPolicy:
    unknown = set(options) - _POLICY_FIELDS
    if unknown:
        raise LogConfigError("remote_task_handler_kwargs", f"unknown option(s): {', '.join(sorted(unknown))}")
    try:
        numbers: dict[str, Any] = {
            name: int(value) if name == "max_chunk_bytes" else float(value) for name, value in options.items()
        }
        policy = ShippingPolicy(**numbers)
    except (TypeError, ValueError) as err:
        raise LogConfigError("remote_task_handler_kwargs", f"options must be numbers: {err}") from None
    if not 0 < policy.interval <= 3600:
        raise LogConfigError("interval", f"must be in (0, 3600] seconds, got {policy.interval}")
    if policy.max_chunk_bytes < 4096:
        raise LogConfigError("max_chunk_bytes", f"must be at least 4096, got {policy.max_chunk_bytes}")
    if policy.final_timeout < 0 or policy.backoff_initial <= 0 or policy.backoff_max < policy.backoff_initial:
        raise LogConfigError(
            "final_timeout/backoff", "timeouts must be >= 0 and backoff_initial <= backoff_max"
        )
    return policy
