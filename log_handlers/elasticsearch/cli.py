"""``airglow-es-logs``: install the index template, or print a task's log straight from Elasticsearch."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from airglow.bridge.commandline import CommandParser, ExitCode, fail
from airglow.log_handlers.elasticsearch.client import es_client
from airglow.log_handlers.elasticsearch.index_template import TEMPLATE_NAME, install
from airglow.log_handlers.elasticsearch.settings import DEFAULT_TARGET, EsLogSettings
from airglow.log_handlers.errors import LogHandlerError, exit_code
from airglow.log_handlers.try_identity import TryIdentity, render_log_id


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="airglow-es-logs", description=__doc__)
    parser.add_argument(
        "--hosts",
        default=os.environ.get("AIRFLOW__ELASTICSEARCH__HOST", "http://localhost:9200"),
        help="comma-separated Elasticsearch URLs (default: $AIRFLOW__ELASTICSEARCH__HOST or localhost:9200)",
    )
    parser.add_argument("--target-index", default=DEFAULT_TARGET, help="index or data stream written to")
    commands = parser.add_subparsers(dest="command", required=True)
    template = commands.add_parser("install-template", help="create or update the index template")
    template.add_argument("--name", default=TEMPLATE_NAME)
    template.add_argument("--data-stream", action="store_true", help="write to a data stream")
    template.add_argument("--print", action="store_true", help="print the template instead of installing it")
    read = commands.add_parser("read", help="print a task try's log in order")
    read.add_argument("--log-id", help="the exact log_id; or give --dag, --task, --run and --try")
    read.add_argument("--dag", dest="dag_id")
    read.add_argument("--task", dest="task_id")
    read.add_argument("--run", dest="run_id")
    read.add_argument("--try", dest="try_number", type=int)
    read.add_argument("--map-index", type=int, default=-1)
    read.add_argument("--index-patterns", help="comma-separated patterns to read (default: target index*)")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options = {"hosts": args.hosts, "target_index": args.target_index}
    if getattr(args, "index_patterns", None):
        options["index_patterns"] = args.index_patterns
    try:
        settings = EsLogSettings.build(**options)
        if args.command == "install-template":
            if args.print:
                from airglow.log_handlers.elasticsearch.index_template import index_template

                json.dump(index_template(settings, args.data_stream), out, indent=2)
                out.write("\n")
                return 0
            install(es_client(settings), settings, args.name, args.data_stream)
            print(f"installed index template {args.name} for {args.target_index}", file=out)
            return 0
        return _read(parser, args, settings, out)
    except LogHandlerError as err:
        return fail("airglow-es-logs", str(err), exit_code(err))


def _read(
    parser: argparse.ArgumentParser, args: argparse.Namespace, settings: EsLogSettings, out: TextIO
) -> int:
    from airglow.log_handlers.elasticsearch.reader import EsLogReader

    log_id = args.log_id
    if not log_id:
        if not (args.dag_id and args.task_id and args.run_id and args.try_number):
            parser.error("give --log-id, or --dag, --task, --run and --try")
        identity = TryIdentity(args.dag_id, args.task_id, args.run_id, args.try_number, args.map_index)
        log_id = render_log_id(settings.log_id_template, identity)
    reader = EsLogReader(settings, es_client(settings))
    found = False
    for line in reader.lines(log_id):
        found = True
        if not reader.is_end(line):
            out.write(line.message + "\n")
    if not found:
        return fail(
            "airglow-es-logs",
            f"no log with log_id {log_id!r} in {','.join(settings.index_patterns)}",
            ExitCode.NOT_FOUND,
        )
    return ExitCode.OK
