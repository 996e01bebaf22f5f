"""A DAG for real Airflow 2 that one task logs lines in, run under a real scheduler, and the script that
reads its log back through Airflow's own log reader."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import psutil

from support.common import wait_until

DAG_ID, TASK_ID, RUN_ID, LINES = "airglow_logs_probe2", "chatty", "airglow_run_1", 60
DAG = f'''
import logging
import time

import pendulum
from airflow import DAG
from airflow.operators.python import PythonOperator


def chatty():
    log = logging.getLogger("airflow.task")
    for number in range({LINES}):
        log.info("airglow line %04d", number)
        time.sleep(0.05)


with DAG("{DAG_ID}", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    PythonOperator(task_id="{TASK_ID}", python_callable=chatty)
'''
READ_BACK = f"""
import json
from airflow.models import TaskInstance
from airflow.utils.log.log_reader import TaskLogReader
from airflow.utils.session import create_session

with create_session() as session:
    ti = session.query(TaskInstance).filter_by(dag_id="{DAG_ID}", task_id="{TASK_ID}", run_id="{RUN_ID}").one()
    ti.dag = None
    logs, metadata = TaskLogReader().read_log_chunks(ti, ti.try_number, {{}})
    try_number = ti.try_number
print(json.dumps({{"logs": logs, "end_of_log": metadata.get("end_of_log"), "try_number": try_number}}))
"""


def run_probe_dag(airflow2_bin: Path, home: Path, logging_env: dict[str, str]) -> dict[str, str]:
    """Run the probe DAG's one task under a real Airflow 2 scheduler with ``logging_env``, delete the local
    log, and return the environment to read it back with."""
    (home / "dags").mkdir(parents=True)
    (home / "dags" / f"{DAG_ID}.py").write_text(DAG)
    env = {
        **os.environ,
        "PATH": f"{airflow2_bin}:{os.environ['PATH']}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        **logging_env,
    }

    def airflow(*args: str) -> str:
        result = subprocess.run(["airflow", *args], env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-4000:])
        return result.stdout

    airflow("db", "migrate")
    airflow("dags", "reserialize")
    airflow("dags", "unpause", DAG_ID)
    airflow("dags", "trigger", DAG_ID, "--run-id", RUN_ID)
    # The scheduler (SequentialExecutor on SQLite) queues the try and runs ``airflow tasks run --local``.
    with open(home / "scheduler.log", "wb") as log:
        scheduler = subprocess.Popen(
            ["airflow", "scheduler"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_until(
            lambda: "success" in airflow("tasks", "state", DAG_ID, TASK_ID, RUN_ID),
            300,
            2,
            what="task success",
        )
        # The task sets its state before its handlers close (and upload): the try ends when its processes do.
        wait_until(lambda: not _task_processes(scheduler.pid), 120, 0.5, what="the task's processes to exit")
    finally:
        os.killpg(scheduler.pid, signal.SIGTERM)
        scheduler.wait(timeout=60)
    shutil.rmtree(home / "logs" / f"dag_id={DAG_ID}")
    return env


def _task_processes(scheduler_pid: int) -> list[psutil.Process]:
    """The scheduler's ``airflow tasks run`` and the task runner it forks (which has a process group of its
    own, so stopping the scheduler's group would not reach it)."""
    found = []
    for process in psutil.Process(scheduler_pid).children(recursive=True):
        try:
            command = " ".join(process.cmdline())
        except psutil.Error:
            continue
        if "tasks run" in command or "task runner" in command:
            found.append(process)
    return found
