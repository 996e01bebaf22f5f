"""``airglow-bridge``: run the bridge, ``--check-config``, or ``explain`` statsd lines."""

from __future__ import annotations

import gc
import logging
import sys

from airglow.bridge.app import Bridge
from airglow.bridge.commandline import ExitCode, fail
from airglow.bridge.errors import ConfigError, ListenError
from airglow.bridge.logs import configure
from airglow.bridge.mapping.loader import load_mapping
from airglow.bridge.pods import kubernetes_api
from airglow.bridge.settings import build_parser, settings_from_args

log = logging.getLogger("bridge")
# Container objects allocated, net, before a young-generation collection (CPython's default is 700): the hot
# path makes a few short-lived tuples per line, so the default runs a collection every couple of hundred lines.
GC_YOUNG_THRESHOLD = 20_000


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["explain"]:
        from airglow.bridge.explain import main as explain_main

        return explain_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ConfigError as exc:
        return fail("airglow-bridge", f"error: {exc}", ExitCode.USAGE)
    configure(settings.log_level, settings.log_format)
    try:
        if settings.check_config:
            config = load_mapping(settings.mapping_config, settings.preset)
            if settings.pod_lookup is not None:
                kubernetes_api(settings.pod_lookup)
            log.info(
                "Configuration check successful (%d mappings in %s), exiting",
                len(config.rules),
                config.source,
            )
            return 0
        bridge = Bridge(settings)
    except ConfigError as exc:
        log.error("error loading config: %s", exc)
        return ExitCode.USAGE
    try:
        bridge.start()
    except ListenError as exc:
        log.error("failed to start: %s", exc)
        bridge.stop()
        return ExitCode.UNAVAILABLE
    bridge.install_signal_handlers()
    _settle_garbage_collection()
    while not bridge.stopped.wait(0.5):
        pass
    log.info("Shutting down")
    bridge.stop()
    return 0


def _settle_garbage_collection() -> None:
    """What start-up made (mapping, preset, modules) lives as long as the process: frozen, so no collection
    walks it again; and collections run less often, as the hot path makes no reference cycles."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
