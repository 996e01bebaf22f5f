"""``airglow-logs``: print or follow a task's remote log straight from the store, without the Airflow UI."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from airglow.bridge.commandline import CommandParser, ExitCode, fail
from airglow.log_handlers.errors import LogHandlerError, exit_code
from airglow.log_handlers.objectstore.keys import log_key
from airglow.log_handlers.objectstore.reader import RemoteLogFile, RemoteLogReader
from airglow.log_handlers.objectstore.settings import ObjectStoreLogSettings
from airglow.log_handlers.objectstore.store import ObjectStore
from airglow.log_handlers.try_identity import TryIdentity, render_log_path

_ATTEMPT = re.compile(r"^attempt=(\d+)\.log$")


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="airglow-logs",
        description="Print a task's log from remote storage (s3://, gs://, abfs://, file://, …). "
        "Credentials come from the environment, as for the task pods.",
    )
    parser.add_argument(
        "--remote-base",
        default=os.environ.get("AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"),
        help="base URL of the logs (default: $AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER)",
    )
    parser.add_argument("--dag", dest="dag_id", help="dag id")
    parser.add_argument("--task", dest="task_id", help="task id")
    parser.add_argument("--run", dest="run_id", help="dag run id")
    parser.add_argument("--try", dest="try_number", type=int, help="try number (default: the latest)")
    parser.add_argument("--map-index", type=int, default=-1, help="map index of a mapped task")
    parser.add_argument("--path", help="log path relative to the base, instead of --dag/--task/--run")
    parser.add_argument(
        "--storage-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an fsspec storage option (repeatable), e.g. token=anon; prefer the environment for secrets",
    )
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing until the log is complete")
    parser.add_argument("--poll", type=float, default=2.0, help="seconds between looks with --follow")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.remote_base:
        parser.error("--remote-base is required (or set AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER)")
    if not args.path and not (args.dag_id and args.task_id and args.run_id):
        parser.error("give --path, or --dag, --task and --run")
    try:
        settings = ObjectStoreLogSettings.build(
            args.remote_base, ".", storage_options=_storage_options(parser, args.storage_option)
        )
        store = ObjectStore(settings.remote_base, settings.storage_options)
        relative_path = args.path or _task_path(store, args)
        reader = RemoteLogReader(store)
        return _print_log(reader, relative_path, args.follow, args.poll, out)
    except LogHandlerError as err:
        return fail("airglow-logs", str(err), exit_code(err))
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED


def _storage_options(parser: argparse.ArgumentParser, pairs: list[str]) -> dict[str, str]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            parser.error(f"--storage-option {pair!r}: expected KEY=VALUE")
        options[key] = value
    return options


def _task_path(store: ObjectStore, args: argparse.Namespace) -> str:
    try_number = args.try_number or _latest_try(store, args) or 1
    return render_log_path(_try(args, try_number))


def _try(args: argparse.Namespace, try_number: int) -> TryIdentity:
    return TryIdentity(args.dag_id, args.task_id, args.run_id, try_number, args.map_index)


def _latest_try(store: ObjectStore, args: argparse.Namespace) -> int | None:
    """The highest try with a shipped log, found from the task's folder."""
    probe = render_log_path(_try(args, 1))
    folder = log_key(probe).rpartition("/")[0]
    tries = {
        int(match.group(1))
        for key in store.list_keys(folder)
        if (match := _ATTEMPT.match(key[len(folder) + 1 :].split("/", 1)[0]))
    }
    return max(tries, default=None)


def _print_log(reader: RemoteLogReader, relative_path: str, follow: bool, poll: float, out: TextIO) -> int:
    printed: set[str] = set()
    current: str | None = None
    while True:
        files = reader.files(relative_path)
        for log_file in files:
            current = _print_new_chunks(reader, log_file, printed, current, out)
        out.flush()
        if not follow or (files and all(f.complete for f in files)):
            break
        time.sleep(poll)
    if not files:
        return fail("airglow-logs", f"no log at {relative_path}", ExitCode.NOT_FOUND)
    return ExitCode.OK


def _print_new_chunks(
    reader: RemoteLogReader, log_file: RemoteLogFile, printed: set[str], current: str | None, out: TextIO
) -> str | None:
    new = [chunk for chunk in log_file.chunks if chunk.key not in printed]
    if not new:
        return current
    if current is not None and current != log_file.name:
        out.write(f"==> {log_file.name} <==\n")
    for line in reader.lines(new):
        out.write(line + "\n")
    printed.update(chunk.key for chunk in new)
    return log_file.name


if __name__ == "__main__":
    sys.exit(main())
