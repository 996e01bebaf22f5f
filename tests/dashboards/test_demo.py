"""``airglow-demo`` as a user runs it: everything up, previews drawn, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
from support.common import ROOT, http_get, require_binary, wait_until

from airglow.dashboards.collection import dashboards

pytestmark = [pytest.mark.server, pytest.mark.browser, pytest.mark.slow]


class Output:
    """The demo's stdout, read as it comes."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def find(self, pattern: str) -> list[re.Match]:
        return [match for line in list(self.lines) if (match := re.search(pattern, line))]

    def text(self) -> str:
        return "\n".join(self.lines)


def _listening_ports(processes: list[psutil.Process]) -> set[int]:
    ports = set()
    for process in processes:
        for connection in process.net_connections(kind="inet"):
            if connection.status in (psutil.CONN_LISTEN, psutil.CONN_NONE) and connection.laddr:
                ports.add(connection.laddr.port)
    return ports


def _port_free(port: int) -> bool:
    """Nothing listens on the port (a TCP port may still hold closed connections in TIME_WAIT)."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def test_demo_runs_everything_draws_previews_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    require_binary("prometheus")
    previews = tmp_path / "previews"
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airglow.dashboards.demo",
            "--deployments=2",
            f"--previews={previews}",
            "--preview-after=15",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(demo.stdout)
    try:
        prometheus = wait_until(
            lambda: output.find(r"prometheus\s+(http://127\.0\.0\.1:\d+)"), 120, 0.2, what="the demo's URLs"
        )[0].group(1)
        folder = Path(output.find(r"Data and logs: (\S+)")[0].group(1))
        assert folder.is_dir()
        assert output.find(r"airflow-staging is the troubled deployment: DAG import errors")

        def targets_up():
            status, body, _ = http_get(f"{prometheus}/api/v1/targets")
            active = json.loads(body)["data"]["activeTargets"] if status == 200 else []
            return active if len(active) == 4 and all(t["health"] == "up" for t in active) else None

        jobs = {
            target["labels"]["job"] for target in wait_until(targets_up, 120, 1.0, what="every target up")
        }
        assert jobs == {"airglow-bridge", "kube-state-metrics", "cadvisor", "pgbouncer"}
        expected = {previews / f"{name}.png" for name in dashboards()}
        wait_until(
            lambda: len(output.find(r"^preview written: ")) == len(expected), 600, 1.0, what=output.text()
        )
        assert all(path.stat().st_size > 10_000 for path in expected)

        children = psutil.Process(demo.pid).children(recursive=True)
        assert len(children) >= 3  # bridge, simulator, prometheus
        ports = _listening_ports(children)
        assert len(ports) >= 4  # bridge HTTP and statsd, simulator, prometheus
        assert not any(map(_port_free, ports))

        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0, output.text()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    wait_until(lambda: output.find("stopped everything it started"), 10, 0.1, what=output.text())
    assert not [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
    assert all(_port_free(port) for port in ports)
    assert not folder.exists()
