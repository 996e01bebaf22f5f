"""``airglow-es-logs``: install the index template, print a task's log straight from Elasticsearch, or check
that a configuration works before rolling it out."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from airglow.bridge.commandline import CommandParser, ExitCode, fail, shared_default
from airglow.log_handlers.elasticsearch.check import run_check
from airglow.log_handlers.elasticsearch.client import es_client
from airglow.log_handlers.elasticsearch.index_template import TEMPLATE_NAME, index_template, install
from airglow.log_handlers.elasticsearch.settings import DEFAULT_TARGET, EsLogSettings
from airglow.log_handlers.errors import LogConfigError, LogHandlerError, exit_code
from airglow.log_handlers.try_identity import TryIdentity, render_log_id
from airglow.log_handlers.try_options import add_try_options

PROG = "airglow-es-logs"
# Secrets come from the environment only: a command line is visible to every user of the machine.
API_KEY_VARIABLE = "AIRGLOW_ES_API_KEY"
USER_VARIABLE, PASSWORD_VARIABLE = "AIRGLOW_ES_USER", "AIRGLOW_ES_PASSWORD"


def endpoint_options(parser: argparse.ArgumentParser, on_subcommand: bool = False) -> None:
    """Where Elasticsearch is and how to reach it, accepted before or after the subcommand."""

    def default(value: Any) -> Any:
        return shared_default(value, on_subcommand)

    endpoint = parser.add_argument_group("Elasticsearch (before or after the subcommand)")
    endpoint.add_argument(
        "--hosts",
        default=default(os.environ.get("AIRFLOW__ELASTICSEARCH__HOST", "http://localhost:9200")),
        help="comma-separated Elasticsearch URLs (default: $AIRFLOW__ELASTICSEARCH__HOST or localhost:9200)",
    )
    endpoint.add_argument(
        "--target-index", default=default(DEFAULT_TARGET), help="index or data stream written to"
    )
    endpoint.add_argument(
        "--ca-certs", default=default(None), help="CA bundle that signed the server's certificate"
    )
    endpoint.add_argument(
        "--no-verify-certs",
        dest="verify_certs",
        action="store_false",
        default=default(True),
        help="accept any server certificate (testing only)",
    )
    endpoint.add_argument(
        "--api-key",
        action="store_true",
        default=default(False),
        help=f"authenticate with the API key in ${API_KEY_VARIABLE}",
    )
    endpoint.add_argument(
        "--basic-auth",
        action="store_true",
        default=default(False),
        help=f"authenticate as ${USER_VARIABLE} with ${PASSWORD_VARIABLE}",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog=PROG, description=__doc__)
    endpoint_options(parser, on_subcommand=False)
    commands = parser.add_subparsers(dest="command", required=True)
    template = commands.add_parser("install-template", help="create or update the index template")
    endpoint_options(template, on_subcommand=True)
    template.add_argument("--name", default=TEMPLATE_NAME)
    template.add_argument("--data-stream", action="store_true", help="write to a data stream")
    template.add_argument("--print", action="store_true", help="print the template instead of installing it")
    read = commands.add_parser("read", help="print a task try's log in order (the latest try by default)")
    endpoint_options(read, on_subcommand=True)
    read.add_argument("--log-id", help="the exact log_id; or give --dag, --task and --run")
    add_try_options(read)
    read.add_argument("--index-patterns", help="comma-separated patterns to read (default: target index*)")
    check = commands.add_parser(
        "check", help="try the cluster, the credentials, the template, and a write, read and delete"
    )
    endpoint_options(check, on_subcommand=True)
    check.add_argument("--name", default=TEMPLATE_NAME, help="the index template to look for")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "read" and not args.log_id and not (args.dag_id and args.task_id and args.run_id):
        parser.error("give --log-id, or --dag, --task and --run")
    try:
        settings = EsLogSettings.build(**settings_options(args))
        if args.command == "install-template":
            return _template(args, settings, out)
        if args.command == "check":
            return run_check(settings, es_client(settings), out, args.name)
        return _read(args, settings, out)
    except LogHandlerError as err:
        return fail(PROG, str(err), exit_code(err))


def settings_options(args: argparse.Namespace) -> dict[str, Any]:
    """The EsLogSettings options the endpoint options give."""
    client: dict[str, Any] = {"verify_certs": args.verify_certs}
    if args.ca_certs:
        client["ca_certs"] = args.ca_certs
    if args.api_key:
        client["api_key"] = _from_environment(API_KEY_VARIABLE, "--api-key")
    if args.basic_auth:
        client["basic_auth"] = (
            _from_environment(USER_VARIABLE, "--basic-auth"),
            _from_environment(PASSWORD_VARIABLE, "--basic-auth"),
        )
    options = {"hosts": args.hosts, "target_index": args.target_index, "client_options": client}
    if getattr(args, "index_patterns", None):
        options["index_patterns"] = args.index_patterns
    return options


def _from_environment(variable: str, option: str) -> str:
    value = os.environ.get(variable)
    if not value:
        raise LogConfigError(option, f"set ${variable}")
    return value


def _template(args: argparse.Namespace, settings: EsLogSettings, out: TextIO) -> int:
    if args.print:
        json.dump(index_template(settings, args.data_stream), out, indent=2)
        out.write("\n")
        return ExitCode.OK
    install(es_client(settings), settings, args.name, args.data_stream)
    print(f"installed index template {args.name} for {settings.target_index}", file=out)
    return ExitCode.OK


def _read(args: argparse.Namespace, settings: EsLogSettings, out: TextIO) -> int:
    from airglow.log_handlers.elasticsearch.reader import EsLogReader

    reader = EsLogReader(settings, es_client(settings))
    log_id = args.log_id
    if not log_id:
        try_number = args.try_number or reader.latest_try(
            args.dag_id, args.task_id, args.run_id, args.map_index
        )
        if try_number is None:
            where = f"dag {args.dag_id}, task {args.task_id}, run {args.run_id}, map index {args.map_index}"
            return fail(PROG, f"no log of {where} in {','.join(settings.index_patterns)}", ExitCode.NOT_FOUND)
        identity = TryIdentity(args.dag_id, args.task_id, args.run_id, try_number, args.map_index)
        log_id = render_log_id(settings.log_id_template, identity)
    found = False
    for line in reader.lines(log_id):
        found = True
        if not reader.is_end(line):
            out.write(line.message + "\n")
    if not found:
        return fail(
            PROG, f"no log with log_id {log_id!r} in {','.join(settings.index_patterns)}", ExitCode.NOT_FOUND
        )
    return ExitCode.OK
