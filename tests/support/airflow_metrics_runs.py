"""Real Airflow runs of one DAG set under the metrics settings users run, for the twin-counting ground truth.

A run records every statsd datagram Airflow sends (with its sender's port, which tells Airflow's processes
apart) and, once every DAG run has ended, the truth from Airflow's own REST API: the task-instance tries and
their states, and the deferrals their logs report. ``tests/support/record_airflow_metrics.py`` stores runs under
``tests/data/airflow_runs/`` for the replay tests; the live test runs one configuration end to end.

The DAG set has what makes counting hard: retries (a task that succeeds on its third try), a final failure,
mapped tasks, task-group task ids with dots, a task id Airflow suffixes itself (``hello__1``) and a deferral.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.airflow_deployment import components_running, running_airflow
from support.common import free_port, http_get, wait_until

AIRFLOW3, AIRFLOW2 = "3.3.2", "2.11.2"
DAG_IDS = ("airglow_twins_retries", "airglow_twins_groups", "airglow_twins_defer")
DEFERRAL_MARK = "airglow: deferring once"

# Imports differ between Airflow 3's task SDK and Airflow 2; the DAGs below are the same.
_IMPORTS = {
    AIRFLOW3: """
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import BaseOperator, TaskGroup, dag, task
""",
    AIRFLOW2: """
from airflow.decorators import dag, task
from airflow.models.baseoperator import BaseOperator
from airflow.triggers.temporal import TimeDeltaTrigger
from airflow.utils.task_group import TaskGroup
""",
}

_DAGS = """
import datetime
import pendulum

START = pendulum.datetime(2026, 1, 1)
RETRY = {"retries": 2, "retry_delay": datetime.timedelta(seconds=1)}


@dag(dag_id="airglow_twins_retries", schedule=None, start_date=START, catchup=False, default_args=RETRY)
def retries():
    @task(task_id="third_time_lucky")
    def third_time_lucky(ti=None):
        if ti.try_number < 3:
            raise RuntimeError(f"try {ti.try_number} fails on purpose")

    @task(task_id="always_fails", retries=1)
    def always_fails():
        raise RuntimeError("this task fails on purpose")

    @task(task_id="square")
    def square(x):
        return x * x

    @task(task_id="hello")
    def hello():
        return "hello"

    third_time_lucky()
    always_fails()
    square.expand(x=[1, 2, 3])
    hello()
    hello()  # Airflow names the second one hello__1


@dag(dag_id="airglow_twins_groups", schedule=None, start_date=START, catchup=False)
def groups():
    with TaskGroup("grp"):
        @task(task_id="inner")
        def inner():
            return 1

        inner()
        with TaskGroup("sub"):
            @task(task_id="deep")
            def deep():
                return 2

            deep()


class DeferOnce(BaseOperator):
    def execute(self, context):
        self.log.info("{mark}")
        self.defer(trigger=TimeDeltaTrigger(datetime.timedelta(seconds=2)), method_name="resume")

    def resume(self, context, event=None):
        return "resumed"


@dag(dag_id="airglow_twins_defer", schedule=None, start_date=START, catchup=False)
def defer():
    DeferOnce(task_id="waits")


retries()
groups()
defer()
"""


def dag_source(airflow: str) -> str:
    return _IMPORTS[airflow] + _DAGS.replace("{mark}", DEFERRAL_MARK)


@dataclass(frozen=True)
class MetricsConfig:
    """One way users set up Airflow's [metrics]; ``deployment`` is the label the bridge must give."""

    name: str
    airflow: str
    settings: dict[str, str]
    deployment: str


