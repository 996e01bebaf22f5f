"""``airglow-logs``: print or follow a task's remote log straight from the store, without the Airflow UI
(``read``, the default), or check that a store configuration works before rolling it out (``check``)."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from airglow.bridge.commandline import CommandParser, ExitCode, fail, shared_default
from airglow.log_handlers.errors import LogHandlerError, exit_code
from airglow.log_handlers.objectstore.check import run_check
from airglow.log_handlers.objectstore.keys import airflow_key, log_key
from airglow.log_handlers.objectstore.reader import RemoteLogReader
from airglow.log_handlers.objectstore.settings import ObjectStoreLogSettings
from airglow.log_handlers.objectstore.store import ObjectStore
from airglow.log_handlers.try_identity import TryIdentity, render_log_path
from airglow.log_handlers.try_options import add_try_options

PROG = "airglow-logs"
COMMANDS = ("read", "check")
_ATTEMPT = re.compile(r"^attempt=(\d+)\.log$")
# Options of the command itself that take a value: how the default subcommand is found (see _with_command).
_VALUE_OPTIONS = ("--remote-base", "--storage-option")


def _store_options(parser: argparse.ArgumentParser, on_subcommand: bool) -> None:
    """Where the logs are and how to reach them, accepted before or after the subcommand."""
    store = parser.add_argument_group("store (before or after the subcommand)")
    store.add_argument(
        "--remote-base",
        default=shared_default(os.environ.get("AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"), on_subcommand),
        help="base URL of the logs (default: $AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER)",
    )
    store.add_argument(
        "--storage-option",
        action="append",
        default=shared_default([], on_subcommand),
        metavar="KEY=VALUE",
        help="an fsspec storage option (repeatable), e.g. token=anon; prefer the environment for secrets",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog=PROG,
        description="Print a task's log from remote storage (s3://, gs://, abfs://, file://, …), or check a "
        "store. Credentials come from the environment, as for the task pods.",
        epilog="Without a subcommand, read: airglow-logs --dag D --task T --run R",
    )
    _store_options(parser, on_subcommand=False)
    commands = parser.add_subparsers(dest="command", required=True)
    read = commands.add_parser("read", help="print a task try's log (the latest try by default)")
    _store_options(read, on_subcommand=True)
    add_try_options(read)
    read.add_argument("--path", help="log path relative to the base, instead of --dag/--task/--run")
    read.add_argument("--follow", "-f", action="store_true", help="keep printing until the log is complete")
    read.add_argument("--poll", type=float, default=2.0, help="seconds between looks with --follow")
    check = commands.add_parser(
        "check", help="try the credentials, the bucket, and a write, read and delete of a probe object"
    )
    _store_options(check, on_subcommand=True)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = build_parser()
    args = parser.parse_args(_with_command(list(sys.argv[1:] if argv is None else argv)))
    if not args.remote_base:
        parser.error("--remote-base is required (or set AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER)")
    if args.command == "read" and not args.path and not (args.dag_id and args.task_id and args.run_id):
        parser.error("give --path, or --dag, --task and --run")
    try:
        settings = ObjectStoreLogSettings.build(
            args.remote_base, ".", storage_options=storage_options(parser, args.storage_option)
        )
        store = ObjectStore(settings.remote_base, settings.storage_options)
        if args.command == "check":
            return run_check(store, out)
        relative_path = args.path or _task_path(store, args)
        return _print_log(store, relative_path, args.follow, args.poll, out)
    except LogHandlerError as err:
        return fail(PROG, str(err), exit_code(err))
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED


def _with_command(argv: list[str]) -> list[str]:
    """``argv`` with ``read`` in front when it names no subcommand (``airglow-logs --dag D …`` reads):
    the first word that is neither a store option nor its value decides."""
    words = iter(argv)
    for word in words:
        if word in _VALUE_OPTIONS:
            next(words, None)
        elif word in ("-h", "--help") or any(word.startswith(option + "=") for option in _VALUE_OPTIONS):
            continue
        else:
            return argv if word in COMMANDS else ["read", *argv]
    return argv if any(word in ("-h", "--help") for word in argv) else ["read", *argv]


def storage_options(parser: argparse.ArgumentParser, pairs: list[str]) -> dict[str, str]:
    """The ``--storage-option KEY=VALUE`` pairs as fsspec options; a malformed pair is a usage error."""
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
    """The highest try with a log in the task's folder, in Airglow's layout or in Airflow's."""
    probe = render_log_path(_try(args, 1))
    folders = {log_key(probe).rpartition("/")[0], (airflow_key(probe) or "").rpartition("/")[0]}
    tries = {
        int(match.group(1))
        for folder in folders
        if folder
        for key in store.list_keys(folder)
        if (match := _ATTEMPT.match(key[len(folder) + 1 :].split("/", 1)[0]))
    }
    return max(tries, default=None)


def _print_log(store: ObjectStore, relative_path: str, follow: bool, poll: float, out: TextIO) -> int:
    """Print each log file once; with ``follow``, what each file grew by since the last look (byte counts
    hold across a consolidation: the whole object holds the same bytes in the same order)."""
    reader = RemoteLogReader(store)
    printed: dict[str, int] = {}
    current: str | None = None
    while True:
        files = reader.files(relative_path)
        for log_file in files:
            done = printed.get(log_file.name, 0)
            if log_file.size <= done:
                continue
            if current is not None and current != log_file.name:
                out.write(f"==> {log_file.name} <==\n")
            for line in reader.lines(log_file, skip=done):
                out.write(line + "\n")
            printed[log_file.name], current = log_file.size, log_file.name
        out.flush()
        if not follow or (files and all(f.complete for f in files)):
            break
        time.sleep(poll)
    if not files:
        store.require_bucket()
        return fail(PROG, f"no log at {relative_path}", ExitCode.NOT_FOUND)
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
