"""Wires the bridge together: mapping, pipeline, listeners, relay, HTTP; reload and shutdown."""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from importlib import resources

from bridge.errors import ConfigError
from bridge.exposition import render
from bridge.http_server import start_http
from bridge.listeners import Sender, TCPListener, UnixgramListener, bind_socket, sender_ip, udp_listener
from bridge.mapping import Mapper, MappingConfig, load_mapping_file, merge_configs, parse_mapping_yaml
from bridge.pipeline import Pipeline
from bridge.pods import PodDirectory
from bridge.registry import Limits, Registry
from bridge.relay import Relay
from bridge.selfmetrics import SelfMetrics
from bridge.settings import Settings

log = logging.getLogger("bridge")


def load_preset(name: str) -> MappingConfig:
    text = resources.files("bridge.presets").joinpath(f"{name}.yml").read_text(encoding="utf-8")
    return parse_mapping_yaml(text, f"<built-in preset {name}>")


def load_mapping(settings: Settings) -> MappingConfig:
    """The user's mapping file, then the selected preset's rules (the file's rules come first)."""
    configs = []
    if settings.mapping_config:
        configs.append(load_mapping_file(settings.mapping_config))
    if settings.preset:
        configs.append(load_preset(settings.preset))
    return merge_configs(configs) if configs else MappingConfig("<no mapping>")


class Bridge:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.telemetry_path = settings.telemetry_path
        self.enable_lifecycle = settings.enable_lifecycle
        self.stats = SelfMetrics()
        for outcome in (
            "success",
            "failure",
        ):  # both present from the start, so rates and alerts see the first one
            self.stats.inc("statsd_exporter_config_reloads_total", (("outcome", outcome),), 0)
        config = load_mapping(settings)
        registry = Registry(Limits(settings.series_limit, settings.series_limit_per_metric))
        self.pipeline = Pipeline(
            settings.parser, self._mapper(config), registry, self.stats, settings.identity
        )
        self._listeners: list = []
        self._relay: Relay | None = None
        self._pods: PodDirectory | None = None
        self._http = None
        self._ready = False
        self.stopped = threading.Event()
        self._expiry_stop = threading.Event()

    def _mapper(self, config: MappingConfig) -> Mapper:
        return Mapper(config, self.settings.cache_size, self.settings.cache_type, self.settings.drop_unmapped)

    def start(self) -> None:
        """Serve HTTP first (so /-/ready can say 503), then bind every listener, then become ready."""
        self._http = start_http(self.settings.web_listen, self)
        threading.Thread(target=self._http.serve_forever, name="http", daemon=True).start()
        if self.settings.pod_lookup is not None:
            self._pods = PodDirectory(self.settings.pod_lookup)
            self._pods.start()
        if self.settings.relay_address:
            self._relay = Relay(
                self.settings.relay_address, self.settings.relay_packet_length, self.stats, self.pipeline.lock
            )
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
            sock = bind_socket(settings.listen_udp, socket.SOCK_DGRAM)
            if settings.read_buffer:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, settings.read_buffer)
            self._listeners.append(
                udp_listener(sock, self.handle_lines, self.count, settings.udp_packet_queue_size)
            )
        if settings.listen_tcp:
            sock = bind_socket(settings.listen_tcp, socket.SOCK_STREAM)
            self._listeners.append(TCPListener(sock, self.handle_lines, self.count))
        if settings.listen_unixgram:
            self._listeners.append(
                UnixgramListener(
                    settings.listen_unixgram,
                    settings.unixsocket_mode,
                    settings.read_buffer,
                    self.handle_lines,
                    self.count,
                )
            )

    def handle_lines(self, lines: list[bytes], sender: Sender = None) -> None:
        if self._relay is not None:
            self._relay.relay(lines)
        pods = self._pods
        pod_deployment = pods.deployment_for(sender_ip(sender)) if pods is not None else None
        self.pipeline.process(lines, pod_deployment, sender)

    def count(self, name: str, amount: int) -> None:
        with self.pipeline.lock:
            self.stats.inc(name, (), amount)

    def _expire_loop(self) -> None:
        while not self._expiry_stop.wait(1.0):
            self.pipeline.expire()

    def is_ready(self) -> bool:
        return self._ready

    def reload(self) -> bool:
        """Build a complete new mapper off to the side; a bad file never replaces a good one."""
        if not self.settings.mapping_config:
            log.warning("Received reload but no mapping config to reload (the built-in preset is in use)")
            return True
        try:
            mapper = self._mapper(load_mapping(self.settings))
        except ConfigError as exc:
            log.error("Error reloading config, keeping the previous mapping: %s", exc)
            self.count_reload("failure")
            return False
        self.pipeline.swap_mapper(mapper)
        self.count_reload("success")
        log.info("Config reloaded successfully (%d mappings)", len(mapper.config.rules))
        return True

    def count_reload(self, outcome: str) -> None:
        with self.pipeline.lock:
            self.stats.inc("statsd_exporter_config_reloads_total", (("outcome", outcome),))

    def quit(self) -> None:
        self.stopped.set()

    def render_metrics(self, openmetrics: bool) -> bytes:
        pipeline = self.pipeline
        now = time.time()
        with pipeline.lock:
            pipeline.settle_twins(now)
            mapper = pipeline.mapper
            gauges = {
                **pipeline.twin_metrics(),
                ("statsd_exporter_lines_total", ()): float(pipeline.lines),
                ("statsd_exporter_event_queue_flushed_total", ()): float(pipeline.batches),
                ("statsd_exporter_loaded_mappings", ()): float(len(mapper.config.rules)),
            }
            registry = pipeline.registry
            gauges[("airglow_bridge_series", ())] = float(registry.series_total)
            gauges[("airglow_bridge_series_limit", (("scope", "global"),))] = float(
                registry.limits.global_series
            )
            gauges[("airglow_bridge_series_limit", (("scope", "per_metric"),))] = float(
                registry.limits.per_metric
            )
            for kind, created in registry.vectors_created.items():
                if created:
                    gauges[("statsd_exporter_metrics_total", (("type", kind),))] = float(created)
            if mapper.caching:
                gauges[("statsd_metric_mapper_cache_length", ())] = float(mapper.cache_length)
            families = pipeline.registry.collect(now) + self.stats.collect(
                gauges, cache_metrics=mapper.caching
            )
        return render(families, openmetrics)

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
            self._http.server_close()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self.reload, daemon=True).start())
        signal.signal(signal.SIGTERM, lambda *_: self.stopped.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopped.set())
