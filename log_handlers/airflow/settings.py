"""Airglow's options from Airflow's configuration (2 or 3), read in this one place."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from airglow.log_handlers.elasticsearch.settings import ES_SCHEME
from airglow.log_handlers.errors import LogConfigError

# Airflow's [elasticsearch] options that Airglow honours, under Airglow's names.
_AIRFLOW_ES_OPTIONS = {
    "host": "hosts",
    "target_index": "target_index",
    "index_patterns": "index_patterns",
    "log_id_template": "log_id_template",
    "end_of_log_mark": "end_of_log_mark",
    "frontend": "frontend",
    "host_field": "host_field",
    "offset_field": "offset_field",
}


def remote_task_handler_kwargs(conf: Any) -> dict[str, Any]:
    """``[logging] remote_task_handler_kwargs``: Airglow's own options, a JSON object."""
    kwargs = conf.getjson("logging", "remote_task_handler_kwargs", fallback={}) or {}
    if not isinstance(kwargs, dict):
        raise LogConfigError("remote_task_handler_kwargs", "must be a JSON object")
    return kwargs


def remote_base(conf: Any) -> str:
    return conf.get("logging", "remote_base_log_folder", fallback="") or ""


def to_elasticsearch(conf: Any) -> bool:
    return remote_base(conf).startswith(ES_SCHEME + "://")


def es_options(conf: Any) -> dict[str, Any]:
    """Airglow's Elasticsearch options: ``[elasticsearch]``, the netloc of an ``airglow+es://host:port``
    remote base, ``[elasticsearch_configs]`` (client options), ``[airglow] deployment`` and
    ``remote_task_handler_kwargs``, later ones winning."""
    options: dict[str, Any] = {}
    # What the user set (file or environment), not provider defaults (Airflow 3 defaults index_patterns to
    # _all); Airflow 2 leaves out the environment when the section is not in any file.
    configured = conf.getsection("elasticsearch") or {}
    for airflow_name, name in _AIRFLOW_ES_OPTIONS.items():
        value = configured.get(airflow_name) or os.environ.get(
            f"AIRFLOW__ELASTICSEARCH__{airflow_name.upper()}"
        )
        if value:
            options[name] = value
    remote = urlsplit(remote_base(conf))
    if remote.scheme == ES_SCHEME and remote.netloc:
        options["hosts"] = f"http://{remote.netloc}"
    if conf.has_section("elasticsearch_configs"):
        options["client_options"] = _typed(dict(conf.getsection("elasticsearch_configs") or {}))
    deployment = conf.get("airglow", "deployment", fallback="")  # else $AIRGLOW_DEPLOYMENT (EsLogSettings)
    if deployment:
        options["deployment"] = deployment
    return options | remote_task_handler_kwargs(conf)


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    """airflow.cfg strings for the client: booleans and numbers as such (``verify_certs = False``)."""
    typed: dict[str, Any] = {}
    for key, value in values.items():
        text = str(value).strip()
        if text.lower() in ("true", "false"):
            typed[key] = text.lower() == "true"
        elif text.replace(".", "", 1).isdigit():
            typed[key] = float(text) if "." in text else int(text)
        else:
            typed[key] = value
    return typed
