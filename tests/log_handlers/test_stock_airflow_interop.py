"""No lock-in either way: Airflow's own provider handlers (S3, GCS, WASB; installed in a venv of their own,
without Airglow) and Airglow read each other's task logs on moto S3, fake-gcs-server and Azurite.

The stock handlers run as Airflow builds them from ``[logging]``; the only changes are for the GCS emulator:
an anonymous client (the handler's own needs Google credentials) and an empty object to append to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.airflow_deployment import run_python
from support.storage_servers import StorageServer, unique_prefix

from airglow.log_handlers.objectstore.reader import RemoteLogReader
from airglow.log_handlers.objectstore.settings import ObjectStoreLogSettings
from airglow.log_handlers.objectstore.task_logs import ObjectStoreTaskLogs

pytestmark = [pytest.mark.slow, pytest.mark.server, pytest.mark.airflow]

RUN_ID = "scheduled__2026-12-01T00:00:00+00:00"
RELATIVE = f"dag_id=etl/run_id={RUN_ID}/task_id=load/attempt=1.log"
LINES = [json.dumps({"event": f"line {n}", "level": "info"}) for n in range(50)]

# Run with the stock venv's Python: build Airflow's own RemoteLogIO for one store, then upload or read.
STOCK_HANDLER = """
import json, os, sys
kind, action, remote_base, base_log_folder, relative = sys.argv[1:6]
if kind == "s3":
    from airflow.providers.amazon.aws.log.s3_task_handler import S3RemoteLogIO
    io = S3RemoteLogIO(remote_base=remote_base, base_log_folder=base_log_folder, delete_local_copy=False)
elif kind == "azure":
    from airflow.providers.microsoft.azure.log.wasb_task_handler import WasbRemoteLogIO
    container, _, folder = remote_base.removeprefix("abfs://").partition("/")
    io = WasbRemoteLogIO(
        remote_base=folder, base_log_folder=base_log_folder, delete_local_copy=False, wasb_container=container
    )
else:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from airflow.providers.google.cloud.log.gcs_task_handler import GCSRemoteLogIO
    io = GCSRemoteLogIO(remote_base=remote_base, base_log_folder=base_log_folder, delete_local_copy=False)
    io.client = storage.Client(credentials=AnonymousCredentials(), project="airglow-test")
    if action == "upload":
        # fake-gcs-server answers a missing object with "Not Found" where GCS says "No such object", the
        # text the handler needs before it writes a new object: start from an empty one, as GCS would read.
        storage.Blob.from_uri(os.path.join(remote_base, relative), io.client).upload_from_string(b"")
if action == "upload":
    io.upload(relative, None)
    # On success the handler empties the local file (it appends to the remote object next time).
    print(json.dumps({"uploaded": os.path.getsize(os.path.join(base_log_folder, relative)) == 0}))
else:
    messages, logs = io.read(relative, None)
    print(json.dumps({"messages": list(messages or []), "logs": list(logs or [])}))
"""


def stock_env(server: StorageServer, home: Path) -> dict[str, str]:
    """Airflow's settings for the stock handlers: the remote-log connection pointed at the emulator."""
    if server.kind == "s3":
        extra = {"endpoint_url": server.extra["endpoint"], "region_name": "us-east-1"}
        connection = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    elif server.kind == "azure":
        connection = {
            "conn_type": "wasb",
            "extra": {"connection_string": server.storage_options["connection_string"]},
        }
    else:
        connection = {"conn_type": "google_cloud_platform", "extra": {"project": "airglow-test"}}
    return {
        **os.environ,
        **server.env,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "remote_logs",
        "AIRFLOW_CONN_REMOTE_LOGS": json.dumps(connection),
    }


def stock(bin_dir: Path, server: StorageServer, action: str, url: str, base: Path, tmp_path: Path) -> dict:
    argv = [server.kind, action, url, str(base), RELATIVE]
    code = f"import sys; sys.argv = ['stock'] + {argv!r}\n" + STOCK_HANDLER
    return run_python(bin_dir, code, stock_env(server, tmp_path / "airflow-home"), cwd=tmp_path)


def airglow_logs(server: StorageServer, url: str, base: Path, **options: object) -> ObjectStoreTaskLogs:
    settings = ObjectStoreLogSettings.build(url, base, storage_options=server.storage_options, **options)
    return ObjectStoreTaskLogs(settings)


def write_local(base: Path, lines: list[str]) -> Path:
    path = base / RELATIVE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_a_log_written_by_airflows_own_handler_reads_through_airglow(
    kind: str, servers, stock_handlers_bin: Path, tmp_path: Path
) -> None:
    server = servers(kind)
    url = server.bucket_url(unique_prefix())
    write_local(tmp_path / "stock", LINES)
    assert stock(stock_handlers_bin, server, "upload", url, tmp_path / "stock", tmp_path)["uploaded"]

    logs = airglow_logs(server, url, tmp_path / "airglow")
    sources, streams = logs.stream(RELATIVE)
    assert [list(stream) for stream in streams] == [LINES]
    assert sources == [f"{url}/{RELATIVE}"]

    anonymous = ["--storage-option", "token=anon"] if kind == "gcs" else []
    command = [sys.executable, "-m", "airglow.log_handlers.objectstore.cli", "--remote-base", url, *anonymous]
    read = subprocess.run(
        [*command, "--dag", "etl", "--task", "load", "--run", RUN_ID],
        capture_output=True,
        text=True,
        env={**os.environ, **server.env},
        timeout=120,
    )
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines() == LINES, "airglow-logs finds the latest try in Airflow's layout"


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_a_log_written_by_airglow_reads_through_airflows_own_handler(
    kind: str, servers, stock_handlers_bin: Path, tmp_path: Path
) -> None:
    server = servers(kind)
    url = server.bucket_url(unique_prefix())
    base = tmp_path / "airglow"
    path = write_local(base, [])
    logs = airglow_logs(server, url, base, interval=0.2)
    logs.track(path)
    with open(path, "a", encoding="utf-8") as handle:
        for line in LINES:
            handle.write(line + "\n")
            handle.flush()
            time.sleep(0.01)
    assert len(RemoteLogReader(logs.store).files(RELATIVE)[0].chunks) > 1, "shipped in chunks while written"
    assert logs.finish(path)

    (log_file,) = RemoteLogReader(logs.store).files(RELATIVE)
    assert log_file.chunks == () and log_file.objects == (), "no chunk or marker is left after the try ends"
    result = stock(stock_handlers_bin, server, "read", url, tmp_path / "stock", tmp_path)
    assert result["logs"] == ["".join(line + "\n" for line in LINES)], result["messages"]