PREFIX_DEPLOYMENT = "prod-eu"
CONFIGS = {
    config.name: config
    for config in (
        MetricsConfig("airflow3-plain", AIRFLOW3, {}, "unknown"),
        MetricsConfig("airflow3-dogstatsd", AIRFLOW3, {"STATSD_DATADOG_ENABLED": "True"}, "unknown"),
        MetricsConfig(
            "airflow3-dogstatsd-tags",
            AIRFLOW3,
            {"STATSD_DATADOG_ENABLED": "True", "STATSD_DATADOG_TAGS": f"deployment:{PREFIX_DEPLOYMENT}"},
            PREFIX_DEPLOYMENT,
        ),
        MetricsConfig("airflow3-influxdb", AIRFLOW3, {"STATSD_INFLUXDB_ENABLED": "True"}, "unknown"),
        MetricsConfig("airflow3-prefix", AIRFLOW3, {"STATSD_PREFIX": PREFIX_DEPLOYMENT}, PREFIX_DEPLOYMENT),
        MetricsConfig("airflow2-plain", AIRFLOW2, {}, "unknown"),
        MetricsConfig("airflow2-dogstatsd", AIRFLOW2, {"STATSD_DATADOG_ENABLED": "True"}, "unknown"),
    )
}


def metrics_env(config: MetricsConfig, port: int) -> dict[str, str]:
    env = {"STATSD_ON": "True", "STATSD_HOST": "127.0.0.1", "STATSD_PORT": str(port), **config.settings}
    return {f"AIRFLOW__METRICS__{key}": value for key, value in env.items()}


class DatagramRecorder:
    """A UDP socket on loopback keeping every datagram with its sender's port and arrival time."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._sock.settimeout(0.2)
        self.datagrams: list[tuple[float, int, str]] = []
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, (_, port) = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            self.datagrams.append((round(time.monotonic() - self._start, 4), port, data.decode("utf-8")))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


class RestApi:
    """Airflow's REST API: v2 with a token (Airflow 3), v1 with basic auth (Airflow 2)."""

    def __init__(self, base: str, version: str, user: tuple[str, str] | None = None) -> None:
        self.base = base
        self.prefix = "/api/v2" if version == AIRFLOW3 else "/api/v1"
        self.version = version
        self.user = user

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.user is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(self.user).encode()).decode()
        if self.version == AIRFLOW3:
            status, body, _ = http_get(f"{self.base}/auth/token")
            assert status in (200, 201), body
            headers["Authorization"] = f"Bearer {json.loads(body)['access_token']}"
        return headers

    def get(self, path: str, **params: str) -> bytes:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        status, body, _ = http_get(f"{self.base}{self.prefix}{path}{query}", self._headers())
        assert status == 200, (path, status, body[:500])
        return body

    def json(self, path: str, **params: str) -> dict:
        return json.loads(self.get(path, **params))


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def tries(api: RestApi) -> list[dict]:
    """Airflow's own record of every try of the DAG set's runs, with whether its log says it deferred."""
    found = []
    for dag_id in DAG_IDS:
        for run in api.json(f"/dags/{dag_id}/dagRuns")["dag_runs"]:
            run_id = run["dag_run_id"]
            instances = api.json(f"/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances", limit="100")
            for ti in instances["task_instances"]:
                path = f"/dags/{dag_id}/dagRuns/{_quote(run_id)}/taskInstances/{_quote(ti['task_id'])}"
                mapped = f"{path}/{ti['map_index']}" if ti["map_index"] >= 0 else path
                for attempt in api.json(f"{mapped}/tries")["task_instances"]:
                    if attempt.get("start_date"):
                        found.append(
                            {
                                "dag_id": dag_id,
                                "task_id": ti["task_id"],
                                "map_index": ti["map_index"],
                                "try_number": attempt["try_number"],
                                "state": attempt["state"],
                                "deferred": _deferred(api, path, ti["map_index"], attempt["try_number"]),
                            }
                        )
    return found


