"""``airglow-logs check``: list, find the bucket, write, read back and delete a probe object."""

from __future__ import annotations

import uuid
from typing import TextIO

from airglow.log_handlers.checks import Step, run_steps
from airglow.log_handlers.errors import StoreError
from airglow.log_handlers.objectstore.store import ObjectStore

PROBE_FOLDER = ".airglow-check"


def run_check(store: ObjectStore, out: TextIO) -> int:
    probe = f"{PROBE_FOLDER}/{uuid.uuid4().hex}"
    payload = f"airglow check {probe}\n".encode()
    steps = [
        Step("list the base folder", lambda: store.list_objects(PROBE_FOLDER), "the credentials are refused"),
        Step("find the bucket", store.require_bucket, "create the bucket, or fix the URL"),
        Step("write a probe object", lambda: store.put(probe, payload), "the credentials cannot write here"),
        Step("read it back", lambda: _read_back(store, probe, payload), "the credentials cannot read here"),
        Step(
            "delete it",
            lambda: store.delete([probe]),
            "without delete, chunks stay after a log is written in Airflow's layout",
        ),
    ]
    return run_steps(store.url, steps, out)


def _read_back(store: ObjectStore, key: str, payload: bytes) -> None:
    data = b"".join(store.iter_bytes(key))
    if data != payload:
        raise StoreError("read", store.location(key), ValueError(f"read {len(data)} bytes that differ"))
