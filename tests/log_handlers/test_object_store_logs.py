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


def airflow_layout(target: Target) -> bool:
    """Whether a finished log is written in Airflow's layout there (stores with a stock Airflow handler)."""
    return target.kind in ("s3", "gcs", "azure")


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
    assert len(_files(logs, ATTEMPT_1)[0].chunks) > 1, "the log must leave in several chunks while written"

    assert logs.finish(path) is True
    sources, streams = logs.stream(ATTEMPT_1)
    assert [list(s) for s in streams] == [lines]
    files = _files(logs, ATTEMPT_1)
    assert files[0].complete
    if airflow_layout(target):
        assert sources == [f"{target.url}/{ATTEMPT_1}"], "one object where Airflow's own handler reads"
        assert files[0].chunks == (), "the chunks are removed once the log is whole"
    else:
        assert sources == [f"{target.url}/{_encoded(ATTEMPT_1)}"]


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
    (log_file,) = _files(after, ATTEMPT_1)
    if airflow_layout(target):
        assert log_file.whole is not None and log_file.chunks == ()
    else:
        assert {chunk.segment for chunk in log_file.chunks} == {"000000", "000001"}


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


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_a_consolidation_cut_short_at_any_step_reads_every_line_once(
    kind: str, servers, tmp_path: Path
) -> None:
    """Markers, then the whole object, then removal: a writer killed between any two steps leaves a log
    that reads whole and once, and the next consolidation finishes the job."""
    from airglow.log_handlers.errors import StoreError
    from airglow.log_handlers.objectstore.consolidate import consolidate

    target = make_target(kind, servers, tmp_path)
    base = tmp_path / "local"
    path = local_log(base, ATTEMPT_1)
    logs = task_logs(target, base, airflow_layout=False)  # consolidated by hand below
    logs.track(path)
    append_lines(path, ["first segment"])
    assert logs.finish(path)
    store = logs.store

    def killed_before_the_whole_object(key: str, blocks) -> None:
        raise StoreError("put", key, ConnectionError("killed"))

    real_put_stream = store.put_stream
    store.put_stream = killed_before_the_whole_object  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        consolidate(store, ATTEMPT_1)
    assert remote_lines(logs, ATTEMPT_1) == [["first segment"]], "markers alone change nothing"
    store.put_stream = real_put_stream  # type: ignore[method-assign]

    consolidate(store, ATTEMPT_1, keep_chunks=True)  # as if killed before the removal
    (log_file,) = _files(logs, ATTEMPT_1)
    assert log_file.whole is not None and log_file.chunks, "whole object and chunks side by side"
    assert remote_lines(logs, ATTEMPT_1) == [["first segment"]]

    resumed = task_logs(target, base, airflow_layout=False)
    resumed.track(path)
    append_lines(path, ["second segment"])
    assert resumed.finish(path)
    assert remote_lines(logs, ATTEMPT_1) == [["first segment", "second segment"]]

    whole_before = _files(logs, ATTEMPT_1)[0].whole
    real_iter_bytes = store.iter_bytes

    def failing_on_chunks(key: str, start: int = 0):
        yield from real_iter_bytes(key, start)
        if key.endswith(".chunk"):  # after its bytes went into the upload
            raise StoreError("read", key, ConnectionError("lost mid-upload"))

    store.iter_bytes = failing_on_chunks  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        consolidate(store, ATTEMPT_1)  # the upload of the whole object fails half-way
    store.iter_bytes = real_iter_bytes  # type: ignore[method-assign]
    assert _files(logs, ATTEMPT_1)[0].whole == whole_before, "no truncated whole object is committed"
    assert remote_lines(logs, ATTEMPT_1) == [["first segment", "second segment"]]

    consolidate(store, ATTEMPT_1)
    (log_file,) = _files(logs, ATTEMPT_1)
    assert log_file.objects == () and log_file.complete
    assert remote_lines(logs, ATTEMPT_1) == [["first segment", "second segment"]]


@pytest.mark.parametrize("after_listing", ["whole object", "chunks"])
def test_a_lookup_that_a_consolidation_interrupts_reads_every_line_once(
    after_listing: str, servers, tmp_path: Path
) -> None:
    """A log's chunks and its whole object live in two folders, listed one after the other; a consolidation
    that runs between two listings (the writer ending the try while a reader looks) loses and repeats no line."""
    from airglow.log_handlers.objectstore.consolidate import consolidate

    target = make_target("s3", servers, tmp_path)
    base = tmp_path / "local"
    path = local_log(base, ATTEMPT_1)
    logs = task_logs(target, base, airflow_layout=False)
    logs.track(path)
    append_lines(path, ["first segment"])
    assert logs.finish(path)
    store = logs.store
    real_list_objects = store.list_objects
    listings = []
    whole_folder = ATTEMPT_1.rpartition("/")[0]

    def consolidated_between_listings(key_prefix: str) -> dict[str, int]:
        listings.append(key_prefix)
        found = real_list_objects(key_prefix)
        if (key_prefix.endswith(whole_folder)) == (after_listing == "whole object"):
            store.list_objects = real_list_objects  # type: ignore[method-assign]
            consolidate(store, ATTEMPT_1)
            store.list_objects = consolidated_between_listings  # type: ignore[method-assign]
        return found

    store.list_objects = consolidated_between_listings  # type: ignore[method-assign]
    assert remote_lines(logs, ATTEMPT_1) == [["first segment"]]
    assert len(set(listings)) == 2, "the chunks and the whole object are in two folders"
    store.list_objects = real_list_objects  # type: ignore[method-assign]
    (log_file,) = _files(logs, ATTEMPT_1)
    assert log_file.objects == () and log_file.whole is not None, "the consolidation did run"