def expected_counts(record: list[dict], airflow: str) -> dict[str, dict[str, int]]:
    """What each metric must count, per (dag_id, task_id[, state]), derived from Airflow's tries.

    ``ti.start`` and ``ti.finish`` come from the process that runs a try; a deferred try runs twice (before
    and after its trigger), finishing first as ``deferred``. A retried try finishes as ``up_for_retry`` (Airflow
    3's history says ``failed`` for it, Airflow 2's ``up_for_retry``). ``task.duration`` comes once per try in
    Airflow 3 (when it ends) and once per run of the task's process in Airflow 2.
    """
    starts: Counter = Counter()
    finishes: Counter = Counter()
    durations: Counter = Counter()
    last = Counter()
    for attempt in record:
        ti = (attempt["dag_id"], attempt["task_id"], attempt["map_index"])
        last[ti] = max(last[ti], attempt["try_number"])
    for attempt in record:
        task = (attempt["dag_id"], attempt["task_id"])
        runs = 2 if attempt["deferred"] else 1
        starts[task] += runs
        durations[task] += runs if airflow == AIRFLOW2 else 1
        if attempt["deferred"]:
            finishes[(*task, "deferred")] += 1
        ti = (*task, attempt["map_index"])
        retried = attempt["try_number"] < last[ti] and attempt["state"] == "failed"
        finishes[(*task, "up_for_retry" if retried else attempt["state"])] += 1
    return {"ti_start": _flat(starts), "ti_finish": _flat(finishes), "task_duration_count": _flat(durations)}


def _deferred(api: RestApi, path: str, map_index: int, try_number: int) -> bool:
    """Whether the try's log (read through the REST API) says it deferred."""
    params = {"full_content": "true", "map_index": str(map_index)}
    text = api.get(f"{path}/logs/{try_number}", **params).decode("utf-8", "replace")
    return DEFERRAL_MARK in text


def _flat(counter: Counter) -> dict[str, int]:
    return {"|".join(key): count for key, count in sorted(counter.items())}


def _runs_finished(api: RestApi) -> bool:
    for dag_id in DAG_IDS:
        runs = api.json(f"/dags/{dag_id}/dagRuns")["dag_runs"]
        if not runs or any(run["state"] not in ("success", "failed") for run in runs):
            return False
    return True


def trigger_all(cli) -> None:
    for dag_id in DAG_IDS:
        wait_until(
            lambda d=dag_id: cli("dags", "unpause", d).returncode == 0, 300, 2, what=f"{dag_id} parsed"
        )
        result = cli("dags", "trigger", dag_id)
        assert result.returncode == 0, result.stderr[-2000:]


def run_dag_set(
    bin_dir: Path, home: Path, config: MetricsConfig, statsd_port: int, settle: float = 5.0
) -> dict:
    """Run the DAG set once under ``config``, sending statsd to ``statsd_port``; returns Airflow's truth once
    every run has ended and the components had ``settle`` seconds to send what follows."""
    env = metrics_env(config, statsd_port)
    runner = _airflow3 if config.airflow == AIRFLOW3 else _airflow2
    with runner(bin_dir, home, env) as (cli, api):
        trigger_all(cli)
        wait_until(lambda: _runs_finished(api), 600, 2, what="every DAG run ended")
        found = tries(api)
        time.sleep(settle)
        return found


@contextmanager
def _airflow3(bin_dir: Path, home: Path, env: dict[str, str]) -> Iterator:
    with running_airflow(bin_dir, home, {"airglow_twins": dag_source(AIRFLOW3)}, env) as airflow:
        yield airflow.cli, RestApi(airflow.api, AIRFLOW3)


