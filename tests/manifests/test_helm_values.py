"""manifests/airflow/values-*.yaml, turned into the settings the official chart gives Airflow's containers and
task pods, read by real Airflow 3.3.2 and 2.11.2: the metrics go to the bridge with the deployment tag, the
per-node variant sends to the node's address, and the Elasticsearch file makes Airflow build Airglow's handler
with the stdout writer Fluent Bit ships from. (The S3 file and the metrics file also drive the end-to-end
tests in test_real_airflow*.py.)"""

from __future__ import annotations

import os

import pytest
from support.airflow_deployment import run_python
from support.helm_values import RELEASE, airflow_environment, merged

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.airflow]

NODE_IP = "10.1.2.3"
PROBE = """
import json, logging.config
from airflow import __version__
from airflow.configuration import conf
import airglow.log_handlers.airflow.logging_config as airglow

found = {
    "version": __version__,
    "metrics": {key: conf.get("metrics", key) for key in ("statsd_on", "statsd_host", "statsd_port", "statsd_datadog_tags")},
}
if airglow.REMOTE_TASK_LOG is not None:
    settings = airglow.REMOTE_TASK_LOG.logs.settings
    found["handler"] = [type(airglow.REMOTE_TASK_LOG).__name__, settings.writer, settings.target_index, settings.deployment]
else:
    logging.config.dictConfig(airglow.LOGGING_CONFIG)
    built = logging.getLogger("airflow.task").handlers[0]
    settings = built.logs.settings
    found["handler"] = [type(built).__name__, settings.writer, settings.target_index, settings.deployment]
print(json.dumps(found))
"""


@pytest.mark.parametrize("major", ["airflow3", "airflow2"])
def test_values_configure_real_airflow_for_the_bridge_and_elasticsearch(
    major, airflow_bin, airflow2_bin, tmp_path
) -> None:
    values = merged(
        f"values-{major}.yaml",
        "values-metrics.yaml",
        "values-per-node-bridge.yaml",
        "values-logs-elasticsearch.yaml",
    )
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        **airflow_environment(values, host_ip=NODE_IP),
    }
    found = run_python(airflow_bin if major == "airflow3" else airflow2_bin, PROBE, env)
    assert found["version"] == values["airflowVersion"]
    deployment = RELEASE.name  # the values name the deployment after the Helm release
    assert found["metrics"] == {
        "statsd_on": "True",
        "statsd_host": NODE_IP,  # the per-node variable beats airflow.cfg's Service name
        "statsd_port": "9125",
        "statsd_datadog_tags": f"deployment:{deployment}",
    }
    expected_class = "AirglowEsRemoteLogIO" if major == "airflow3" else "AirglowEsTaskHandler"
    assert found["handler"] == [expected_class, "stdout", "airflow-logs", deployment]
