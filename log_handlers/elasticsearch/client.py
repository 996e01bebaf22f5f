"""The ``elasticsearch`` client (8.x or 9.x) for the configured hosts, and its errors in Airglow's terms."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from airglow.log_handlers.elasticsearch.settings import EsLogSettings
from airglow.log_handlers.errors import LogConfigError, LogHandlerError, is_permanent
from airglow.log_handlers.redact import redact

log = logging.getLogger(__name__)


class EsError(LogHandlerError):
    """Elasticsearch refused or failed a request; the message names the operation, never credentials."""

    summary = "Elasticsearch {operation} failed"

    def __init__(self, operation: str, cause: BaseException) -> None:
        super().__init__(f"{self.summary.format(operation=operation)}: {_describe(cause)}")
        self.operation = operation
        # Refused credentials or permissions, or a missing template or index: the settings are at fault.
        self.configuration = is_permanent(cause)


class EsUnreachable(EsError):
    """No Elasticsearch host answered (refused, timed out, DNS): the cluster, not the request, is at fault."""

    summary = "cannot reach Elasticsearch ({operation})"


def es_client(settings: EsLogSettings) -> Any:
    try:
        from elasticsearch import Elasticsearch
    except ImportError:
        raise LogConfigError(
            "elasticsearch", "the elasticsearch client is not installed: pip install 'airglow[elasticsearch]'"
        ) from None
    accepted = inspect.signature(Elasticsearch.__init__).parameters
    options = {"request_timeout": settings.request_timeout, **settings.client_options}
    ignored = sorted(set(options) - set(accepted))
    if ignored:
        # Airflow's [elasticsearch_configs] defaults include options of older clients (use_ssl, …).
        log.info("Elasticsearch client options not known to this client, ignored: %s", ", ".join(ignored))
    return Elasticsearch(list(settings.hosts), **{k: v for k, v in options.items() if k in accepted})


def call(operation: str, function: Any, **kwargs: Any) -> Any:
    """Run one client call; every failure (an API error or a transport one) becomes an ``EsError``."""
    from elasticsearch import ApiError, TransportError
    from elasticsearch import ConnectionError as EsConnectionError

    try:
        return function(**kwargs)
    except EsConnectionError as err:
        raise EsUnreachable(operation, err) from err
    except (ApiError, TransportError) as err:
        raise EsError(operation, err) from err


def _describe(cause: BaseException) -> str:
    info = getattr(cause, "info", None)
    error = info.get("error") if isinstance(info, dict) else None
    if isinstance(error, dict):
        return redact(
            f"{getattr(cause, 'status_code', '')} {error.get('type')}: {error.get('reason')}".strip()
        )
    return redact(f"{type(cause).__name__}: {cause}")