def read_only_azure(server: StorageServer) -> dict[str, str]:
    """A connection string whose SAS may read and list the container, not write or delete."""
    from datetime import datetime, timedelta, timezone

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas
    from support.storage_servers import AZURITE_ACCOUNT, AZURITE_KEY

    sas = generate_container_sas(
        AZURITE_ACCOUNT,
        "airglow-logs",
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    endpoint = server.storage_options["connection_string"].split("BlobEndpoint=")[1].rstrip(";")
    return {"AZURE_STORAGE_CONNECTION_STRING": f"BlobEndpoint={endpoint};SharedAccessSignature={sas}"}


def wrong_key_azure(server: StorageServer) -> dict[str, str]:
    from support.storage_servers import AZURITE_KEY

    wrong = server.env["AZURE_STORAGE_CONNECTION_STRING"].replace(AZURITE_KEY, "A" * 86 + "==")
    return {"AZURE_STORAGE_CONNECTION_STRING": wrong}


CHECKS = {
    # case: (store, bucket URL or None for the server's, environment change, exit code, what stdout says)
    "good S3 bucket": ("s3", None, {}, 0, "delete it: ok"),
    "good Azure container": ("azure", None, {}, 0, "delete it: ok"),
    "missing S3 bucket": ("s3", "s3://no-such-bucket/logs", {}, 2, "list the base folder: FAILED"),
    "missing Azure container": ("azure", "abfs://no-such-container/logs", {}, 2, "find the bucket: FAILED"),
    "wrong Azure key": ("azure", None, wrong_key_azure, 2, "list the base folder: FAILED"),
    "read-only Azure SAS": ("azure", None, read_only_azure, 2, "write a probe object: FAILED"),
}


@pytest.mark.parametrize("case", list(CHECKS))
def test_airglow_logs_check_says_exactly_what_is_wrong(case: str, servers, tmp_path: Path) -> None:
    kind, url, env_change, code, says = CHECKS[case]
    server = servers(kind)
    url = url or server.bucket_url(unique_prefix())
    env = {**os.environ, **server.env, **(env_change(server) if callable(env_change) else env_change)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "airglow.log_handlers.objectstore.cli", "check", "--remote-base", url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert (result.returncode, says in result.stdout) == (code, True), result.stdout + result.stderr
    assert time.monotonic() - started < 30, "a permanent error is not retried"
    assert "Traceback" not in result.stdout + result.stderr
    if code:
        assert "probably:" in result.stdout
        assert AZURITE_SECRET_MARK not in result.stdout, "no credential in the report"
    else:
        assert "works for Airglow" in result.stdout


AZURITE_SECRET_MARK = "AccountKey="


@pytest.mark.parametrize("kind", ["s3", "azure"])
def test_a_task_end_against_a_missing_bucket_is_quick_and_says_so_once(
    kind: str, servers, tmp_path: Path, caplog
) -> None:
    server = servers(kind)
    missing = {"s3": "s3://no-such-bucket/logs", "azure": "abfs://no-such-container/logs"}[kind]
    base = tmp_path / "local"
    path = local_log(base, ATTEMPT_1)
    logs = task_logs(Target(kind, missing, server.storage_options, server.env), base, interval=0.5)
    logs.track(path)
    append_lines(path, ["kept locally"])
    time.sleep(1.0)  # the background shipper meets the missing bucket first
    with caplog.at_level(logging.WARNING, logger="airglow.log_handlers"):
        started = time.monotonic()
        assert logs.finish(path) is False
        took = time.monotonic() - started
    assert took < 2, f"the task end took {took:.1f}s against a missing bucket"
    assert path.read_text() == "kept locally\n"
    errors = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(errors) == 1 and "airglow-logs check" in caplog.text, caplog.text


@pytest.mark.parametrize("kind", ["s3", "azure"])
def test_airglow_logs_read_options_before_or_after_the_subcommand_and_exit_codes(
    kind: str, servers, tmp_path: Path
) -> None:
    server = servers(kind)
    target = make_target(kind, servers, tmp_path)
    base = tmp_path / "local"
    path = local_log(base, ATTEMPT_1)
    append_lines(path, ["found"])
    assert task_logs(target, base).finish(path)
    env = {**os.environ, **server.env}
    module = [sys.executable, "-m", "airglow.log_handlers.objectstore.cli"]
    ids = ["--dag", "etl", "--task", "load", "--run", RUN_ID]

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([*module, *argv], capture_output=True, text=True, env=env, timeout=120)

    for argv in (
        ["--remote-base", target.url, "read", *ids],
        ["read", *ids, "--remote-base", target.url],
        ["--remote-base", target.url, *ids],  # no subcommand: read
    ):
        found = run(*argv)
        assert (found.returncode, found.stdout) == (0, "found\n"), found.stderr
    missing_log = run("--remote-base", target.url, "read", "--dag", "etl", "--task", "other", "--run", RUN_ID)
    assert missing_log.returncode == 1 and "no log at" in missing_log.stderr
    missing_bucket = target.url.replace("airglow-logs", "no-such-bucket")
    started = time.monotonic()
    no_bucket = run("--remote-base", missing_bucket, *ids)
    assert no_bucket.returncode == 2 and "no-such-bucket" in no_bucket.stderr, no_bucket.stderr
    assert time.monotonic() - started < 30 and "Traceback" not in no_bucket.stderr
