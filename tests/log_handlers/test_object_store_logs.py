"""Object-store task logs against real storage servers (moto S3, fake-gcs-server, Azurite) and local files.

Shipping while the task runs, reading while running and after completion, earlier tries, trigger logs,
deferral segments, ``airglow-logs --follow``, unreachable stores and credentials kept out of logs.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.common import free_port, wait_until
from support.storage_servers import StorageServer, Target, make_target, unique_prefix

from airglow.log_handlers.objectstore.settings import ObjectStoreLogSettings
from airglow.log_handlers.objectstore.task_logs import ObjectStoreTaskLogs

RUN_ID = "manual__2026-11-21T10:00:00+00:00"
ATTEMPT_1 = f"dag_id=etl/run_id={RUN_ID}/task_id=load/attempt=1.log"
ATTEMPT_2 = ATTEMPT_1.replace("attempt=1", "attempt=2")


def task_logs(target: Target, base: Path, **shipping: Any) -> ObjectStoreTaskLogs:
    shipping.setdefault("interval", 0.2)
    settings = ObjectStoreLogSettings.build(
        target.url, base, storage_options=target.storage_options, **shipping
    )
    return ObjectStoreTaskLogs(settings)


def local_log(base: Path, relative: str) -> Path:
    path = base / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


def append_lines(path: Path, lines: list[str], pause: float = 0.0) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line + "\n")
            handle.flush()
            if pause:
                time.sleep(pause)


def remote_lines(logs: ObjectStoreTaskLogs, relative: str) -> list[list[str]]:
    _, streams = logs.stream(relative)
    return [list(stream) for stream in streams]


def test_ships_while_running_then_completes_in_order(target: Target, tmp_path: Path) -> None:
    base = tmp_path / "local"
    path = local_log(base, ATTEMPT_1)
    logs = task_logs(target, base)
    logs.track(path)
    lines = [f'{{"event": "line {i}", "level": "info"}}' for i in range(400)]
    writer = threading.Thread(target=append_lines, args=(path, lines, 0.002))
    writer.start()

    def shipped_part() -> list[str] | None:
        files = logs.stream(ATTEMPT_1)[1]
        seen = list(files[0]) if files else []
        return seen if 0 < len(seen) < len(lines) else None

    partial = wait_until(shipped_part, 20, 0.05, what="part of the log readable while the task runs")
    assert partial == lines[: len(partial)]
    sources, _ = logs.stream(ATTEMPT_1)
    assert sources[0].endswith("(still being written)")
    writer.join()

    assert logs.finish(path) is True
    sources, streams = logs.stream(ATTEMPT_1)
    assert [list(s) for s in streams] == [lines]
    assert sources == [f"{target.url}/{_encoded(ATTEMPT_1)}"]
    files = _files(logs, ATTEMPT_1)
    assert len(files[0].chunks) > 1, "the log must leave in several chunks while it is written"
    assert files[0].complete


def test_last_line_without_newline_is_shipped_at_task_end(target: Target, tmp_path: Path) -> None:
    base = tmp_path / "local"
    path = local_log(base, ATTEMPT_1)
    logs = task_logs(target, base)
    logs.track(path)
    path.write_text("first\nsecond without newline")
    assert logs.finish(path)
    assert remote_lines(logs, ATTEMPT_1) == [["first", "second without newline"]]


def test_every_try_and_trigger_logs_are_readable(target: Target, tmp_path: Path) -> None:
    base = tmp_path / "local"
    logs = task_logs(target, base)
    contents = {
        ATTEMPT_1: ["try 1 starts", "try 1 fails"],
        ATTEMPT_1 + ".trigger.17.log": ["trigger 17 waits", "trigger 17 fires"],
        ATTEMPT_2: ["try 2 succeeds"],
    }
    for relative, lines in contents.items():
        path = local_log(base, relative)
        append_lines(path, lines)
        assert logs.finish(path)

    sources, streams = logs.stream(ATTEMPT_1)
    assert [list(s) for s in streams] == [contents[ATTEMPT_1], contents[ATTEMPT_1 + ".trigger.17.log"]]
    assert sources[1].endswith(".trigger.17.log")
    assert remote_lines(logs, ATTEMPT_2) == [contents[ATTEMPT_2]]
    absent = ATTEMPT_1.replace("attempt=1", "attempt=3")
    assert logs.stream(absent) == ([], [])


def test_deferred_task_resumes_as_a_new_segment_without_duplicates(target: Target, tmp_path: Path) -> None:
    """Before deferral one supervisor ships the file; after resume another appends to it on the same node."""
    base = tmp_path / "local"
    path = local_log(base, ATTEMPT_1)
    before = task_logs(target, base)
    before.track(path)
    append_lines(path, ["before deferral 1", "before deferral 2"])
    assert before.finish(path)

    after = task_logs(target, base)
    after.track(path)
    append_lines(path, ["after resume 1", "after resume 2"])
    assert after.finish(path)

    assert remote_lines(after, ATTEMPT_1) == [
        ["before deferral 1", "before deferral 2", "after resume 1", "after resume 2"]
    ]
    segments = {chunk.segment for chunk in _files(after, ATTEMPT_1)[0].chunks}
    assert segments == {"000000", "000001"}


def test_resume_on_a_new_pod_starts_from_an_empty_file(target: Target, tmp_path: Path) -> None:
    first_pod, second_pod = tmp_path / "pod-1", tmp_path / "pod-2"
    for base, lines in ((first_pod, ["pod 1 line"]), (second_pod, ["pod 2 line"])):
        path = local_log(base, ATTEMPT_1)
        logs = task_logs(target, base)
        logs.track(path)
        append_lines(path, lines)
        assert logs.finish(path)
    assert remote_lines(logs, ATTEMPT_1) == [["pod 1 line", "pod 2 line"]]


def test_delete_local_copy_only_after_a_complete_upload(target: Target, tmp_path: Path) -> None:
    base = tmp_path / "local"
    path = local_log(base, ATTEMPT_1)
    logs = task_logs(target, base, delete_local_copy=True)
    append_lines(path, ["kept remotely"])
    assert logs.finish(path)
    assert not path.exists()
    assert remote_lines(logs, ATTEMPT_1) == [["kept remotely"]]


@pytest.mark.parametrize("kind", ["file", "s3", "gcs", "azure"])
def test_airglow_logs_follow_prints_the_log_as_it_grows(kind: str, servers, tmp_path: Path) -> None:
    target = make_target(kind, servers, tmp_path)
    base = tmp_path / "local"
    path = local_log(base, ATTEMPT_1)
    logs = task_logs(target, base)
    logs.track(path)
    lines = [f"line {i}" for i in range(60)]
    follower = subprocess.Popen(
        [
            *airglow_logs(target, "--dag", "etl", "--task", "load", "--run", RUN_ID),
            "--follow",
            "--poll",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **target.env},
    )
    append_lines(path, lines[:30], pause=0.01)
    time.sleep(0.6)
    assert follower.poll() is None, "--follow must wait while the log is incomplete"
    append_lines(path, lines[30:], pause=0.01)
    assert logs.finish(path)
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 0, err
    assert out.splitlines() == lines

    once = subprocess.run(
        airglow_logs(target, "--path", ATTEMPT_1),
        capture_output=True,
        text=True,
        env={**os.environ, **target.env},
        timeout=60,
    )
    assert once.returncode == 0 and once.stdout.splitlines() == lines, once.stderr


def test_airglow_logs_picks_the_latest_try_and_reports_a_missing_log(tmp_path: Path) -> None:
    target = Target("file", f"file://{tmp_path / 'remote'}", {}, {})
    base = tmp_path / "local"
    logs = task_logs(target, base)
    for relative, line in ((ATTEMPT_1, "first try"), (ATTEMPT_2, "second try")):
        path = local_log(base, relative)
        append_lines(path, [line])
        assert logs.finish(path)
    common = airglow_logs(target, "--dag", "etl", "--task", "load", "--run", RUN_ID)
    latest = subprocess.run(common, capture_output=True, text=True, timeout=60)
    assert latest.stdout.splitlines() == ["second try"]
    first = subprocess.run([*common, "--try", "1"], capture_output=True, text=True, timeout=60)
    assert first.stdout.splitlines() == ["first try"]
    missing = subprocess.run([*common[:-1], "other_run"], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no log at" in missing.stderr


@dataclass
class FakeConnection:
    """The fields of an Airflow connection the credentials mapping reads (Airflow is not installed here)."""

    conn_type: str
    login: str | None = None
    password: str | None = None
    host: str | None = None
    extra_dejson: dict[str, Any] = field(default_factory=dict)


def airflow_connection(server: StorageServer) -> FakeConnection:
    """How a user would describe each emulator as an aws / google_cloud_platform / wasb connection."""
    if server.kind == "s3":
        return FakeConnection(
            "aws",
            "testing",
            "testing",
            extra_dejson={"endpoint_url": server.extra["endpoint"], "region_name": "us-east-1"},
        )
    if server.kind == "gcs":
        return FakeConnection(
            "google_cloud_platform",
            extra_dejson={"endpoint_url": server.storage_options["endpoint_url"], "project": "airglow-test"},
        )
    return FakeConnection(
        "wasb", extra_dejson={"connection_string": server.storage_options["connection_string"]}
    )


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_credentials_from_an_airflow_connection_reach_the_store(kind: str, servers, tmp_path: Path) -> None:
    server = servers(kind)
    base = tmp_path / "local"
    path = local_log(base, ATTEMPT_1)
    append_lines(path, ["via the connection"])
    anonymous = {"token": "anon"} if kind == "gcs" else {}  # the emulator has no accounts
    settings = ObjectStoreLogSettings.build(
        server.bucket_url(unique_prefix()), base, conn_id="logs", storage_options=anonymous
    )
    looked_up: list[str] = []
    logs = ObjectStoreTaskLogs(
        settings, lambda conn_id: looked_up.append(conn_id) or airflow_connection(server)
    )
    assert logs.finish(path)
    assert remote_lines(logs, ATTEMPT_1) == [["via the connection"]]
    assert looked_up == ["logs"]


def test_unreachable_store_keeps_the_local_log_never_raises_and_never_logs_secrets(
    tmp_path: Path, caplog
) -> None:
    secret = "s3cr3t-value-never-logged"
    dead = f"http://127.0.0.1:{free_port()}"
    target = Target(
        "s3",
        "s3://airglow-logs/x",
        {
            "endpoint_url": dead,
            "key": "AKIDEXAMPLE",
            "secret": secret,
            "config_kwargs": {"connect_timeout": 1, "read_timeout": 1, "retries": {"max_attempts": 1}},
        },
        {},
    )
    base = tmp_path / "local"
    path = local_log(base, ATTEMPT_1)
    logs = task_logs(target, base, final_timeout=1.5, backoff_initial=0.2, delete_local_copy=True)
    append_lines(path, ["must survive"])
    with caplog.at_level(logging.WARNING, logger="airglow.log_handlers"):
        assert logs.finish(path) is False
    assert path.read_text() == "must survive\n", "the local log is kept when the upload failed"
    assert "incomplete" in caplog.text and "is kept" in caplog.text
    assert secret not in caplog.text


def airglow_logs(target: Target, *args: str) -> list[str]:
    """The ``airglow-logs`` command line for ``target`` (anonymous access for the GCS emulator)."""
    anonymous = ["--storage-option", "token=anon"] if target.kind == "gcs" else []
    return [
        sys.executable,
        "-m",
        "airglow.log_handlers.objectstore.cli",
        "--remote-base",
        target.url,
        *anonymous,
        *args,
    ]


def _files(logs: ObjectStoreTaskLogs, relative: str):
    from airglow.log_handlers.objectstore.reader import RemoteLogReader

    return RemoteLogReader(logs.store).files(relative)


def _encoded(relative: str) -> str:
    from airglow.log_handlers.objectstore.keys import encode_relative_path

    return encode_relative_path(relative)
