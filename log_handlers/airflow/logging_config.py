"""A ``[logging] logging_config_class`` for Airflow 2 and 3 that sends task logs to Airglow.

    [logging]
    remote_logging = True
    remote_base_log_folder = s3://my-bucket/airflow/logs      # or airglow+es://elasticsearch:9200
    logging_config_class = airglow.log_handlers.airflow.logging_config.LOGGING_CONFIG

Airflow's own default dict is used unchanged except for remote logging: on Airflow 3 this module exposes
``REMOTE_TASK_LOG`` (read by Airflow next to the dict), on Airflow 2 the ``task`` handler becomes
``AirglowTaskHandler`` (object stores) or ``AirglowEsTaskHandler`` (``airglow+es://``: Elasticsearch).
"""

from __future__ import annotations

import copy
import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow.configuration import conf

from airglow.log_handlers.airflow.es_remote_io import AirglowEsRemoteLogIO
from airglow.log_handlers.airflow.objectstore_remote_io import AirglowRemoteLogIO
from airglow.log_handlers.airflow.settings import es_options, remote_task_handler_kwargs, to_elasticsearch

_REMOTE_LOGGING_ENV = "AIRFLOW__LOGGING__REMOTE_LOGGING"


@contextmanager
def _remote_logging_off() -> Iterator[None]:
    """Airflow's default module picks a provider handler by URL when remote logging is on: keep it off."""
    saved = os.environ.get(_REMOTE_LOGGING_ENV)
    os.environ[_REMOTE_LOGGING_ENV] = "False"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(_REMOTE_LOGGING_ENV, None)
        else:
            os.environ[_REMOTE_LOGGING_ENV] = saved


def _airflow_default_config() -> dict[str, Any]:
    with _remote_logging_off():
        defaults = importlib.import_module("airflow.config_templates.airflow_local_settings")
    return copy.deepcopy(defaults.DEFAULT_LOGGING_CONFIG)


def _is_airflow_2() -> bool:
    from airflow import __version__

    return int(__version__.split(".", 1)[0]) < 3


def _airflow2_task_handler(task_handler: dict[str, Any]) -> dict[str, Any]:
    if to_elasticsearch(conf):
        return task_handler | {
            "class": "airglow.log_handlers.airflow.es_task_handler.AirglowEsTaskHandler",
            "es": es_options(conf),
        }
    return task_handler | {
        "class": "airglow.log_handlers.airflow.objectstore_task_handler.AirglowTaskHandler",
        "remote_base": conf.get("logging", "remote_base_log_folder"),
        "delete_local_copy": conf.getboolean("logging", "delete_local_logs", fallback=False),
        "conn_id": conf.get("logging", "remote_log_conn_id", fallback=None),
        "shipping": remote_task_handler_kwargs(conf),
    }


LOGGING_CONFIG: dict[str, Any] = _airflow_default_config()
REMOTE_TASK_LOG: AirglowRemoteLogIO | AirglowEsRemoteLogIO | None = None
DEFAULT_REMOTE_CONN_ID: str | None = conf.get("logging", "remote_log_conn_id", fallback=None) or None

if conf.getboolean("logging", "remote_logging", fallback=False):
    if _is_airflow_2():
        LOGGING_CONFIG["handlers"]["task"] = _airflow2_task_handler(LOGGING_CONFIG["handlers"]["task"])
    elif to_elasticsearch(conf):
        REMOTE_TASK_LOG = AirglowEsRemoteLogIO.from_config()
    else:
        REMOTE_TASK_LOG = AirglowRemoteLogIO.from_config()
