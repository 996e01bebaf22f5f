"""``airglow-demo``: the product on one machine in one command, stopped by Ctrl-C.

Starts, on loopback ports that are free and with a temporary data folder: a bridge, the fleet simulator
(whose statsd goes to the bridge), and a Prometheus (when one is installed) that scrapes both and loads
Airglow's rules. It prints where each one answers and what to look at, reports alerts as they start firing,
draws the dashboard previews when asked, and stops everything it started on Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from airglow.bridge.commandline import CommandParser, ExitCode, fail
from airglow.dashboards.collection import dashboards
from airglow.dashboards.preview import PreviewError, chromium, preview
from airglow.dashboards.rules import rules_file
from airglow.dashboards.simulate.expositions import EXPOSITIONS
from airglow.dashboards.simulate.model import TROUBLES, Fleet, FleetShape

# Seconds between scrapes and rule evaluations: short, so that panels fill within a minute.
SCRAPE_SECONDS = 2
# Seconds a part may take to answer after it starts.
START_SECONDS = 60.0
# Seconds between looks at Prometheus's firing alerts.
ALERT_POLL_SECONDS = 5.0
# Per-metric series limit of the demo's bridge: low, so that the misbehaving client's exploding label hits it.
DEMO_SERIES_LIMIT_PER_METRIC = 300
# New ids per tick on the misbehaving client's exploding label.
RUNAWAY_PER_TICK = 20


class DemoError(Exception):
    """A part of the demo could not start; the message says which and why."""


@dataclass(frozen=True)
class Ports:
    bridge_http: int
    bridge_statsd: int
    simulator: int
    prometheus: int

    @classmethod
    def free(cls) -> Ports:
        return cls(*(_free_port() for _ in range(4)))


def scrape_configs(bridge_http: int, simulator: int) -> list[dict[str, Any]]:
    """Prometheus's scrape jobs for a bridge and the simulator's expositions on loopback."""
    jobs = [("airglow-bridge", "/metrics", bridge_http)] + [
        (name, f"/metrics/{name}", simulator) for name in EXPOSITIONS
    ]
    return [
        {"job_name": job, "metrics_path": path, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
        for job, path, port in jobs
    ]


def prometheus_config(rules: Path, bridge_http: int, simulator: int, interval: int = SCRAPE_SECONDS) -> dict:
    return {
        "global": {"scrape_interval": f"{interval}s", "evaluation_interval": f"{interval}s"},
        "rule_files": [str(rules)],
        "scrape_configs": scrape_configs(bridge_http, simulator),
    }


def parser() -> argparse.ArgumentParser:
    p = CommandParser(prog="airglow-demo", description=__doc__)
    p.add_argument("--deployments", type=int, default=3, help="simulated Airflow deployments (default 3)")
    p.add_argument(
        "--previews", type=Path, help="draw every dashboard to a PNG in this folder (needs chromium)"
    )
    p.add_argument(
        "--preview-after",
        type=float,
        default=60.0,
        help="seconds of data to gather before drawing the previews (default 60)",
    )
    p.add_argument(
        "--prometheus", default="prometheus", help="the Prometheus binary (default: prometheus on PATH)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.deployments < 1:
        return fail("airglow-demo", "--deployments must be at least 1", ExitCode.USAGE)
    try:
        if args.previews is not None:
            chromium()
    except PreviewError as error:
        return fail("airglow-demo", f"--previews: {error}", error.code)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with tempfile.TemporaryDirectory(prefix="airglow-demo-") as folder:
            run(args, Path(folder), stop)
    except DemoError as error:
        return fail("airglow-demo", str(error), ExitCode.UNAVAILABLE)
    print("airglow-demo: stopped everything it started", flush=True)
    return ExitCode.OK


def run(args: argparse.Namespace, folder: Path, stop: threading.Event) -> None:
    ports = Ports.free()
    prometheus_binary = shutil.which(args.prometheus)
    with ExitStack() as started:
        started.enter_context(_start_bridge(ports, folder))
        started.enter_context(_start_simulator(ports, folder, args.deployments))
        prometheus = (
            started.enter_context(_start_prometheus(prometheus_binary, ports, folder))
            if prometheus_binary
            else None
        )
        _print_guide(args, ports, folder, prometheus)
        began = time.monotonic()
        firing: set[tuple] = set()
        previews_due = args.previews is not None and prometheus is not None
        while not stop.wait(ALERT_POLL_SECONDS if prometheus else 3600):
            if prometheus is None:
                continue
            _print_new_alerts(prometheus, firing)
            if previews_due and time.monotonic() - began >= args.preview_after:
                previews_due = False
                _draw_previews(prometheus, args.previews, time.monotonic() - began)


@contextmanager
def _started(name: str, command: list[str], log: Path, ready: str) -> Iterator[str]:
    """A child process in its own session (Ctrl-C reaches only the demo, which stops it), answering ``ready``."""
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        _wait_ready(name, process, ready, log)
        yield ready
    finally:
        _stop(process)


def _start_bridge(ports: Ports, folder: Path):
    command = [
        sys.executable,
        "-m",
        "airglow.bridge",
        f"--web.listen-address=127.0.0.1:{ports.bridge_http}",
        f"--statsd.listen-udp=127.0.0.1:{ports.bridge_statsd}",
        "--statsd.listen-tcp=",
        f"--airglow.series-limit-per-metric={DEMO_SERIES_LIMIT_PER_METRIC}",
    ]
    return _started("bridge", command, folder / "bridge.log", f"http://127.0.0.1:{ports.bridge_http}/-/ready")


def _start_simulator(ports: Ports, folder: Path, deployments: int):
    command = [
        sys.executable,
        "-m",
        "airglow.dashboards.simulate",
        f"--statsd=127.0.0.1:{ports.bridge_statsd}",
        f"--listen=127.0.0.1:{ports.simulator}",
        f"--deployments={deployments}",
        f"--runaway-per-tick={RUNAWAY_PER_TICK}",
    ]
    ready = f"http://127.0.0.1:{ports.simulator}/metrics/{next(iter(EXPOSITIONS))}"
    return _started("simulator", command, folder / "simulator.log", ready)


@contextmanager
def _start_prometheus(binary: str, ports: Ports, folder: Path) -> Iterator[str]:
    rules = folder / "airglow-rules.yml"
    rules.write_text(yaml.safe_dump(rules_file(), sort_keys=False))
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(rules, ports.bridge_http, ports.simulator)))
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{ports.prometheus}",
    ]
    url = f"http://127.0.0.1:{ports.prometheus}"
    with _started("prometheus", command, folder / "prometheus.log", f"{url}/-/ready"):
        yield url


def _wait_ready(name: str, process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"{name} exited with {process.returncode}: {_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (OSError, urllib.error.URLError):
            time.sleep(0.2)
    raise DemoError(f"{name} did not answer {url} within {START_SECONDS:.0f} s: {_tail(log)}")


def _tail(log: Path, lines: int = 5) -> str:
    return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _print_guide(args: argparse.Namespace, ports: Ports, folder: Path, prometheus: str | None) -> None:
    fleet = Fleet(FleetShape(deployments=args.deployments), time.time())
    names = [deployment.name for deployment in fleet.deployments]
    troubled = [deployment.name for deployment in fleet.deployments if deployment.troubled]
    _say(f"airglow-demo: running; Ctrl-C stops everything. Data and logs: {folder} (removed on exit)")
    _say(
        f"  bridge      http://127.0.0.1:{ports.bridge_http}/metrics  (statsd UDP 127.0.0.1:{ports.bridge_statsd})"
    )
    _say(f"  simulator   {len(names)} deployments: {', '.join(names)}")
    if prometheus:
        _say(f"  prometheus  {prometheus}  (targets: {prometheus}/targets, alerts: {prometheus}/alerts)")
    else:
        _say(
            f"  prometheus  not started: {args.prometheus!r} is not installed (apt-get install -y prometheus)"
        )
    _say("What to look at:")
    if troubled:
        _say(
            f"  - {troubled[0]} is the troubled deployment: {', '.join(TROUBLES)}. Its alerts start within minutes."
        )
    _say(
        "  - a client that is not Airflow sends malformed lines and a new request_id label on every line: the"
        " bridge counts and drops them (statsd_exporter_sample_errors_total,"
        " airglow_bridge_series_dropped_total), and AirglowBridgeDroppingLines / AirglowBridgeSeriesLimitHit"
        " fire for that bridge, not for a deployment."
    )
    _say(
        "  - dashboards for Grafana: airglow-dashboards generate --out build; "
        f"or pictures without Grafana: airglow-dashboards preview --prometheus {prometheus or 'URL'} --out preview"
    )


def _print_new_alerts(prometheus: str, firing: set[tuple]) -> None:
    try:
        with urllib.request.urlopen(f"{prometheus}/api/v1/alerts", timeout=10) as response:
            alerts = json.load(response)["data"]["alerts"]
    except (OSError, ValueError, KeyError) as error:
        _say(f"airglow-demo: cannot read alerts from {prometheus}: {error}")
        return
    for alert in alerts:
        labels = alert.get("labels", {})
        key = tuple(sorted(labels.items()))
        if alert.get("state") != "firing" or key in firing:
            continue
        firing.add(key)
        where = labels.get("deployment") or labels.get("namespace") or labels.get("instance", "")
        summary = alert.get("annotations", {}).get("summary", "")
        _say(f"alert firing: {labels.get('alertname')} ({where}): {summary}")


def _draw_previews(prometheus: str, out: Path, seconds: float) -> None:
    _say(f"airglow-demo: drawing previews to {out} …")
    try:
        pictures = preview(dashboards(), prometheus, out, window=max(seconds, 60.0))
    except PreviewError as error:
        _say(f"airglow-demo: previews not drawn: {error}")
        return
    except OSError as error:  # the folder cannot be written: the demo goes on without pictures
        _say(
            f"airglow-demo: previews not drawn: cannot write {error.filename or out}: {error.strerror or error}"
        )
        return
    for picture in pictures:
        _say(f"preview written: {picture}")


def _say(text: str) -> None:
    print(text, flush=True)


def _free_port() -> int:
    """A loopback port free for TCP and for UDP (the bridge's statsd port is both)."""
    while True:
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


if __name__ == "__main__":
    sys.exit(main())
