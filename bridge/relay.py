"""Forward raw statsd lines to another UDP target, as statsd_exporter's ``--statsd.relay.*``."""

from __future__ import annotations

import logging
import socket
import threading

from airglow.bridge.address import Address
from airglow.bridge.selfmetrics import Counters, Values

log = logging.getLogger("bridge.relay")


class Relay:
    """Buffers lines into packets of at most ``packet_length`` bytes; flushes at least every second."""

    def __init__(self, target: Address, packet_length: int) -> None:
        self._target = (target.host or "127.0.0.1", target.port)
        self._labels = (("target", str(target)),)
        self._packet_length = packet_length
        self._counters = Counters()
        self._socket = socket.socket(
            socket.AF_INET6 if ":" in target.host else socket.AF_INET, socket.SOCK_DGRAM
        )
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_every_second, name="relay", daemon=True)
        self._thread.start()

    def relay(self, lines: list[bytes]) -> None:
        relayed = too_long = 0
        with self._lock:
            for line in lines:
                if not line:
                    continue
                if len(line) > self._packet_length - 1:
                    too_long += 1
                    continue
                relayed += 1
                if len(self._buffer) + len(line) + 1 > self._packet_length:
                    self._send()
                self._buffer += line + b"\n"
        if relayed:
            self._counters.add("statsd_exporter_relay_lines_relayed_total", relayed, self._labels)
        if too_long:
            self._counters.add("statsd_exporter_relay_long_lines_total", too_long, self._labels)

    def self_metrics(self) -> Values:
        return self._counters.self_metrics()

    def _send(self) -> None:
        if not self._buffer:
            return
        try:
            self._socket.sendto(bytes(self._buffer), self._target)
        except OSError as exc:
            log.warning("relay send to %s failed: %s", self._target, exc)
        self._buffer.clear()
        self._counters.add("statsd_exporter_relay_packets_total", 1, self._labels)

    def _flush_every_second(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                self._send()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        with self._lock:
            self._send()
        self._socket.close()
