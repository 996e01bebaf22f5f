"""Wires the bridge together: mapping, pipeline, listeners, relay, HTTP; reload and shutdown."""

from __future__ import annotations

import logging
import resource
import signal
import socket
import threading
import time
from collections.abc import Generator, Iterator

from airglow.bridge.address import bind_socket, sender_ip
from airglow.bridge.errors import ConfigError
from airglow.bridge.exposition import Format, render_family, trailer
from airglow.bridge.http_server import HttpLimits, HttpServer
from airglow.bridge.listeners import (
    Sender,
    TCPListener,
    UDPListener,
    UnixgramListener,
    size_receive_buffer,
)
from airglow.bridge.mapping import Mapper, MappingConfig
from airglow.bridge.mapping.loader import load_mapping
from airglow.bridge.pipeline import Pipeline
from airglow.bridge.pods import PodDirectory
from airglow.bridge.registry import Limits, Registry
from airglow.bridge.relay import Relay
from airglow.bridge.selfmetrics import Counters, SelfMetrics, SelfMetricSource, families, gather
from airglow.bridge.settings import SERIES_SHARE, Settings

log = logging.getLogger("bridge")

# A scrape renders this many series per hold of the lock, and hands the client chunks of about this size.
SLICE_SERIES = 50
CHUNK_BYTES = 32 * 1024
# /-/healthy fails when the bridge's lock cannot be had for this long: /metrics could not be served.
HEALTH_TIMEOUT = 5.0
_OUTCOMES = ("success", "failure")


