"""Real Airflow 3.3.2 ships a task's log to moto S3 through Airglow; with the local log deleted, Airflow's
own REST API reads it back: every line, in order, across a deferral, with the trigger's log."""

from __future__ import annotations

import json
import shutil
import urllib.parse

import pytest
from airflow_deployment import run_python, running_airflow, s3_logging_env
from conftest import wait_until
from storage_servers import start_moto

from log_handlers.objectstore.reader import RemoteLogReader
from log_handlers.objectstore.store import ObjectStore

pytestmark = pytest.mark.slow

DAG_ID = "airglow_logs_probe"
TASK_ID = "chatty"
LINES = 120
DAG = f'''
import time
from datetime import timedelta

import pendulum
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import BaseOperator, dag


class Chatty(BaseOperator):
    """Logs half its lines, defers to the triggerer, resumes and logs the other half."""

    def execute(self, context):
        for number in range({LINES // 2}):
            self.log.info("airglow line %04d", number)
            time.sleep(0.02)
        # Longer than Airflow 3.3.2's supervisor takes to exit after a deferral (~5 s): a resume that starts
        # before the first workload is reported makes the scheduler fail the try (an Airflow race).
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=10)), method_name="resume")

    def resume(self, context, event=None):
        for number in range({LINES // 2}, {LINES}):
            self.log.info("airglow line %04d", number)
            time.sleep(0.02)


@dag(dag_id="{DAG_ID}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False)
def probe():
    Chatty(task_id="{TASK_ID}")


probe()
'''


def test_task_log_survives_in_s3_and_airflow_reads_it_back(airflow_bin, tmp_path) -> None:
    s3 = start_moto(tmp_path)
    try:
        remote_base = "s3://airglow-logs/airflow/logs"
        logging_env = s3_logging_env(remote_base, s3.extra["endpoint"])
        with running_airflow(airflow_bin, tmp_path / "airflow", {DAG_ID: DAG}, logging_env) as airflow:
            run_id = airflow.trigger(DAG_ID)
            assert airflow.wait_for_run(DAG_ID, run_id) == "success", (
                tmp_path / "airflow" / "airflow.log"
            ).read_text()[-5000:]
            # Airflow 3 records success before its supervisor's final upload: wait for that, as a pod's
            # deletion does (the pod ends when the supervisor exits), then lose the local log.
            reader = RemoteLogReader(ObjectStore(remote_base, s3.storage_options))
            relative = f"dag_id={DAG_ID}/run_id={run_id}/task_id={TASK_ID}/attempt=1.log"
            wait_until(
                lambda: reader.files(relative)[0].complete, 60, 0.5, what="final upload of the task log"
            )
            shutil.rmtree(tmp_path / "airflow" / "logs" / f"dag_id={DAG_ID}")

            quoted = urllib.parse.quote(run_id, safe="")
            body = airflow.get(
                f"/api/v2/dags/{DAG_ID}/dagRuns/{quoted}/taskInstances/{TASK_ID}/logs/1", full_content="true"
            )
        events = [entry.get("event", "") for entry in body["content"]]
        ours = [event for event in events if event.startswith("airglow line")]
        assert ours == [f"airglow line {n:04d}" for n in range(LINES)]
        sources = " ".join(events[: events.index("::endgroup::")])
        assert f"{remote_base}/dag_id={DAG_ID}/" in sources
        assert ".trigger." in sources, "the trigger's log is read back too"

        task_log = reader.files(relative)[0]
        assert len({chunk.segment for chunk in task_log.chunks}) == 2, "deferral and resume are two segments"
        assert len(task_log.chunks) > 2, "the log left the pod in chunks while the task ran"
    finally:
        s3.stop()


DISPATCH_PROBE = """
import json, os, sys
from airflow._shared.logging.factory import _build_remote_task_log_from_provider
from airflow.providers_manager import ProvidersManager
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
from airflow._shared.module_loading import import_string

url = os.environ["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"]
found = {}
for name, manager in (("core", ProvidersManager()), ("task-sdk", ProvidersManagerTaskRuntime())):
    handler = _build_remote_task_log_from_provider(
        remote_base_log_folder=url, providers_manager=manager, import_string=import_string
    )
    found[name] = [type(handler).__name__, handler.logs.settings.remote_base, handler.logs.settings.policy.interval]
relative = "dag_id=d/run_id=r/task_id=t/attempt=1.log"
local = os.path.join(os.environ["AIRFLOW__LOGGING__BASE_LOG_FOLDER"], relative)
os.makedirs(os.path.dirname(local))
with open(local, "w") as f:
    f.write("shipped through provider dispatch\\n")
handler.upload(relative)
sources, streams = handler.stream(relative, None)
found["read"] = [line for stream in streams for line in stream]
print(json.dumps(found))
"""


def test_airflow_provider_dispatch_builds_airglow_for_its_scheme(airflow_bin, tmp_path) -> None:
    """Airflow 3.3's dispatch by URL scheme (core and Task SDK provider managers) finds Airglow's entry
    point and builds the handler with ``from_config``. Remote logging stays off in this process: Airflow
    3.3.2's default logging module still rejects schemes it does not know when it is on (README)."""
    import os

    remote = tmp_path / "remote"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(tmp_path / "logs"),
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"airglow+file://{remote}",
        "AIRFLOW__LOGGING__REMOTE_TASK_HANDLER_KWARGS": json.dumps({"interval": 2}),
    }
    found = run_python(airflow_bin, DISPATCH_PROBE, env)
    expected = ["AirglowRemoteLogIO", f"file://{remote}", 2.0]
    assert found == {"core": expected, "task-sdk": expected, "read": ["shipped through provider dispatch"]}
