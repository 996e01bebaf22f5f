"""Real Airflow 3.3.2 in a throwaway venv, configured by manifests/airflow/values-airflow3.yaml and
values-metrics.yaml (the Helm chart's settings), sends statsd to the bridge; a real Prometheus scrapes it and
every sample carries the deployment the values name."""

from __future__ import annotations

import pytest
from support.airflow_deployment import AIRFLOW, running_airflow
from support.helm_values import RELEASE, airflow_environment, merged

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.airflow]

DAG_ID = "airglow_probe"
DAG = f'''
import pendulum
from airflow.sdk import dag, task


@dag(dag_id="{DAG_ID}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False,
     default_args={{"retries": 0}})
def probe():
    @task(task_id="succeeds")
    def succeeds():
        return 1

    @task(task_id="fails")
    def fails():
        raise RuntimeError("this task fails on purpose")

    succeeds()
    fails()


probe()
'''


def test_real_airflow_task_metrics_reach_prometheus(
    airflow_bin, bridge_factory, prometheus_factory, tmp_path
) -> None:
    values = merged("values-airflow3.yaml", "values-metrics.yaml")
    assert AIRFLOW.endswith("==" + values["airflowVersion"]), "the values name the Airflow these tests run"
    deployment = RELEASE.name  # the values name the deployment after the Helm release
    bridge = bridge_factory()  # no --airglow.deployment: the label must come from what Airflow sends
    prometheus = prometheus_factory(
        f"scrape_configs:\n- job_name: bridge\n  static_configs:\n  - targets: ['127.0.0.1:{bridge.http_port}']\n"
    )
    statsd = {
        **{k: v for k, v in airflow_environment(values).items() if k.startswith("AIRFLOW__METRICS__")},
        # the bridge's Service address, on loopback here
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(bridge.statsd_port),
    }
    with running_airflow(airflow_bin, tmp_path / "airflow", {DAG_ID: DAG}, statsd) as airflow:
        airflow.trigger(DAG_ID)
        labels = f'dag_id="{DAG_ID}",deployment="{deployment}"'
        prometheus.wait_for_value(
            f'airflow_ti_finish_total{{{labels},task_id="succeeds",state="success"}}', 1, 300
        )
        prometheus.wait_for_value(
            f'airflow_ti_finish_total{{{labels},task_id="fails",state="failed"}}', 1, 120
        )
        prometheus.wait_for_value(
            f'airflow_task_duration_seconds_count{{{labels},task_id="succeeds"}}', 1, 120
        )
        buckets = prometheus.query(f'airflow_task_duration_seconds_bucket{{{labels},task_id="succeeds"}}')
        assert len(buckets) == 20  # 19 preset buckets and +Inf
        assert prometheus.query('count by (__name__) ({__name__=~"airflow_.*", dag_id="airglow_probe"})')
        names = {
            r["metric"]["__name__"]
            for r in prometheus.query(f'{{__name__=~".+", deployment="{deployment}"}}')
        }
        assert not [n for n in names if DAG_ID in n or "succeeds" in n]
