"""Real Airflow 3.3.2 for the tests: installed once per session in a throwaway venv with Airglow, its
components run on loopback in one process group (TEST_INFRA.md), stopped with the group."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.common import ROOT, free_port, http_get, pip_install, venv_with, wait_until
from support.helm_values import airflow_environment, merged

AIRFLOW = "apache-airflow[statsd]==3.3.2"
AIRFLOW2 = "apache-airflow==2.11.2"
# Airflow's own remote-log handlers for S3, GCS and Azure Blob (the interop tests run them, not Airglow),
# in two steps: pip resolves Airflow and the three providers together only after minutes of backtracking.
STOCK_HANDLERS = (
    (AIRFLOW, "apache-airflow-providers-amazon==9.39.0", "apache-airflow-providers-microsoft-azure==15.2.1"),
    ("apache-airflow-providers-google==22.8.0",),
)


def airflow_venv(reuse_variable: str, fresh: Path, *steps: tuple[str, ...]) -> Path:
    """A venv with each step's requirements pip-installed in turn; returns its bin folder.

    ``$reuse_variable=DIR`` installs into (and on later runs reuses) DIR, for quicker local runs.
    """
    reuse = os.environ.get(reuse_variable) if reuse_variable else None
    venv = Path(reuse) if reuse else fresh
    if (venv / "bin" / "airflow").exists():
        return venv / "bin"
    bin_dir = venv_with(venv, *steps[0])
    for step in steps[1:]:
        pip_install(bin_dir, *step)
    return bin_dir


def with_airglow(requirement: str) -> tuple[str, ...]:
    """``requirement`` and this checkout of Airglow with the S3, Elasticsearch and DogStatsD extras, as the
    Dockerfile's airflow image has them."""
    return (requirement, "-e", f"{ROOT}[s3,elasticsearch,dogstatsd]")


def run_python(bin_dir: Path, code: str, env: dict[str, str], cwd: Path | None = None) -> dict:
    """Run ``code`` with the venv's Python (in ``cwd``: outside the checkout, its egg-info is not seen);
    its last stdout line is the JSON result."""
    result = subprocess.run(
        [str(bin_dir / "python"), "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=cwd
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def s3_logging_env(remote_base: str, endpoint: str, **handler_kwargs: object) -> dict[str, str]:
    """Task logs to Airglow on (moto) S3 as manifests/airflow/values-logs-s3.yaml sets them, with the bucket,
    a 1 s shipping interval (and ``handler_kwargs``) and the connection its ``remote_log_conn_id`` names
    pointed at moto."""
    settings = airflow_environment(merged("values-logs-s3.yaml"))
    conn_id = settings["AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID"]
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
    }
    return {
        **settings,
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": remote_base,
        "AIRFLOW__LOGGING__REMOTE_TASK_HANDLER_KWARGS": json.dumps({"interval": 1, **handler_kwargs}),
        f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(connection),
    }


@dataclass
class AirflowDeployment:
    env: dict[str, str]
    api_port: int
    home: Path

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["airflow", *args], env=self.env, capture_output=True, text=True, timeout=300)

    def trigger(self, dag_id: str) -> str:
        """Unpause (once parsed) and trigger ``dag_id``; returns the run id."""
        wait_until(
            lambda: self.cli("dags", "unpause", dag_id).returncode == 0, 180, 2, what=f"{dag_id} parsed"
        )
        result = self.cli("dags", "trigger", dag_id, "--output", "json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])[0]["dag_run_id"]

    def get(self, path: str, **params: str) -> dict:
        status, body, _ = http_get(f"{self.api}/auth/token")
        assert status in (200, 201), body
        token = json.loads(body)["access_token"]
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        status, body, _ = http_get(
            f"{self.api}{path}{query}", {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        )
        assert status == 200, (path, status, body[:500])
        return json.loads(body)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        def finished() -> str | None:
            state = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")["state"]
            return state if state in ("success", "failed") else None

        return wait_until(finished, timeout, 1, what=f"{dag_id} {run_id} finished")


def airflow_env(bin_dir: Path, home: Path, api_port: int, extra: dict[str, str]) -> dict[str, str]:
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
        **extra,
    }


@contextmanager
def running_airflow(
    bin_dir: Path, home: Path, dags: dict[str, str], extra_env: dict[str, str]
) -> Iterator[AirflowDeployment]:
    (home / "dags").mkdir(parents=True)
    for name, source in dags.items():
        (home / "dags" / f"{name}.py").write_text(source)
    api_port = free_port()
    deployment = AirflowDeployment(airflow_env(bin_dir, home, api_port, extra_env), api_port, home)
    migrated = deployment.cli("db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    command = (
        f"airflow api-server -H 127.0.0.1 -p {api_port} & airflow scheduler --skip-serve-logs & "
        "airflow dag-processor & airflow triggerer --skip-serve-logs & wait"
    )
    with components_running(command, deployment.env, home / "airflow.log"):
        wait_until(
            lambda: http_get(f"{deployment.api}/api/v2/monitor/health")[0] == 200,
            180,
            1,
            what="Airflow API server healthy",
        )
        yield deployment


@contextmanager
def components_running(command: str, env: dict[str, str], log_path: Path) -> Iterator[None]:
    """Airflow's components (``command``, a shell line) in one process group, stopped with the group."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process group below
    components = subprocess.Popen(
        ["bash", "-c", command], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        yield
    finally:
        os.killpg(components.pid, signal.SIGTERM)
        try:
            components.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(components.pid, signal.SIGKILL)
            components.wait()
        log.close()
