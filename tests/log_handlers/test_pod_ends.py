"""The end of a task pod reaches its log: ``airglow-pod-ends`` watches pods through the (stand-in)
Kubernetes API, and an OOM kill, an eviction, a non-zero exit or a deletion becomes the last line of that try's
remote log, in object storage (moto S3) or in Elasticsearch (the stand-in), which is then complete; a pod that succeeded adds nothing, and a restart of the
watcher does not write a note twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from support import k8s_api_stub as k8s
from support.common import wait_until
from support.es_logs import read_messages, task_logs, write_lines
from support.es_server import EsServer, running_es
from support.storage_servers import StorageServer, unique_prefix

from airglow.log_handlers.objectstore.reader import RemoteLogReader
from airglow.log_handlers.objectstore.settings import ObjectStoreLogSettings
from airglow.log_handlers.objectstore.task_logs import ObjectStoreTaskLogs
from airglow.log_handlers.try_identity import TryIdentity, render_log_path

pytestmark = [pytest.mark.server]

NAMESPACE = "airflow-prod"
RUN_ID = "scheduled__2026-12-01T00:00:00+00:00"


def task_pod(name: str, task_id: str, phase: str, **status: object) -> dict:
    """A KubernetesExecutor task pod: the try in annotations, labels as the executor sets them."""
    item = k8s.pod(name, NAMESPACE, "10.0.0.9", {"kubernetes_executor": "True", "dag_id": "etl"})
    item["metadata"]["annotations"] = {
        "dag_id": "etl",
        "task_id": task_id,
        "run_id": RUN_ID,
        "try_number": "1",
    }
    item["status"] = {"phase": phase, **status}
    return item


def terminated(reason: str, exit_code: int) -> dict:
    return {
        "containerStatuses": [
            {
                "name": "base",
                "ready": False,
                "restartCount": 0,
                "image": "apache/airflow:3.3.2",
                "imageID": "",
                "state": {"terminated": {"reason": reason, "exitCode": exit_code}},
            }
        ]
    }


def identity(task_id: str) -> TryIdentity:
    return TryIdentity("etl", task_id, RUN_ID, 1, -1)


class StoreLogs:
    """Task logs in object storage (moto S3), each try shipped and then killed: never marked complete."""

    def __init__(self, server: StorageServer, base: Path) -> None:
        self.url = server.bucket_url(unique_prefix())
        self.server, self.base = server, base
        self.logs = ObjectStoreTaskLogs(
            ObjectStoreLogSettings.build(self.url, base, storage_options=server.storage_options)
        )
        self.reader = RemoteLogReader(self.logs.store)
        self.arguments = ["--remote-base", self.url]
        self.env = server.env

    def killed_mid_task(self, task_id: str) -> None:
        path = self.base / render_log_path(identity(task_id))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        self.logs.track(path)
        path.write_text(json.dumps({"event": f"{task_id} working", "level": "info"}) + "\n")
        wait_until(lambda: self.lines(task_id), 30, 0.1, what="the first lines shipped")

    def lines(self, task_id: str) -> list[str]:
        files = self.reader.files(render_log_path(identity(task_id)))
        return [json.loads(line)["event"] for line in self.reader.lines(files[0])] if files else []

    def complete(self, task_id: str) -> bool:
        (log_file,) = self.reader.files(render_log_path(identity(task_id)))
        return log_file.complete and log_file.whole is not None  # and in Airflow's layout


class ElasticsearchLogs:
    """Task logs in the Elasticsearch stand-in, each try's lines delivered without an end mark."""

    def __init__(self, es: EsServer) -> None:
        self.logs = task_logs(es)
        self.arguments = ["--elasticsearch", "--hosts", es.url]
        self.env: dict[str, str] = {}
        self._es = es

    def killed_mid_task(self, task_id: str) -> None:
        writer = self.logs.open_writer(identity(task_id))
        write_lines(writer, [f"{task_id} working"])
        assert writer.finish(ended=False)

    def lines(self, task_id: str) -> list[str]:
        messages = read_messages(self.logs, identity(task_id))
        return [m for m in messages if m != self.logs.settings.end_of_log_mark]

    def complete(self, task_id: str) -> bool:
        return read_messages(self.logs, identity(task_id))[-1] == self.logs.settings.end_of_log_mark


@contextmanager
def pod_ends_watcher(logs, config: Path, log: Path) -> Iterator[None]:
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "airglow.log_handlers.pod_ends.cli",
                *logs.arguments,
                "--kubeconfig",
                str(config),
                "--namespace",
                NAMESPACE,
            ],
            env={**os.environ, **logs.env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(params=["s3", "elasticsearch"])
def logs(request, servers, tmp_path: Path):
    if request.param == "s3":
        yield StoreLogs(servers("s3"), tmp_path / "local")
        return
    with running_es() as es:
        yield ElasticsearchLogs(es)


def test_abnormal_pod_ends_become_the_last_line_of_their_logs(logs, tmp_path: Path) -> None:
    for task_id in ("oom", "evicted", "deleted", "failed", "ok"):
        logs.killed_mid_task(task_id)
    api = k8s.PodAPI()
    stub, port = k8s.start(api)
    config = tmp_path / "kubeconfig"
    config.write_text(k8s.kubeconfig(port))
    try:
        api.put(
            task_pod(
                "etl-evicted", "evicted", "Failed", reason="Evicted", message="The node was low on memory."
            )
        )
        with pod_ends_watcher(logs, config, tmp_path / "watcher.log"):
            wait_until(
                lambda: api.watches >= 1, 60, 0.1, what="the watcher watching"
            )  # a deletion is an event
            api.put(task_pod("etl-oom", "oom", "Running"))
            api.put(task_pod("etl-oom", "oom", "Failed", **terminated("OOMKilled", 137)))
            api.put(task_pod("etl-ok", "ok", "Succeeded", **terminated("Completed", 0)))
            api.put(task_pod("etl-failed", "failed", "Failed", **terminated("Error", 1)))
            api.put(task_pod("etl-deleted", "deleted", "Running"))
            api.delete(NAMESPACE, "etl-deleted")
            expected = {
                "oom": "OOMKilled (container base went over its memory limit, exit code 137)",
                "evicted": "Evicted (The node was low on memory.)",
                "deleted": "deleted while Running",
                "failed": "container base exited with code 1 (Error)",
            }
            for task_id, reason in expected.items():
                wait_until(
                    lambda task_id=task_id: len(logs.lines(task_id)) == 2,
                    60,
                    0.2,
                    what=f"the end of {task_id}",
                )
                first, last = logs.lines(task_id)
                assert first == f"{task_id} working"
                assert f"the task pod {NAMESPACE}/etl-{task_id} ended abnormally: {reason}" in last
                assert logs.complete(task_id), "the log is marked complete"
        assert logs.lines("ok") == ["ok working"], "a pod that succeeded adds nothing"

        with pod_ends_watcher(logs, config, tmp_path / "watcher.log"):  # lists the ended pods again
            wait_until(lambda: api.watches >= 2, 60, 0.2, what="the second watcher watching")
        for task_id in expected:
            assert len(logs.lines(task_id)) == 2, f"the end of {task_id} is noted once"
    finally:
        k8s.stop(stub)
        print((tmp_path / "watcher.log").read_text()[-3000:])
