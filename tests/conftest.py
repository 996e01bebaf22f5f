"""Shared fixtures: free loopback ports, a bridge process started by the test, and scraping helpers."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free for both TCP and UDP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse_exposition(text: str) -> dict[tuple[str, tuple], float]:
    """Samples of a text or OpenMetrics exposition keyed by (name, sorted label pairs)."""
    out = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or line.startswith("#"):
            continue
        name, labels, value = match.groups()
        pairs = tuple(
            sorted(
                (k, v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\"))
                for k, v in _LABEL.findall(labels or "")
            )
        )
        out[(name, pairs)] = float(value)
    return out


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def http_get(url: str, headers: dict | None = None, method: str = "GET") -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)
    except (urllib.error.URLError, ConnectionError):
        return 0, b"", {}


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


def start_bridge(*extra: str, udp: bool = True, tcp: bool = True, env: dict | None = None) -> BridgeProcess:
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
    bridge = BridgeProcess(process, http_port, statsd_port, args)
    try:
        wait_until(
            lambda: process.poll() is not None or http_get(bridge.url + "/-/ready")[0] == 200,
            what="bridge ready",
        )
    except AssertionError:
        bridge.stop()
        raise
    if process.poll() is not None:
        raise AssertionError(f"bridge exited {process.returncode}: {process.stderr.read().decode()}")
    return bridge


@pytest.fixture
def bridge_factory() -> Iterator:
    started: list[BridgeProcess] = []

    def factory(*extra: str, **kwargs) -> BridgeProcess:
        bridge = start_bridge(*extra, **kwargs)
        started.append(bridge)
        return bridge

    yield factory
    for bridge in started:
        bridge.stop()


def venv_with(venv: Path, *requirements: str, timeout: float = 1800) -> Path:
    """A new venv at ``venv`` with ``requirements`` pip-installed; returns its bin folder."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    result = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", *requirements],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return venv / "bin"


def require_binary(name: str) -> str:
    """Real servers are installed by .ci/run; running without them is a setup error, not a skip."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run .ci/run (apt-get install -y prometheus) first")
    return path


@dataclass
class PrometheusServer:
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, promql: str) -> list[dict]:
        import json
        import urllib.parse

        status, body, _ = http_get(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        assert status == 200, body
        return json.loads(body)["data"]["result"]

    def wait_for_value(self, promql: str, expected: float, timeout: float = 30.0) -> list[dict]:
        def matches():
            result = self.query(promql)
            return result if result and all(float(r["value"][1]) == expected for r in result) else None

        return wait_until(matches, timeout, 0.25, what=f"{promql} == {expected} (now {self.query(promql)})")


@pytest.fixture
def prometheus_factory(tmp_path) -> Iterator:
    """Starts the real Prometheus (Debian package) on loopback, scraping the given targets every second."""
    started: list[PrometheusServer] = []

    def factory(scrape_config: str) -> PrometheusServer:
        binary = require_binary("prometheus")
        port = free_port()
        directory = tmp_path / f"prometheus-{port}"
        directory.mkdir()
        config = directory / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n" + scrape_config)
        with open(directory / "prometheus.log", "wb") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        server = PrometheusServer(process, port)
        started.append(server)
        wait_until(lambda: http_get(server.url + "/-/ready")[0] == 200, 30, what="prometheus ready")
        return server

    yield factory
    for server in started:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()


@pytest.fixture(scope="session")
def airflow_bin(tmp_path_factory) -> Path:
    """Real Airflow 3.3.2 with this checkout of Airglow, installed once for every test that needs it
    (``AIRGLOW_TEST_AIRFLOW_VENV=DIR`` keeps and reuses it)."""
    from airflow_deployment import AIRFLOW, airflow_venv

    return airflow_venv(
        AIRFLOW, "AIRGLOW_TEST_AIRFLOW_VENV", tmp_path_factory.mktemp("airflow-venv") / "venv"
    )


@pytest.fixture(scope="session")
def airflow2_bin(tmp_path_factory) -> Path:
    """Real Airflow 2.11.2 with this checkout of Airglow, installed once for every test that needs it
    (``AIRGLOW_TEST_AIRFLOW2_VENV=DIR`` keeps and reuses it)."""
    from airflow_deployment import AIRFLOW2, airflow_venv

    return airflow_venv(AIRFLOW2, "AIRGLOW_TEST_AIRFLOW2_VENV", tmp_path_factory.mktemp("airflow2") / "venv")
