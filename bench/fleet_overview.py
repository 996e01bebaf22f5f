"""What the fleet overview costs Prometheus at 3, 40 and 100 deployments.

For each fleet size: a bridge, the fleet simulator (about 19 new task pods a second in all, however many
deployments share them) and a real Prometheus with Airglow's rules, scraping and evaluating every 5 s. Once
every deployment has a health score, it reports over a few rounds:

- the evaluation time of the ``airglow.health`` rule group (paid once per evaluation, whoever looks);
- the time of the overview table's instant queries, as a Grafana opening the dashboard sends them;
- the time of the same columns computed at query time from the raw series (what the table would cost
  without the recording rules).

    python bench/fleet_overview.py [--deployments 3 40 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import yaml

from airglow.dashboards import health
from airglow.dashboards.collection import dashboards
from airglow.dashboards.demo import prometheus_config
from airglow.dashboards.rules import rules_file
from airglow.dashboards.variables import ALL, substitute

SCRAPE_SECONDS = 5
# Task pods started per second by the whole simulated fleet (its run rate is shared by the deployments).
FLEET_RUN_RATE = 1.2
READY_SECONDS = 600


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def process(command: list[str], log: Path) -> Iterator[None]:
    with open(log, "wb") as output:
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield
    finally:
        child.terminate()
        child.wait(timeout=30)


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=120) as response:
        return json.load(response)


def query_seconds(prometheus: str, exprs: list[str]) -> float:
    """Wall time of the instant queries one after the other (as a panel's targets load)."""
    began = time.perf_counter()
    for expr in exprs:
        body = get(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert body["status"] == "success", body
    return time.perf_counter() - began


def health_group_seconds(prometheus: str) -> float:
    groups = get(f"{prometheus}/api/v1/rules")["data"]["groups"]
    return next(group["evaluationTime"] for group in groups if group["name"] == "airglow.health")


def table_exprs() -> list[str]:
    model = dashboards()["airflow-fleet"]
    (table,) = [panel for panel in model["panels"] if panel["type"] == "table"]
    return [substitute(target["expr"], {"deployment": [ALL]}, "1m") for target in table["targets"]]


def inline_exprs() -> list[str]:
    """The table's columns computed from the raw series: each recording rule's expression, with the
    recordings it reads replaced by their own expressions."""
    recorded = dict(health.recordings())
    exprs = []
    for concern in health.concerns():
        expr = recorded[concern.record]
        for name in sorted(recorded, key=len, reverse=True):
            if name != concern.record and name in expr:
                # A recording read over a range becomes a subquery at a one-minute resolution.
                expr = re.sub(re.escape(name) + r"\[(\w+)\]", f"({recorded[name]})[\\1:1m]", expr)
                expr = expr.replace(name, f"({recorded[name]})")
        exprs.append(expr)
    return exprs


def measure(deployments: int, rounds: int, folder: Path) -> dict[str, float]:
    ports = {name: free_port() for name in ("http", "statsd", "simulator", "prometheus")}
    rules = folder / "rules.yml"
    rules.write_text(yaml.safe_dump(rules_file(), sort_keys=False))
    config = folder / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(prometheus_config(rules, ports["http"], ports["simulator"], SCRAPE_SECONDS))
    )
    prometheus = f"http://127.0.0.1:{ports['prometheus']}"
    with ExitStack() as started:
        started.enter_context(
            process(
                [
                    sys.executable,
                    "-m",
                    "airglow.bridge",
                    f"--web.listen-address=127.0.0.1:{ports['http']}",
                    f"--statsd.listen-udp=127.0.0.1:{ports['statsd']}",
                    "--statsd.listen-tcp=",
                ],
                folder / "bridge.log",
            )
        )
        started.enter_context(
            process(
                [
                    sys.executable,
                    "-m",
                    "airglow.dashboards.simulate",
                    f"--statsd=127.0.0.1:{ports['statsd']}",
                    f"--listen=127.0.0.1:{ports['simulator']}",
                    f"--deployments={deployments}",
                    f"--run-rate={FLEET_RUN_RATE / deployments:.4f}",
                ],
                folder / "simulator.log",
            )
        )
        started.enter_context(
            process(
                [
                    shutil.which("prometheus") or "prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                ],
                folder / "prometheus.log",
            )
        )
        wait_for_scores(prometheus, deployments)
        figures: dict[str, list[float]] = {"health group": [], "table": [], "inline": []}
        for _ in range(rounds):
            time.sleep(SCRAPE_SECONDS * 2)
            figures["health group"].append(health_group_seconds(prometheus))
            figures["table"].append(query_seconds(prometheus, table_exprs()))
            figures["inline"].append(query_seconds(prometheus, inline_exprs()))
    return {name: statistics.median(values) for name, values in figures.items()}


def wait_for_scores(prometheus: str, deployments: int) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        try:
            body = get(
                f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": f"count({health.SCORE})"})
            )
            result = body["data"]["result"]
            if result and int(float(result[0]["value"][1])) == deployments:
                return
        except OSError:
            pass
        time.sleep(2)
    raise TimeoutError(f"no health score for {deployments} deployments within {READY_SECONDS} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deployments", type=int, nargs="+", default=[3, 40, 100])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{'deployments':>11}  {'health rules':>12}  {'table queries':>13}  {'same, inline':>12}  (median ms)"
    )
    for deployments in args.deployments:
        with tempfile.TemporaryDirectory(prefix="airglow-fleet-bench-") as folder:
            figures = measure(deployments, args.rounds, Path(folder))
        print(
            f"{deployments:>11}  {figures['health group'] * 1000:>12.1f}  {figures['table'] * 1000:>13.1f}"
            f"  {figures['inline'] * 1000:>12.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