class Bridge:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.telemetry_path = settings.telemetry_path
        self.enable_lifecycle = settings.enable_lifecycle
        # Reloads by outcome, both shown from the start so rates and alerts see the first one.
        self._counters = Counters(
            tuple(("statsd_exporter_config_reloads_total", (("outcome", outcome),)) for outcome in _OUTCOMES)
        )
        self._started = time.time()
        config = load_mapping(settings.mapping_config, settings.preset)
        registry = Registry(
            Limits(
                settings.series_limit,
                settings.series_limit_per_metric,
                settings.label_bytes_limit,
                int(settings.memory_limit * SERIES_SHARE),
            )
        )
        self.pipeline = Pipeline(
            settings.parser, self._mapper(config), registry, SelfMetrics(), settings.identity
        )
        self._listeners: list = []
        self._relay: Relay | None = None
        # Made here, not at start: missing credentials are a configuration error, reported before binding.
        self._pods = PodDirectory(settings.pod_lookup) if settings.pod_lookup is not None else None
        self._http: HttpServer | None = None
        self._ready = False
        self.stopped = threading.Event()
        self._expiry_stop = threading.Event()

    def _mapper(self, config: MappingConfig) -> Mapper:
        return Mapper(config, self.settings.cache_size, self.settings.cache_type, self.settings.drop_unmapped)

    def start(self) -> None:
        """Serve HTTP first (so /-/ready can say 503), then bind every listener, then become ready."""
        _raise_open_files_limit()
        settings = self.settings
        self._http = HttpServer(
            bind_socket(settings.web_listen, socket.SOCK_STREAM, "--web.listen-address"),
            self,
            HttpLimits(max_connections=settings.web_max_connections),
        )
        self._http.start()
        if self._pods is not None:
            self._pods.start()
        if self.settings.relay_address:
            self._relay = Relay(self.settings.relay_address, self.settings.relay_packet_length)
        self._bind_listeners()
        for listener in self._listeners:
            listener.start()
        threading.Thread(target=self._expire_loop, name="ttl", daemon=True).start()
        self._ready = True
        log.info(
            "Accepting StatsD traffic udp=%s tcp=%s unixgram=%s, Prometheus requests on %s",
            self.settings.listen_udp or "",
            self.settings.listen_tcp or "",
            self.settings.listen_unixgram,
            self.settings.web_listen,
        )

    def _bind_listeners(self) -> None:
        settings = self.settings
        if settings.listen_udp:
            sock = bind_socket(settings.listen_udp, socket.SOCK_DGRAM, "--statsd.listen-udp")
            size_receive_buffer(sock, settings.read_buffer, "--statsd.read-buffer")
            self._listeners.append(UDPListener(sock, self.handle_lines))
        if settings.listen_tcp:
            sock = bind_socket(settings.listen_tcp, socket.SOCK_STREAM, "--statsd.listen-tcp")
            self._listeners.append(
                TCPListener(
                    sock,
                    self.handle_lines,
                    settings.tcp_max_connections,
                    settings.tcp_idle_timeout,
                )
            )
        if settings.listen_unixgram:
            self._listeners.append(
                UnixgramListener(
                    settings.listen_unixgram,
                    settings.unixsocket_mode,
                    settings.read_buffer,
                    self.handle_lines,
                )
            )

    def handle_lines(self, lines: list[bytes], sender: Sender = None) -> None:
        if self._relay is not None:
            self._relay.relay(lines)
        pods = self._pods
        pod_deployment = pods.deployment_for(sender_ip(sender)) if pods is not None else None
        self.pipeline.process(lines, pod_deployment, sender)

    def _expire_loop(self) -> None:
        while not self._expiry_stop.wait(1.0):
            self.pipeline.expire()

    def is_ready(self) -> bool:
        return self._ready

    def is_healthy(self) -> bool:
        """Whether the bridge's lock (which every scrape and every batch of lines takes) can be had in time."""
        if not self.pipeline.lock.acquire(timeout=HEALTH_TIMEOUT):
            log.error("Unhealthy: the bridge's lock was held for more than %g s", HEALTH_TIMEOUT)
            return False
        self.pipeline.lock.release()
        return True

    def reload(self) -> str | None:
        """Build a complete new mapper off to the side; a bad file never replaces a good one.

        Returns None on success, else the reason (the failure is counted and logged)."""
        if not self.settings.mapping_config:
            log.warning("Received reload but no mapping config to reload (the built-in preset is in use)")
            return None
        try:
            mapper = self._mapper(load_mapping(self.settings.mapping_config, self.settings.preset))
        except ConfigError as exc:
            reason = str(exc)
        except (RecursionError, MemoryError, ValueError) as exc:  # a file no check above foresaw
            reason = f"{self.settings.mapping_config}: {type(exc).__name__}: {exc}"
        else:
            self.pipeline.swap_mapper(mapper)
            self._counters.add("statsd_exporter_config_reloads_total", 1, (("outcome", "success"),))
            log.info("Config reloaded successfully (%d mappings)", len(mapper.config.rules))
            return None
        log.error("Error reloading config, keeping the previous mapping: %s", reason)
        self._counters.add("statsd_exporter_config_reloads_total", 1, (("outcome", "failure"),))
        return reason

    def quit(self) -> None:
        self.stopped.set()

    def metrics_chunks(self, fmt: Format) -> Generator[bytes, None, None]:
        """The exposition in chunks: self-metrics read at once, mapped families a slice at a time, each
        under the lock, so ingestion goes on during a scrape and no response is held whole."""
        pipeline = self.pipeline
        own = {
            family.name: family
            for family in families(
                gather(self._self_metric_sources()), self._started, pipeline.mapper.caching
            )
        }
        with pipeline.lock:
            now = time.time()
            plan = sorted([*own, *pipeline.registry.families])
        parts: list[bytes] = []
        size = 0
        for name in plan:
            own_family = own.get(name)
            rendered = (
                [render_family(own_family, fmt)]
                if own_family is not None
                else self._family_slices(name, now, fmt)
            )
            for part in rendered:
                parts.append(part)
                size += len(part)
                if size >= CHUNK_BYTES:
                    yield b"".join(parts)
                    parts, size = [], 0
        parts.append(trailer(fmt))
        yield b"".join(parts)

    def _family_slices(self, name: str, now: float, fmt: Format) -> Iterator[bytes]:
        lock, registry = self.pipeline.lock, self.pipeline.registry
        with lock:
            keys = registry.series_keys(name)
        kind = None
        for start in range(0, len(keys), SLICE_SERIES):
            with lock:
                snapshot = registry.snapshot(name, keys[start : start + SLICE_SERIES], now)
            if snapshot is None or kind not in (None, snapshot.kind):
                return  # the family expired (or was made anew) while the scrape went on
            kind = snapshot.kind
            yield render_family(snapshot, fmt, header=start == 0)

    def _self_metric_sources(self) -> list[SelfMetricSource]:
        parts: list[SelfMetricSource | None] = [
            self._counters,
            self.pipeline,
            *self._listeners,
            self._relay,
            self._http,
        ]
        return [part for part in parts if part is not None]

    def stop(self) -> None:
        self._ready = False
        self._expiry_stop.set()
        for listener in self._listeners:
            listener.close()
        if self._relay is not None:
            self._relay.close()
        if self._pods is not None:
            self._pods.close()
        if self._http is not None:
            self._http.shutdown()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self.reload, daemon=True).start())
        signal.signal(signal.SIGTERM, lambda *_: self.stopped.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopped.set())


def _raise_open_files_limit() -> None:
    """Idle TCP connections cost a file descriptor each: allow as many as the hard limit does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