@contextmanager
def _airflow2(bin_dir: Path, home: Path, extra: dict[str, str]) -> Iterator:
    """Airflow 2.11: scheduler (SequentialExecutor on SQLite), triggerer and webserver on loopback, in one
    process group; the REST API without auth, for these loopback-only runs."""
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "airglow_twins.py").write_text(dag_source(AIRFLOW2))
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__AUTH_BACKENDS": "airflow.api.auth.backend.basic_auth",
        "AIRFLOW__WEBSERVER__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__WEBSERVER__WORKERS": "1",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
        **extra,
    }

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["airflow", *args], env=env, capture_output=True, text=True, timeout=600)

    password = secrets.token_hex(8)
    for command in (
        ("db", "migrate"),
        (
            "users",
            "create",
            "--username",
            "airglow",
            "--password",
            password,
            "--role",
            "Admin",
            "--email",
            "airglow@example.invalid",
            "--firstname",
            "air",
            "--lastname",
            "glow",
        ),
    ):
        done = cli(*command)
        assert done.returncode == 0, done.stderr[-3000:]
    command = (
        f"airflow webserver -H 127.0.0.1 -p {port} & airflow scheduler --skip-serve-logs & "
        "airflow triggerer --skip-serve-logs & wait"
    )
    api = RestApi(f"http://127.0.0.1:{port}", AIRFLOW2, ("airglow", password))
    with components_running(command, env, home / "airflow.log"):
        wait_until(lambda: http_get(f"{api.base}/health")[0] == 200, 240, 1, what="Airflow 2 webserver up")
        yield cli, api


def record(bin_dir: Path, home: Path, config: MetricsConfig) -> dict:
    """One recorded run: the datagrams (seconds since start, sender port, payload) and Airflow's tries."""
    recorder = DatagramRecorder()
    try:
        found = run_dag_set(bin_dir, home, config, recorder.port)
    finally:
        recorder.close()
    return {
        "config": config.name,
        "airflow": config.airflow,
        "metrics_settings": config.settings,
        "deployment": config.deployment,
        "tries": found,
        "datagrams": recorder.datagrams,
    }


# What Prometheus must show after a run: per metric, the PromQL sum and the truth it must equal.
_COMPARED = {
    "ti_finish": 'sum by (dag_id, task_id, state) (airflow_ti_finish_total{dag_id=~"airglow_twins_.*"})',
    "ti_start": 'sum by (dag_id, task_id) (airflow_ti_start_total{dag_id=~"airglow_twins_.*"})',
    "task_duration_count": (
        'sum by (dag_id, task_id) (airflow_task_duration_seconds_count{dag_id=~"airglow_twins_.*"})'
    ),
}


def prometheus_counts(prometheus) -> dict[str, dict[str, int]]:
    """The compared sums as Prometheus has them, keyed like the truth (zero series left out: Airflow 2
    initialises ti.finish with a zero count for every state)."""
    out: dict[str, dict[str, int]] = {}
    for metric, promql in _COMPARED.items():
        rows = {}
        for row in prometheus.query(promql):
            labels = row["metric"]
            key = "|".join(labels[k] for k in ("dag_id", "task_id", "state") if k in labels)
            if float(row["value"][1]):
                rows[key] = int(float(row["value"][1]))
        out[metric] = dict(sorted(rows.items()))
    return out


def assert_prometheus_matches(prometheus, expected: dict, deployment: str, timeout: float = 120) -> None:
    """Prometheus equals Airflow's truth exactly, and every Airflow series has the expected deployment."""
    wanted = {metric: expected[metric] for metric in _COMPARED}

    def matches() -> bool:
        return prometheus_counts(prometheus) == wanted

    try:
        wait_until(matches, timeout, 1, what="Prometheus equals Airflow's own record")
    except AssertionError:
        got = prometheus_counts(prometheus)
        diff = {
            metric: {k: (got[metric].get(k), v) for k, v in wanted[metric].items() if got[metric].get(k) != v}
            | {k: (v, None) for k, v in got[metric].items() if k not in wanted[metric]}
            for metric in wanted
        }
        raise AssertionError(f"(prometheus, airflow) where they differ: {diff}") from None
    deployments = prometheus.query('count by (deployment) ({__name__=~"airflow_.+"})')
    assert [row["metric"].get("deployment", "") for row in deployments] == [deployment], deployments
    for name in ("airflow_ti_finish_total", "airflow_ti_start_total", "airflow_task_duration_seconds_count"):
        assert not prometheus.query(f'{name}{{dag_id=""}}'), f"{name} has a series without its ids"
