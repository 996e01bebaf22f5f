"""Airglow's Airflow 3 RemoteLogIO driven the way Airflow's supervisor drives it, and its settings."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest
import structlog
from support.common import wait_until

from airglow.log_handlers.airflow.objectstore_remote_io import AirglowRemoteLogIO
from airglow.log_handlers.airflow.provider_info import get_provider_info
from airglow.log_handlers.errors import LogConfigError
from airglow.log_handlers.objectstore.settings import ObjectStoreLogSettings

RELATIVE = "dag_id=etl/run_id=r1/task_id=load/attempt=1.log"


def supervisor_logger(remote: AirglowRemoteLogIO, handle) -> structlog.typing.FilteringBoundLogger:
    """Airflow 3's supervisor: JSON lines into the task's log file, the remote handler's processors first."""
    return structlog.wrap_logger(
        structlog.BytesLogger(handle),
        processors=[
            *remote.processors,
            structlog.processors.JSONRenderer(serializer=lambda o, **_: json.dumps(o).encode()),
        ],
    )


def test_processors_ship_while_running_and_upload_completes(tmp_path: Path) -> None:
    base = tmp_path / "logs"
    (base / RELATIVE).parent.mkdir(parents=True)
    remote = AirglowRemoteLogIO(base, f"file://{tmp_path / 'remote'}", interval=0.2)
    with open(base / RELATIVE, "ab") as handle:
        logger = supervisor_logger(remote, handle)
        for number in range(20):
            logger.info("step", number=number)
            handle.flush()

        def shipped() -> bool:
            _, streams = remote.stream(RELATIVE, ti=None)
            return bool(streams) and len(list(streams[0])) == 20

        wait_until(shipped, 10, what="lines shipped before the task ends")
        logger.info("last")
    remote.upload(RELATIVE)
    sources, logs = remote.read(RELATIVE, ti=None)
    events = [json.loads(line)["event"] for line in logs[0].splitlines()]
    assert events == ["step"] * 20 + ["last"]
    assert not sources[0].endswith("(still being written)")


def test_stdout_loggers_and_paths_outside_the_base_folder_are_ignored(tmp_path: Path, caplog) -> None:
    base = tmp_path / "logs"
    base.mkdir()
    remote = AirglowRemoteLogIO(base, f"file://{tmp_path / 'remote'}")
    stdout_logger = structlog.wrap_logger(
        structlog.PrintLogger(sys.stdout),
        processors=[*remote.processors, structlog.processors.KeyValueRenderer()],
    )
    stdout_logger.info("to stdout")
    with caplog.at_level(logging.WARNING, logger="airglow.log_handlers"):
        remote.upload(tmp_path / "elsewhere.log")
    assert "not inside the base log folder" in caplog.text
    assert not (tmp_path / "remote").exists()


def test_provider_info_claims_airglow_schemes_for_the_remote_io() -> None:
    info = get_provider_info()
    schemes = {entry["scheme"] for entry in info["remote-logging"]}
    assert {"airglow+s3", "airglow+gs", "airglow+abfs", "airglow+file"} <= schemes
    classpaths = {entry["scheme"]: entry["classpath"] for entry in info["remote-logging"]}
    assert set(classpaths.values()) == {
        "airglow.log_handlers.airflow.objectstore_remote_io.AirglowRemoteLogIO",
        "airglow.log_handlers.airflow.es_remote_io.AirglowEsRemoteLogIO",
    }
    assert classpaths["airglow+es"] == "airglow.log_handlers.airflow.es_remote_io.AirglowEsRemoteLogIO"
    assert info["package-name"] == "airglow"


def test_airglow_scheme_means_the_store_behind_it(tmp_path: Path) -> None:
    settings = ObjectStoreLogSettings.build("airglow+s3://bucket/logs/", tmp_path)
    assert settings.remote_base == "s3://bucket/logs" and settings.protocol == "s3"


@pytest.mark.parametrize(
    ("url", "options", "setting"),
    [
        ("ftp://host/logs", {}, "remote_base_log_folder"),
        ("s3://", {}, "remote_base_log_folder"),
        ("not a url", {}, "remote_base_log_folder"),
        ("s3://b/l", {"intervall": 5}, "remote_task_handler_kwargs"),
        ("s3://b/l", {"interval": "soon"}, "remote_task_handler_kwargs"),
        ("s3://b/l", {"interval": 0}, "interval"),
        ("s3://b/l", {"max_chunk_bytes": 10}, "max_chunk_bytes"),
        ("s3://b/l", {"backoff_initial": 5, "backoff_max": 1}, "final_timeout/backoff"),
    ],
)
def test_bad_settings_are_rejected_with_the_setting_named(
    url: str, options: dict, setting: str, tmp_path: Path
) -> None:
    with pytest.raises(LogConfigError) as raised:
        ObjectStoreLogSettings.build(url, tmp_path, **options)
    assert raised.value.setting == setting


def test_credentials_in_a_bad_url_are_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(LogConfigError) as raised:
        ObjectStoreLogSettings.build("ftp://user:hunter2@host/logs", tmp_path)
    assert "hunter2" not in str(raised.value)


def test_a_chunk_that_vanishes_mid_read_ends_the_stream_with_a_visible_line(tmp_path: Path) -> None:
    base = tmp_path / "logs"
    (base / RELATIVE).parent.mkdir(parents=True)
    remote = AirglowRemoteLogIO(base, f"file://{tmp_path / 'remote'}", max_chunk_bytes=4096)
    lines = [f"line {n:05d} " + "x" * 80 for n in range(200)]
    (base / RELATIVE).write_text("".join(line + "\n" for line in lines))
    remote.upload(RELATIVE)
    _, streams = remote.stream(RELATIVE, ti=None)
    chunks = sorted((tmp_path / "remote").rglob("*.chunk"))
    assert len(chunks) > 2
    chunks[1].unlink()  # e.g. removed by a bucket lifecycle rule while the UI reads

    read = list(streams[0])
    first_chunk_lines = chunks[0].read_text().count("\n")
    assert read[:first_chunk_lines] == lines[:first_chunk_lines]
    assert read[-1].startswith("*** Airglow: the rest of this log could not be read: read ")
    assert len(read) == first_chunk_lines + 1
