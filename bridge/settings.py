"""Command-line flags (statsd_exporter's names and defaults), validated once into Settings."""

from __future__ import annotations

import argparse
import logging
import os
import re
from dataclasses import dataclass

from airglow.bridge import __version__
from airglow.bridge.address import Address, parse_address
from airglow.bridge.commandline import CommandParser
from airglow.bridge.errors import ConfigError
from airglow.bridge.fleet import UNKNOWN_DEPLOYMENT, FleetIdentity
from airglow.bridge.line import ParserOptions
from airglow.bridge.mapping.durations import parse_go_duration
from airglow.bridge.pods import PodLookupSettings

PRESET_AIRFLOW = "airflow"
DEFAULT_SERIES_LIMIT = 200_000
DEFAULT_SERIES_LIMIT_PER_METRIC = 50_000
# The one memory figure: the container limit in the manifests (docs/memory.md). The series budget is
# SERIES_SHARE of it; the rest holds the interpreter, line and mapping caches, twins and scrapes in flight.
DEFAULT_MEMORY_LIMIT = "512Mi"
SERIES_SHARE = 0.4
DEFAULT_LABEL_BYTES_LIMIT = 4096
_UNITS = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
_MAX_READ_BUFFER = 2**31 - 1
# 8 MiB: about 10,000 one-line datagrams of backlog (the kernel charges ~768 bytes per small datagram).
DEFAULT_READ_BUFFER = 8 << 20


@dataclass(frozen=True)
class Settings:
    web_listen: Address
    telemetry_path: str
    enable_lifecycle: bool
    listen_udp: Address | None
    listen_tcp: Address | None
    listen_unixgram: str
    unixsocket_mode: int
    mapping_config: str
    read_buffer: int
    cache_size: int
    cache_type: str
    parser: ParserOptions
    relay_address: Address | None
    relay_packet_length: int
    check_config: bool
    log_level: int
    log_format: str
    series_limit: int
    series_limit_per_metric: int
    memory_limit: int
    label_bytes_limit: int
    tcp_max_connections: int
    tcp_idle_timeout: float
    web_max_connections: int
    identity: FleetIdentity
    drop_unmapped: bool
    preset: str
    pod_lookup: PodLookupSettings | None


def _optional_address(value: str, flag: str) -> Address | None:
    return parse_address(value, flag) if value else None


def _add_bool(parser: argparse.ArgumentParser, name: str, default: bool, help_text: str) -> None:
    """kingpin-style boolean: ``--x``, ``--x=false`` and ``--no-x`` all work."""
    dest = name.replace(".", "_").replace("-", "_")
    parser.add_argument(
        f"--{name}",
        dest=dest,
        nargs="?",
        const="true",
        default=str(default).lower(),
        choices=["true", "false"],
        help=help_text,
    )
    parser.add_argument(
        f"--no-{name}", dest=dest, action="store_const", const="false", help=argparse.SUPPRESS
    )


