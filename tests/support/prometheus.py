"""The real Prometheus (Debian package ``prometheus``) on loopback, scraping what a test names."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from support.common import free_port, http_get, require_binary, wait_until


@dataclass
class PrometheusServer:
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, promql: str) -> list[dict]:
        status, body, _ = http_get(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        assert status == 200, body
        return json.loads(body)["data"]["result"]

    def wait_for_value(self, promql: str, expected: float, timeout: float = 30.0) -> list[dict]:
        def matches():
            result = self.query(promql)
            return result if result and all(float(r["value"][1]) == expected for r in result) else None

        return wait_until(matches, timeout, 0.25, what=f"{promql} == {expected} (now {self.query(promql)})")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def scrape_config(port: int, job: str = "bridge") -> str:
    """A scrape config of one loopback target."""
    return f"scrape_configs:\n- job_name: {job}\n  static_configs:\n  - targets: ['127.0.0.1:{port}']\n"


def start_prometheus(
    directory: Path, scrape_config: str, interval: int = 1, features: tuple[str, ...] = ()
) -> PrometheusServer:
    """Prometheus with its config and data under ``directory``, scraping and evaluating every ``interval``
    seconds, with the given ``--enable-feature`` flags (e.g. native-histograms)."""
    directory.mkdir()
    config = directory / "prometheus.yml"
    config.write_text(
        f"global:\n  scrape_interval: {interval}s\n  evaluation_interval: {interval}s\n" + scrape_config
    )
    flags = [f"--enable-feature={feature}" for feature in features]
    process, port = start_prometheus_binary("prometheus", config, directory, "--storage.tsdb.path", *flags)
    return PrometheusServer(process, port)


def start_prometheus_binary(
    name: str, config: Path, directory: Path, storage_flag: str = "--storage.tsdb.path", *flags: str
) -> tuple[subprocess.Popen, int]:
    """A server of the Prometheus project (prometheus, prometheus-alertmanager) on a free loopback port, with
    ``config`` and its data under ``directory``, once it answers /-/ready; its log in ``directory``."""
    binary = require_binary(name)
    port = free_port()
    with open(directory / f"{name}.log", "wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"{storage_flag}={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                *flags,
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    url = f"http://127.0.0.1:{port}/-/ready"
    try:
        wait_until(lambda: http_get(url)[0] == 200, 30, 0.2, what=f"{name} ready")
    except AssertionError:
        process.terminate()
        process.wait(timeout=15)
        raise
    return process, port
