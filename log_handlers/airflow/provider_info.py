"""Airflow provider registration: claims the ``airglow+<store>://`` schemes of ``remote_base_log_folder``.

Registered through the ``apache_airflow_provider`` entry point; Airflow 3.3's provider dispatch then builds
``AirglowRemoteLogIO.from_config()`` for a matching URL.
"""

from __future__ import annotations

from typing import Any

from airglow.log_handlers.elasticsearch.settings import ES_SCHEME
from airglow.log_handlers.objectstore.settings import AIRGLOW_SCHEME_PREFIX, SUPPORTED_PROTOCOLS

REMOTE_IO_CLASS = "airglow.log_handlers.airflow.objectstore_remote_io.AirglowRemoteLogIO"
ES_REMOTE_IO_CLASS = "airglow.log_handlers.airflow.es_remote_io.AirglowEsRemoteLogIO"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airglow",
        "name": "Airglow",
        "description": "Kill-safe remote task logs in object storage and Elasticsearch, shipped while the task runs.",
        "remote-logging": [
            *(
                {"scheme": AIRGLOW_SCHEME_PREFIX + protocol, "classpath": REMOTE_IO_CLASS}
                for protocol in SUPPORTED_PROTOCOLS
            ),
            {"scheme": ES_SCHEME, "classpath": ES_REMOTE_IO_CLASS},
        ],
    }