def build_parser(prog: str = "airglow-bridge") -> argparse.ArgumentParser:
    parser = CommandParser(prog=prog, description="statsd → Prometheus bridge (statsd_exporter compatible).")
    add = parser.add_argument
    add(
        "--web.listen-address",
        dest="web_listen",
        default=":9102",
        help="Address on which to expose metrics and the web interface.",
    )
    add(
        "--web.telemetry-path",
        dest="telemetry_path",
        default="/metrics",
        help="Path under which to expose metrics.",
    )
    _add_bool(
        parser, "web.enable-lifecycle", False, "Enable shutdown and reload via HTTP request (off by default)."
    )
    add(
        "--statsd.listen-udp",
        dest="listen_udp",
        default=":9125",
        help='UDP address for statsd lines; "" disables it.',
    )
    add(
        "--statsd.listen-tcp",
        dest="listen_tcp",
        default=":9125",
        help='TCP address for statsd lines; "" disables it.',
    )
    add(
        "--statsd.listen-unixgram",
        dest="listen_unixgram",
        default="",
        help='Unixgram socket path; "" disables it.',
    )
    add(
        "--statsd.unixsocket-mode",
        dest="unixsocket_mode",
        default="755",
        help="Permission mode of the unix socket.",
    )
    add(
        "--statsd.mapping-config",
        dest="mapping_config",
        default="",
        help="Metric mapping configuration file; replaces the built-in Airflow preset.",
    )
    add(
        "--statsd.read-buffer",
        dest="read_buffer",
        type=int,
        default=DEFAULT_READ_BUFFER,
        help="Size in bytes of the kernel receive buffer of the UDP or Unixgram socket "
        "(0: the system's default). It holds the backlog while datagrams gather and a batch is "
        "applied.",
    )
    add(
        "--statsd.cache-size",
        dest="cache_size",
        type=int,
        default=1000,
        help="Maximum size of the mapping cache.",
    )
    add(
        "--statsd.cache-type",
        dest="cache_type",
        default="lru",
        choices=["lru", "random"],
        help="Mapping cache replacement policy.",
    )
    add(
        "--statsd.event-queue-size",
        dest="event_queue_size",
        type=int,
        default=10000,
        help="Accepted for compatibility; lines are applied in batches per packet or read.",
    )
    add(
        "--statsd.event-flush-threshold",
        dest="event_flush_threshold",
        type=int,
        default=1000,
        help="Accepted for compatibility; lines are applied in batches per packet or read.",
    )
    add(
        "--statsd.event-flush-interval",
        dest="event_flush_interval",
        default="200ms",
        help="Accepted for compatibility; lines are applied in batches per packet or read.",
    )
    add(
        "--statsd.udp-packet-queue-size",
        dest="udp_packet_queue_size",
        type=int,
        default=10000,
        help="Accepted for compatibility; the UDP socket is drained in batches with no queue (size the "
        "kernel's buffer with --statsd.read-buffer).",
    )
    for style in ("dogstatsd", "influxdb", "librato", "signalfx"):
        _add_bool(parser, f"statsd.parse-{style}-tags", True, f"Parse {style} style tags.")
    add(
        "--statsd.relay.address",
        dest="relay_address",
        default="",
        help="UDP relay target address (host:port).",
    )
    add(
        "--statsd.relay.packet-length",
        dest="relay_packet_length",
        type=int,
        default=1400,
        help="Maximum relay output packet length.",
    )
    add("--debug.dump-fsm", dest="dump_fsm", default="", help="Accepted for compatibility; not supported.")
    add(
        "--airglow.series-limit",
        dest="series_limit",
        type=int,
        default=DEFAULT_SERIES_LIMIT,
        help="Most series held in all (0: no limit); samples for new series past it are dropped and counted.",
    )
    add(
        "--airglow.series-limit-per-metric",
        dest="series_limit_per_metric",
        type=int,
        default=DEFAULT_SERIES_LIMIT_PER_METRIC,
        help="Most series of one metric name (0: no limit).",
    )
    add(
        "--airglow.memory-limit",
        dest="memory_limit",
        default=os.environ.get("AIRGLOW_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT,
        help="Memory the bridge may use, as a Kubernetes quantity (e.g. 512Mi; default $AIRGLOW_MEMORY_LIMIT, "
        f"which the manifests set to the container's limit, or {DEFAULT_MEMORY_LIMIT}); {SERIES_SHARE * 100:.0f}%% of "
        "it bounds the estimated memory of all series.",
    )
    add(
        "--airglow.label-bytes-limit",
        dest="label_bytes_limit",
        type=int,
        default=DEFAULT_LABEL_BYTES_LIMIT,
        help="Most bytes of label names and values in one series (0: no limit); longer ones are dropped "
        "and counted.",
    )
    add(
        "--airglow.tcp-max-connections",
        dest="tcp_max_connections",
        type=int,
        default=4096,
        help="Most statsd TCP connections open at once; more are closed at once and counted.",
    )
    add(
        "--airglow.tcp-idle-timeout",
        dest="tcp_idle_timeout",
        default="5m",
        help="A statsd TCP connection that sends nothing for this long is closed and counted.",
    )
    add(
        "--airglow.web-max-connections",
        dest="web_max_connections",
        type=int,
        default=1024,
        help="Most HTTP connections open at once; more are closed at once and counted (at most 64 of them "
        "stream /metrics at a time; more scrapes get 503).",
    )
    add(
        "--airglow.deployment-label",
        dest="deployment_label",
        default="deployment",
        help="Name of the label that tells deployments apart.",
    )
    add(
        "--airglow.deployment",
        dest="deployment",
        default=None,
        help="Deployment for samples that carry none (a bridge serving one deployment); with the Airflow "
        f"preset and no value, such samples get deployment={UNKNOWN_DEPLOYMENT!r} and the bridge logs once.",
    )
    add(
        "--airglow.deployment-from-prefix",
        dest="deployment_from_prefix",
        default="auto",
        choices=["auto", "true", "false"],
        help="Take the deployment from a statsd prefix other than 'airflow.' and rewrite it to 'airflow.' "
        "(auto: on with the built-in preset, off with --statsd.mapping-config).",
    )
    add(
        "--airglow.preset",
        dest="preset",
        default="auto",
        choices=["auto", PRESET_AIRFLOW, "none"],
        help="Built-in mapping: auto uses the Airflow preset without --statsd.mapping-config and none with "
        "it; naming a preset with a mapping file adds its rules after the file's.",
    )
    _add_bool(
        parser,
        "airglow.pod-lookup",
        False,
        "Take the deployment of untagged samples from the sender's pod, found by source IP through the "
        "Kubernetes API (one watch of pods; needs get/list/watch on pods).",
    )
    add(
        "--airglow.pod-lookup-label",
        dest="pod_lookup_label",
        default="release",
        help="Pod label whose value is the deployment; empty: the pod's namespace.",
    )
    add(
        "--airglow.pod-lookup-namespace",
        dest="pod_lookup_namespace",
        default="",
        help="Watch pods of this namespace only (a Role suffices); empty: every namespace (a ClusterRole).",
    )
    add(
        "--airglow.kubeconfig",
        dest="kubeconfig",
        default="",
        help="Kubeconfig for the pod lookup; empty: the in-cluster service account.",
    )
    add(
        "--airglow.unmapped",
        dest="unmapped",
        default="keep",
        choices=["keep", "drop"],
        help="Metrics no mapping rule matches: keep them under their escaped statsd name, or drop them.",
    )
    add("--check-config", dest="check_config", action="store_true", help="Check configuration and exit.")
    add("--log.level", dest="log_level", default="info", choices=["debug", "info", "warn", "error"])
    add("--log.format", dest="log_format", default="logfmt", choices=["logfmt", "json"])
    add("--version", action="version", version=f"airglow-bridge {__version__}")
    return parser


_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def _identity(args: argparse.Namespace) -> FleetIdentity:
    if not _LABEL_NAME.match(args.deployment_label) or args.deployment_label.startswith("__"):
        raise ConfigError("--airglow.deployment-label", 0, f"not a label name: {args.deployment_label!r}")
    from_prefix = args.deployment_from_prefix == "true" or (
        args.deployment_from_prefix == "auto" and not args.mapping_config
    )
    if args.deployment is not None:
        return FleetIdentity(args.deployment_label, args.deployment, from_prefix)
    # Airflow series always carry a deployment (dashboards and rules group by it): say so when it is a guess.
    airflow = _preset(args) == PRESET_AIRFLOW
    return FleetIdentity(
        args.deployment_label, UNKNOWN_DEPLOYMENT if airflow else "", from_prefix, warn=airflow
    )


def _preset(args: argparse.Namespace) -> str:
    if args.preset == "auto":
        return "" if args.mapping_config else PRESET_AIRFLOW
    return "" if args.preset == "none" else args.preset


def parse_quantity(value: str, flag: str) -> int:
    """A byte count as Kubernetes writes it: ``536870912``, ``512Mi``, ``1Gi``, ``500M``."""
    match = re.fullmatch(r"(\d+)([kMG]i?|Ki)?", value.strip())
    if not match or (match.group(2) or "") not in _UNITS:
        raise ConfigError(flag, 0, f"not a byte quantity: {value!r} (e.g. 512Mi)")
    return int(match.group(1)) * _UNITS[match.group(2) or ""]


def _duration(value: str, flag: str) -> float:
    try:
        seconds = parse_go_duration(value)
    except ValueError as exc:
        raise ConfigError(flag, 0, str(exc)) from exc
    if seconds <= 0:
        raise ConfigError(flag, 0, "must be more than 0")
    return seconds


def _check_ranges(args: argparse.Namespace) -> None:
    for flag, value, low, high in (
        ("--airglow.series-limit", args.series_limit, 0, None),
        ("--airglow.series-limit-per-metric", args.series_limit_per_metric, 0, None),
        ("--airglow.label-bytes-limit", args.label_bytes_limit, 0, None),
        ("--statsd.cache-size", args.cache_size, 0, None),
        ("--statsd.read-buffer", args.read_buffer, 0, _MAX_READ_BUFFER),
        ("--statsd.udp-packet-queue-size", args.udp_packet_queue_size, 1, None),
        ("--statsd.relay.packet-length", args.relay_packet_length, 1, 65507),
        ("--statsd.event-queue-size", args.event_queue_size, 1, None),
        ("--statsd.event-flush-threshold", args.event_flush_threshold, 1, None),
        ("--airglow.tcp-max-connections", args.tcp_max_connections, 1, None),
        ("--airglow.web-max-connections", args.web_max_connections, 1, None),
    ):
        if value < low or (high is not None and value > high):
            limit = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ConfigError(flag, 0, f"must be {limit}, not {value}")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Validate every flag once; a bad one is a ConfigError naming it."""
    if not args.telemetry_path.startswith("/"):
        raise ConfigError("--web.telemetry-path", 0, "must start with /")
    _check_ranges(args)
    try:
        mode = int(args.unixsocket_mode, 8)
    except ValueError as exc:
        raise ConfigError(
            "--statsd.unixsocket-mode", 0, f"not an octal mode: {args.unixsocket_mode!r}"
        ) from exc
    _duration(args.event_flush_interval, "--statsd.event-flush-interval")
    memory_limit = parse_quantity(args.memory_limit, "--airglow.memory-limit")
    if memory_limit < 64 * 2**20:
        raise ConfigError("--airglow.memory-limit", 0, "must be at least 64Mi")
    settings = Settings(
        web_listen=parse_address(args.web_listen, "--web.listen-address"),
        telemetry_path=args.telemetry_path,
        enable_lifecycle=args.web_enable_lifecycle == "true",
        listen_udp=_optional_address(args.listen_udp, "--statsd.listen-udp"),
        listen_tcp=_optional_address(args.listen_tcp, "--statsd.listen-tcp"),
        listen_unixgram=args.listen_unixgram,
        unixsocket_mode=mode,
        mapping_config=args.mapping_config,
        read_buffer=args.read_buffer,
        cache_size=args.cache_size,
        cache_type=args.cache_type,
        parser=ParserOptions(
            dogstatsd=args.statsd_parse_dogstatsd_tags == "true",
            influxdb=args.statsd_parse_influxdb_tags == "true",
            librato=args.statsd_parse_librato_tags == "true",
            signalfx=args.statsd_parse_signalfx_tags == "true",
        ),
        relay_address=_optional_address(args.relay_address, "--statsd.relay.address"),
        relay_packet_length=args.relay_packet_length,
        check_config=args.check_config,
        log_level={
            "debug": logging.DEBUG,
            "info": logging.INFO,
            "warn": logging.WARNING,
            "error": logging.ERROR,
        }[args.log_level],
        log_format=args.log_format,
        series_limit=args.series_limit,
        series_limit_per_metric=args.series_limit_per_metric,
        memory_limit=memory_limit,
        label_bytes_limit=args.label_bytes_limit,
        tcp_max_connections=args.tcp_max_connections,
        tcp_idle_timeout=_duration(args.tcp_idle_timeout, "--airglow.tcp-idle-timeout"),
        web_max_connections=args.web_max_connections,
        identity=_identity(args),
        drop_unmapped=args.unmapped == "drop",
        preset=_preset(args),
        pod_lookup=PodLookupSettings(args.pod_lookup_label, args.pod_lookup_namespace, args.kubeconfig)
        if args.airglow_pod_lookup == "true"
        else None,
    )
    if (
        not (settings.listen_udp or settings.listen_tcp or settings.listen_unixgram)
        and not settings.check_config
    ):
        raise ConfigError(
            "--statsd.listen-*", 0, "at least one of UDP/TCP/Unixgram listeners must be specified"
        )
    return settings
