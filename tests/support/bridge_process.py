"""The bridge as a process, started the way users start it, with loopback ports of its own."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field

from support.common import ROOT, free_port, http_get, parse_exposition, wait_until


@dataclass
class BridgeProcess:
    process: subprocess.Popen
    http_port: int
    statsd_port: int
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def metrics_text(self) -> str:
        status, body, _ = http_get(self.url + "/metrics")
        assert status == 200, status
        return body.decode()

    def samples(self) -> dict[tuple[str, tuple], float]:
        """Every sample of a scrape, keyed by (name, sorted labels), parsed by prometheus_client."""
        return parse_exposition(self.metrics_text())

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples().get((name, tuple(sorted(labels.items()))))

    def exposed(self, sample: str) -> float:
        """One sample by its exposed text (``name`` or ``name{label="v"}``), found without parsing the whole
        exposition (which may be 100 MB); 0 when absent."""
        status, body, _ = http_get(self.url + "/metrics")
        assert status == 200, status
        match = re.search(rb"^%s (\S+)$" % re.escape(sample.encode()), body, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    def send_udp(self, payload: bytes) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(payload, ("127.0.0.1", self.statsd_port))

    def send_tcp(self, payload: bytes) -> None:
        with socket.create_connection(("127.0.0.1", self.statsd_port)) as sock:
            sock.sendall(payload)

    def wait_for(self, name: str, expected: float, timeout: float = 10.0, **labels: str) -> None:
        wait_until(
            lambda: self.value(name, **labels) == expected,
            timeout,
            what=f"{name}{labels} == {expected} (now {self.value(name, **labels)})",
        )

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.stderr.read().decode() if self.process.stderr else ""


def bridge_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "airglow.bridge", *args]


PORT_ATTEMPTS = 3


def start_bridge(*extra: str, udp: bool = True, tcp: bool = True, env: dict | None = None) -> BridgeProcess:
    """A ready bridge on fresh loopback ports. A port picked free can be taken (as some connection's local
    port) before the bridge binds it: then the bridge is started again on other ports."""
    attempts_left = PORT_ATTEMPTS
    while True:
        attempts_left -= 1
        bridge = _launch(extra, udp, tcp, env)
        _wait_until_ready_or_gone(bridge)
        if bridge.process.poll() is None:
            return bridge
        stderr = bridge.stop()
        if "Address already in use" not in stderr or not attempts_left:
            raise AssertionError(f"bridge exited {bridge.process.returncode}: {stderr}")


def _wait_until_ready_or_gone(bridge: BridgeProcess) -> None:
    try:
        wait_until(
            lambda: bridge.process.poll() is not None or http_get(bridge.url + "/-/ready")[0] == 200,
            what="bridge ready",
        )
    except AssertionError:
        bridge.stop()
        raise


def _launch(extra: tuple[str, ...], udp: bool, tcp: bool, env: dict | None) -> BridgeProcess:
    http_port, statsd_port = free_port(), free_port()
    args = [
        f"--web.listen-address=127.0.0.1:{http_port}",
        "--statsd.listen-udp=" + (f"127.0.0.1:{statsd_port}" if udp else ""),
        "--statsd.listen-tcp=" + (f"127.0.0.1:{statsd_port}" if tcp else ""),
        *extra,
    ]
    process = subprocess.Popen(
        bridge_command(*args),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    return BridgeProcess(process, http_port, statsd_port, args)
