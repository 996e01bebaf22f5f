"""Elasticsearch task-log settings, validated once when a handler is built.

They mirror Airflow's ``[elasticsearch]`` section (host, log_id_template, end_of_log_mark, frontend,
host_field, offset_field, index_patterns, target_index) so that a fleet moving from Airflow's handler keeps its
configuration; Airglow's own options (writer, deployment, forwarding, retries, read bounds) come from
``[logging] remote_task_handler_kwargs``.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airglow.log_handlers.errors import LogConfigError
from airglow.log_handlers.redact import redact
from airglow.log_handlers.retry import backoff_delay
from airglow.log_handlers.try_identity import DEFAULT_LOG_ID_TEMPLATE, validate_log_id_template

Writer = Literal["stdout", "forward", "bulk"]
WRITERS: tuple[Writer, ...] = ("stdout", "forward", "bulk")
ES_SCHEME = "airglow+es"
DEFAULT_TARGET = "airflow-logs"
# Elasticsearch's rules for index and data stream names (lowercase, no \ / * ? " < > | , # : or space).
_INDEX_NAME = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,254}$")
_INDEX_PATTERN = re.compile(r"^(_all|[a-z0-9*][a-z0-9._+*-]{0,254})$")
_FIELD_NAME = re.compile(r"^[A-Za-z_@][A-Za-z0-9_.@-]{0,127}$")


@dataclass(frozen=True)
class EsLogSettings:
    """Where task logs go, how they are written, and how they are read back."""

    hosts: tuple[str, ...] = ("http://localhost:9200",)
    writer: Writer = "stdout"
    target_index: str = DEFAULT_TARGET
    index_patterns: tuple[str, ...] = (DEFAULT_TARGET + "*",)
    log_id_template: str = DEFAULT_LOG_ID_TEMPLATE
    end_of_log_mark: str = "end_of_log"
    frontend: str = ""
    host_field: str = "host"
    offset_field: str = "offset"
    deployment: str = ""
    host: str = field(default_factory=socket.gethostname)
    forward_host: str = "localhost"
    forward_port: int = 24224
    forward_tag: str = "airflow.task"
    forward_buffer_bytes: int = 8 << 20
    flush_interval: float = 2.0
    batch_size: int = 2000
    final_timeout: float = 60.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    page_size: int = 1000
    end_of_log_timeout: float = 30.0
    poll_interval: float = 1.0
    request_timeout: float = 30.0
    client_options: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, **options: Any) -> EsLogSettings:
        """Validate options as users write them (strings from ``airflow.cfg`` or JSON kwargs)."""
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise LogConfigError("elasticsearch", f"unknown option(s): {', '.join(sorted(unknown))}")
        values = {name: _coerce(name, value) for name, value in options.items() if value is not None}
        values.setdefault("deployment", os.environ.get("AIRGLOW_DEPLOYMENT", ""))
        if "target_index" in values and "index_patterns" not in values:
            values["index_patterns"] = (values["target_index"] + "*",)
        settings = cls(**values)
        settings._validate()
        return settings

    def _validate(self) -> None:
        if self.writer not in WRITERS:
            raise LogConfigError("writer", f"must be one of {', '.join(WRITERS)}, got {self.writer!r}")
        for host in self.hosts:
            if not re.match(r"^https?://[^/\s]+", host):
                raise LogConfigError("host", f"{redact(host)!r} is not an http(s):// URL")
        if not _INDEX_NAME.match(self.target_index):
            raise LogConfigError("target_index", f"{self.target_index!r} is not a valid index name")
        for pattern in self.index_patterns:
            if not _INDEX_PATTERN.match(pattern):
                raise LogConfigError("index_patterns", f"{pattern!r} is not a valid index pattern")
        for name in ("host_field", "offset_field"):
            if not _FIELD_NAME.match(getattr(self, name)):
                raise LogConfigError(name, f"{getattr(self, name)!r} is not a valid field name")
        validate_log_id_template(self.log_id_template)
        if not self.end_of_log_mark.strip():
            raise LogConfigError("end_of_log_mark", "must not be empty")
        if self.frontend and "{log_id}" not in self.frontend:
            raise LogConfigError("frontend", "must contain {log_id}")
        _positive(self, "flush_interval", "final_timeout", "backoff_initial", "backoff_max", "poll_interval")
        _positive(self, "end_of_log_timeout", "request_timeout")
        if not 1 <= self.batch_size <= 50_000:
            raise LogConfigError("batch_size", f"must be in [1, 50000], got {self.batch_size}")
        if not 1 <= self.page_size <= 10_000:
            raise LogConfigError(
                "page_size", f"must be in [1, 10000] (index.max_result_window), got {self.page_size}"
            )
        if not 0 < self.forward_port < 65536:
            raise LogConfigError("forward_port", f"must be a TCP port, got {self.forward_port}")
        if self.backoff_max < self.backoff_initial:
            raise LogConfigError("backoff_max", "must be at least backoff_initial")

    def backoff(self, failures: int) -> float:
        return backoff_delay(failures, self.backoff_initial, self.backoff_max)


_NUMBERS = {
    "forward_port": int,
    "forward_buffer_bytes": int,
    "batch_size": int,
    "page_size": int,
    "flush_interval": float,
    "final_timeout": float,
    "backoff_initial": float,
    "backoff_max": float,
    "end_of_log_timeout": float,
    "poll_interval": float,
    "request_timeout": float,
}


def _coerce(name: str, value: Any) -> Any:
    """Strings from airflow.cfg into the option's type; comma-separated strings into tuples."""
    if name in _NUMBERS:
        try:
            return _NUMBERS[name](value)
        except (TypeError, ValueError):
            raise LogConfigError(name, f"must be a number, got {value!r}") from None
    if name in ("hosts", "index_patterns"):
        items = value.split(",") if isinstance(value, str) else list(value)
        cleaned = tuple(str(item).strip().rstrip("/") for item in items if str(item).strip())
        if not cleaned:
            raise LogConfigError(name, "must name at least one")
        return cleaned
    if name == "client_options":
        if not isinstance(value, Mapping):
            raise LogConfigError(name, "must be a mapping")
        return dict(value)
    return str(value).strip() if isinstance(value, str) else value


def _positive(settings: EsLogSettings, *names: str) -> None:
    for name in names:
        if not getattr(settings, name) > 0:
            raise LogConfigError(name, f"must be > 0, got {getattr(settings, name)}")
