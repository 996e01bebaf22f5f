"""Real Airflow 3.3.2 ships a task's log to moto S3 through Airglow; with the local log deleted, Airflow's
own REST API reads it back: every line, in order, across a deferral, with the trigger's log."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse

import pytest
from support.airflow3_probe import DAG, DAG_ID, LINES, TASK_ID
from support.airflow_deployment import run_python, running_airflow, s3_logging_env
from support.common import wait_until
from support.storage_servers import start_moto

from airglow.log_handlers.objectstore.reader import RemoteLogReader
from airglow.log_handlers.objectstore.store import ObjectStore

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.airflow]


def test_task_log_survives_in_s3_and_airflow_reads_it_back(airflow_bin, tmp_path) -> None:
    s3 = start_moto(tmp_path)
    try:
        remote_base = "s3://airglow-logs/airflow/logs"
        # Chunks kept after the log is written whole, to see how it left the pod (and that none is read twice).
        logging_env = s3_logging_env(remote_base, s3.extra["endpoint"], keep_chunks=True)
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
        assert task_log.whole is not None and task_log.parts == (task_log.whole,), (
            "Airflow's layout at the end"
        )
        assert len({chunk.segment for chunk in task_log.chunks}) == 2, "deferral and resume are two segments"
        assert len(task_log.chunks) > 2, "the log left the pod in chunks while the task ran"
    finally:
        s3.stop()


# A probe's helper: a one-line local task log uploaded by a handler and streamed back from the store.
ROUND_TRIP = """
import os


def round_trip(handler, text):
    relative = "dag_id=d/run_id=r/task_id=t/attempt=1.log"
    local = os.path.join(os.environ["AIRFLOW__LOGGING__BASE_LOG_FOLDER"], relative)
    os.makedirs(os.path.dirname(local))
    with open(local, "w") as f:
        f.write(text + "\\n")
    handler.upload(relative)
    sources, streams = handler.stream(relative, None)
    return [line for stream in streams for line in stream]
"""

DISPATCH_PROBE = (
    ROUND_TRIP
    + """
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
found["read"] = round_trip(handler, "shipped through provider dispatch")
print(json.dumps(found))
"""
)


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


OLD_PATH_PROBE = (
    ROUND_TRIP
    + """
import json
import airflow.logging_config as logging_config
logging_config.configure_logging()
handler = logging_config.get_remote_task_log()
print(json.dumps({
    "handler": type(handler).__module__ + "." + type(handler).__name__,
    "read": round_trip(handler, "read back through the old module path"),
}))
"""
)


def test_the_old_module_path_still_configures_airflow_with_a_warning(airflow_bin, tmp_path) -> None:
    """``logging_config_class = log_handlers.logging_config.LOGGING_CONFIG`` (Airglow 0.1's path) still gives
    Airflow Airglow's remote log, which ships and reads back, and Airflow's process warns to change it."""
    import os

    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "home"),
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
        "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS": "log_handlers.logging_config.LOGGING_CONFIG",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(tmp_path / "logs"),
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"file://{tmp_path / 'remote'}",
    }
    result = subprocess.run(
        [str(airflow_bin / "python"), "-c", OLD_PATH_PROBE],
        env=env,
        cwd=tmp_path,  # not this checkout, whose log_handlers folder would be a real top-level package
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["handler"] == "airglow.log_handlers.airflow.objectstore_remote_io.AirglowRemoteLogIO"
    assert found["read"] == ["read back through the old module path"]
    # Airflow's own logging shows the warning (it captures Python warnings).
    warning = "FutureWarning: 'log_handlers' is Airglow 0.1's module path; use 'airglow.log_handlers'"
    assert warning in result.stdout + result.stderr
