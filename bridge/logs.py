"""Log lines in promslog's logfmt or JSON shape, so operators' log parsing keeps working."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time


class _LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        message = record.getMessage().replace('"', '\\"')
        return f'time={stamp}.{int(record.msecs):03d}Z level={record.levelname} source={record.name} msg="{message}"'


class _JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": record.created,
                "level": record.levelname,
                "source": record.name,
                "msg": record.getMessage(),
            }
        )


def configure(level: int, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JSONFormatter() if fmt == "json" else _LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    threading.excepthook = _log_thread_error


def _log_thread_error(args: threading.ExceptHookArgs) -> None:
    """An error no part of the bridge expected: one log line in the bridge's format (the traceback only
    at debug level), never a raw traceback on stderr."""
    if args.exc_type is SystemExit:
        return
    thread = args.thread.name if args.thread else "?"
    log = logging.getLogger("bridge")
    log.error("unexpected error in thread %s: %s: %s", thread, args.exc_type.__name__, args.exc_value)
    if args.exc_value is not None:
        log.debug("traceback", exc_info=args.exc_value)
