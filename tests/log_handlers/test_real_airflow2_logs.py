"""Real Airflow 2.11 runs a task with Airglow's task handler against moto S3; with the local log deleted,
Airflow 2's own TaskLogReader reads it back: every line, in order."""

from __future__ import annotations

import json

import pytest
from support.airflow2_probe import DAG_ID, LINES, READ_BACK, RUN_ID, TASK_ID, run_probe_dag
from support.airflow_deployment import run_python, s3_logging_env
from support.storage_servers import start_moto

from airglow.log_handlers.objectstore.reader import RemoteLogReader
from airglow.log_handlers.objectstore.store import ObjectStore

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.airflow]


def test_airflow2_task_handler_ships_and_airflow_reads_back(airflow2_bin, tmp_path) -> None:
    s3 = start_moto(tmp_path)
    try:
        remote_base = "s3://airglow-logs/airflow2"
        env = run_probe_dag(
            airflow2_bin,
            tmp_path / "airflow",
            s3_logging_env(remote_base, s3.extra["endpoint"], keep_chunks=True),
        )

        result = run_python(airflow2_bin, READ_BACK, env)
        text = json.dumps(result["logs"])
        found = [line for line in text.split("\\n") if "airglow line" in line]
        assert [line.rsplit("airglow line ", 1)[1][:4] for line in found] == [
            f"{n:04d}" for n in range(LINES)
        ]
        assert remote_base in text
        assert result["end_of_log"] is True

        task_log = RemoteLogReader(ObjectStore(remote_base, s3.storage_options)).files(
            f"dag_id={DAG_ID}/run_id={RUN_ID}/task_id={TASK_ID}/attempt={result['try_number']}.log"
        )
        assert len(task_log) == 1 and task_log[0].complete
        assert len(task_log[0].chunks) > 1, "the log left while the task ran, not only at its end"
    finally:
        s3.stop()
