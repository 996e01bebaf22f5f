"""What survives a SIGKILL of the task, and a storage server that goes away mid-task and comes back."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.common import ROOT, wait_until
from support.storage_servers import STARTERS, unique_prefix

from airglow.log_handlers.objectstore.settings import ObjectStoreLogSettings
from airglow.log_handlers.objectstore.task_logs import ObjectStoreTaskLogs

pytestmark = [pytest.mark.slow, pytest.mark.server]
RELATIVE = "dag_id=etl/run_id=scheduled__2026-11-21/task_id=extract/attempt=1.log"
INTERVAL = 0.5


def reader_for(url: str, options: dict, base: Path) -> ObjectStoreTaskLogs:
    return ObjectStoreTaskLogs(ObjectStoreLogSettings.build(url, base, storage_options=options))


def remote_lines(logs: ObjectStoreTaskLogs) -> list[str]:
    _, streams = logs.stream(RELATIVE)
    return [line for stream in streams for line in stream]


@pytest.mark.parametrize(("kind", "seed"), [("s3", 1), ("s3", 2), ("s3", 3), ("gcs", 1), ("azure", 1)])
def test_sigkill_loses_at_most_the_last_interval(kind: str, seed: int, tmp_path: Path) -> None:
    server = STARTERS[kind](tmp_path)
    try:
        url = server.bucket_url(unique_prefix())
        base = tmp_path / "local"
        (base / RELATIVE).parent.mkdir(parents=True)
        child = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "support" / "log_writer_child.py"),
                str(base),
                url,
                json.dumps(server.storage_options),
                str(INTERVAL),
                RELATIVE,
            ],
            cwd=ROOT,
            stderr=subprocess.PIPE,
        )
        wait_until(
            lambda: (base / RELATIVE).exists() and (base / RELATIVE).stat().st_size > 0, 30, what="child logs"
        )
        time.sleep(random.Random(seed).uniform(1.0, 3.0))
        os.kill(child.pid, signal.SIGKILL)
        killed_at = time.time()
        child.wait()

        # The kill may cut the last line short: it was never a whole line, so it cannot be required.
        local = [json.loads(line) for line in (base / RELATIVE).read_text().split("\n")[:-1]]
        remote = [json.loads(line) for line in remote_lines(reader_for(url, server.storage_options, base))]
        assert remote == local[: len(remote)], "the remote log is the local log's prefix, in order, once"
        must_survive = [entry for entry in local if entry["written_at"] < killed_at - INTERVAL]
        assert len(must_survive) > 100
        assert len(remote) >= len(must_survive), (
            f"lines written more than {INTERVAL}s before the kill are missing: "
            f"{len(must_survive) - len(remote)} of {len(must_survive)}"
        )
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["gcs", "azure"])
def test_store_stopped_mid_task_then_back_holds_every_line_once(kind: str, tmp_path: Path) -> None:
    server = STARTERS[kind](tmp_path)
    try:
        url = server.bucket_url(unique_prefix())
        base = tmp_path / "local"
        path = base / RELATIVE
        path.parent.mkdir(parents=True)
        path.touch()
        logs = ObjectStoreTaskLogs(
            ObjectStoreLogSettings.build(
                url,
                base,
                storage_options=server.storage_options,
                interval=0.3,
                backoff_initial=0.2,
                backoff_max=1.0,
                final_timeout=60,
            )
        )
        logs.track(path)
        lines = [f"line {i:05d}" for i in range(1500)]
        writer = threading.Thread(target=_write, args=(path, lines, 0.003))
        writer.start()
        time.sleep(1.0)
        server.stop()
        time.sleep(1.5)
        server.start()
        writer.join()
        assert logs.finish(path) is True
        assert remote_lines(reader_for(url, server.storage_options, base)) == lines
    finally:
        server.stop()


def _write(path: Path, lines: list[str], pause: float) -> None:
    with open(path, "a") as handle:
        for line in lines:
            handle.write(line + "\n")
            handle.flush()
            time.sleep(pause)
