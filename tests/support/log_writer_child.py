"""A task-like process for the kill test: logs through Airglow's RemoteLogIO the way Airflow 3's supervisor
does (a structlog BytesLogger on the task's log file with the handler's processors) until it is killed."""

from __future__ import annotations

import json
import sys
import time

import structlog

from airglow.log_handlers.airflow.objectstore_remote_io import AirglowRemoteLogIO


def main(base: str, url: str, options: str, interval: str, relative: str) -> None:
    remote = AirglowRemoteLogIO(base, url, storage_options=json.loads(options), interval=float(interval))
    path = f"{base}/{relative}"
    with open(path, "ab") as handle:
        logger = structlog.wrap_logger(
            structlog.BytesLogger(handle),
            processors=[*remote.processors, structlog.processors.JSONRenderer(serializer=_dumps)],
        )
        sequence = 0
        while True:
            logger.info("working", seq=sequence, written_at=time.time())
            handle.flush()
            sequence += 1
            time.sleep(0.002)


def _dumps(obj: object, **kwargs: object) -> bytes:
    return json.dumps(obj).encode()


if __name__ == "__main__":
    main(*sys.argv[1:])
