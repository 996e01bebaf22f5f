"""``airglow-pod-ends``: watch task pods and write how each abnormal end happened (OOMKilled, evicted,
deleted, failed) into its try's remote log, where the task itself could not write it any more."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from airglow.bridge.commandline import CommandParser, ExitCode, fail
from airglow.bridge.errors import ConfigError
from airglow.bridge.pods import PodLookupSettings, kubernetes_api
from airglow.log_handlers.elasticsearch.cli import endpoint_options, settings_options
from airglow.log_handlers.elasticsearch.client import call
from airglow.log_handlers.elasticsearch.settings import EsLogSettings
from airglow.log_handlers.elasticsearch.task_logs import EsTaskLogs
from airglow.log_handlers.errors import LogHandlerError, exit_code
from airglow.log_handlers.objectstore.cli import storage_options
from airglow.log_handlers.objectstore.task_logs import ObjectStoreTaskLogs
from airglow.log_handlers.pod_ends.notes import EsNotes, Notes, ObjectStoreNotes
from airglow.log_handlers.pod_ends.watcher import PodEndWatcher

PROG = "airglow-pod-ends"
# The KubernetesExecutor's label on every task pod.
TASK_PODS = "kubernetes_executor=True"


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog=PROG, description=__doc__)
    pods = parser.add_argument_group("task pods")
    pods.add_argument("--namespace", default="", help="watch this namespace only (default: all)")
    pods.add_argument("--label-selector", default=TASK_PODS, help=f"the task pods (default: {TASK_PODS})")
    pods.add_argument(
        "--kubeconfig", default="", help="a kubeconfig file (default: the pod's service account)"
    )
    store = parser.add_argument_group("object storage (the default)")
    store.add_argument(
        "--remote-base",
        default=os.environ.get("AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"),
        help="base URL of the task logs (default: $AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER)",
    )
    store.add_argument(
        "--storage-option", action="append", default=[], metavar="KEY=VALUE", help="an fsspec storage option"
    )
    store.add_argument(
        "--text", action="store_true", help="write a plain text line (Airflow 2) instead of JSON (Airflow 3)"
    )
    parser.add_argument(
        "--elasticsearch", action="store_true", help="the task logs are in Elasticsearch (options below)"
    )
    endpoint_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.elasticsearch and not args.remote_base:
        parser.error(
            "--remote-base is required (or set AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER, or --elasticsearch)"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        api = kubernetes_api(
            PodLookupSettings(namespace=args.namespace, kubeconfig=args.kubeconfig), (PROG, "--kubeconfig")
        )
        notes = _es_notes(args) if args.elasticsearch else _store_notes(parser, args)
    except LogHandlerError as err:
        return fail(PROG, str(err), exit_code(err))
    except ConfigError as err:
        return fail(PROG, str(err), ExitCode.USAGE)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    watcher = PodEndWatcher(api, notes, args.namespace, args.label_selector)
    # The watch blocks in a read until the next event: it runs aside, so that SIGTERM ends the command now.
    threading.Thread(target=watcher.run, args=(stop,), name="pod-ends", daemon=True).start()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    return ExitCode.OK


def _store_notes(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Notes:
    options = storage_options(parser, args.storage_option)
    logs = ObjectStoreTaskLogs.build(".", args.remote_base, storage_options=options)
    logs.store.require_bucket()
    return ObjectStoreNotes(logs, args.text)


def _es_notes(args: argparse.Namespace) -> Notes:
    logs = EsTaskLogs(EsLogSettings.build(**settings_options(args), writer="bulk"))
    call("info", logs.client.info)
    return EsNotes(logs)


if __name__ == "__main__":
    sys.exit(main())
