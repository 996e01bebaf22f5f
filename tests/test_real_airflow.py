"""Real Airflow 3.3.2 in a throwaway venv sends statsd to the bridge; a real Prometheus scrapes it."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_port, http_get, wait_until

pytestmark = pytest.mark.slow

AIRFLOW = "apache-airflow[statsd]==3.3.2"
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


def install_airflow(venv: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    result = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", AIRFLOW],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return venv / "bin"


def airflow_env(bin_dir: Path, home: Path, api_port: int, statsd_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(statsd_port),
    }


def test_real_airflow_task_metrics_reach_prometheus(bridge_factory, prometheus_factory, tmp_path) -> None:
    bin_dir = install_airflow(tmp_path / "venv")
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / f"{DAG_ID}.py").write_text(DAG)

    bridge = bridge_factory("--airglow.deployment=probe")
    prometheus = prometheus_factory(
        f"scrape_configs:\n- job_name: bridge\n  static_configs:\n  - targets: ['127.0.0.1:{bridge.http_port}']\n"
    )
    api_port = free_port()
    env = airflow_env(bin_dir, home, api_port, bridge.statsd_port)
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
    log = open(tmp_path / "airflow.log", "wb")  # noqa: SIM115 - closed with the process group below
    components = subprocess.Popen(
        [
            "bash",
            "-c",
            f"airflow api-server -H 127.0.0.1 -p {api_port} & airflow scheduler --skip-serve-logs & "
            "airflow dag-processor & airflow triggerer --skip-serve-logs & wait",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: http_get(f"http://127.0.0.1:{api_port}/api/v2/monitor/health")[0] == 200,
            180,
            1,
            what="Airflow API server healthy",
        )
        wait_until(
            lambda: (
                subprocess.run(
                    ["airflow", "dags", "unpause", DAG_ID], env=env, capture_output=True
                ).returncode
                == 0
            ),
            180,
            2,
            what="DAG parsed",
        )
        subprocess.run(["airflow", "dags", "trigger", DAG_ID], env=env, check=True, capture_output=True)

        labels = f'dag_id="{DAG_ID}",deployment="probe"'
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
        names = {r["metric"]["__name__"] for r in prometheus.query('{__name__=~".+", deployment="probe"}')}
        assert not [n for n in names if DAG_ID in n or "succeeds" in n]
    finally:
        os.killpg(components.pid, signal.SIGTERM)
        try:
            components.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(components.pid, signal.SIGKILL)
            components.wait()
        log.close()
