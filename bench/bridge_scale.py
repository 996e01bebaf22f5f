"""The bridge at fleet scale, shape by shape, and side by side with statsd_exporter when one is at hand.

Each figure is measured on a fresh process, for Airglow's bridge and, when the environment variable
``STATSD_EXPORTER`` names a statsd_exporter binary, for it too: in the same run, alternating, with the same
flags (the bridge takes statsd_exporter's), the official Airflow chart's mapping, and the ratio printed.

- ``udp-one-line``: one line per datagram from many sender sockets, interleaved (Airflow's shape);
- ``udp-batched``: the same lines packed into datagrams of up to 1,400 bytes;
- ``tcp``: the same lines over one connection per sender.
  Each as CPU-seconds per million lines (paced at ``--rate``), on a fresh process (``cold``: every shape of
  line, and every series, is new when it first comes: about one line in six of this traffic) and once the
  process has seen the traffic before (``steady``: a bridge that has run for a while, where Airflow's metric
  names, made of DAG and task ids, repeat run after run); and as the highest paced rate with no loss
  (doubled from ``--rate`` until lines are lost, then bisected; each trial sends for at least 10 s, as a
  shorter burst would only measure the kernel's receive buffer).
- ``new-series``: CPU per new series: N lines that each make a series, less N lines on one series.
- ``scrape``: one scrape of ``--series`` counter series: wall time, CPU, bytes.
- ``memory``: peak RSS growth per 100k series, for counters and for histograms.
  The series figures are medians of ``--repeat`` alternating runs.

    python bench/bridge_scale.py [--lines 200000] [--series 100000] [--senders 50] [--rate 20000]
    STATSD_EXPORTER=/path/to/statsd_exporter python bench/bridge_scale.py
    python bench/bridge_scale.py --root /tmp/before --root . --figures new-series   # a change, before and after

``--root`` (repeatable) measures several checkouts in the same run, alternating, each against the first.

The repository neither ships nor builds statsd_exporter.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bridge_throughput import (  # noqa: E402
    DATA,
    ROOT,
    airflow_streams,
    checkout,
    free_port,
    peak_rss_mib,
    scrape_value,
    stop,
    wait_idle,
)

CHART_MAPPING = DATA / "airflow_chart_statsd_mappings.yml"
# Timers become histograms (statsd_exporter's default observer is a summary), as in the chart's mapping.
HISTOGRAM_MAPPING = "defaults:\n  observer_type: histogram\nmappings: []\n"
DATAGRAM_BYTES = 1400
RATE_STEPS = 3  # bisection steps after the first lossy rate
# A lossless-rate trial sends for at least this long: a shorter burst only measures the receive buffer.
TRIAL_SECONDS = 10.0


@dataclass(frozen=True)
class Target:
    """A statsd → Prometheus process to measure: its name and the command before statsd_exporter's flags."""

    name: str
    command: tuple[str, ...]
    env: dict[str, str] | None = None
    cwd: Path = ROOT

    def start(self, mapping: Path) -> tuple[subprocess.Popen, int, int]:
        """A fresh process on loopback ports, ready; (process, HTTP port, statsd port)."""
        http, statsd = free_port(), free_port()
        process = subprocess.Popen(
            [
                *self.command,
                f"--web.listen-address=127.0.0.1:{http}",
                f"--statsd.listen-udp=127.0.0.1:{statsd}",
                f"--statsd.listen-tcp=127.0.0.1:{statsd}",
                "--statsd.read-buffer=8388608",
                f"--statsd.mapping-config={mapping}",
            ],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{http}/-/ready", timeout=1).status == 200:
                    return process, http, statsd
            except OSError:
                time.sleep(0.1)
        process.kill()
        raise SystemExit(f"{self.name} did not become ready within 30 s")


def targets(roots: list[Path]) -> list[Target]:
    """The bridge of each checkout (named ``airglow``, or ``airglow:<root>`` for several), then
    statsd_exporter when ``STATSD_EXPORTER`` names it."""
    # Airglow bounds series and memory by default; statsd_exporter does not, so the figures compare what series
    # really cost.
    unbounded = (
        "--airglow.series-limit=0",
        "--airglow.series-limit-per-metric=0",
        "--airglow.label-bytes-limit=0",
        "--airglow.memory-limit=64Gi",
    )
    found = []
    for root in roots:
        package, env = checkout(root)
        name = "airglow" if len(roots) == 1 else f"airglow:{root}"
        found.append(Target(name, (sys.executable, "-m", package, *unbounded), env, root))
    binary = os.environ.get("STATSD_EXPORTER")
    if binary:
        found.append(Target("statsd_exporter", (binary,)))
    return found


def interleaved(streams: list[list[bytes]], senders: int) -> list[tuple[int, bytes]]:
    """The lines dealt round-robin to ``senders`` sockets: (sender, line), in sending order."""
    lines = [line for stream in streams for line in stream]
    return [(index % senders, line) for index, line in enumerate(lines)]


def datagrams(lines: list[tuple[int, bytes]], datagram_bytes: int) -> list[tuple[int, bytes, int]]:
    """Per sender, lines packed into datagrams of at most ``datagram_bytes`` (1: a line each), in order:
    (sender, payload, lines in it)."""
    open_packets: dict[int, list[bytes]] = {}
    out: list[tuple[int, bytes, int]] = []
    for sender, line in lines:
        packet = open_packets.setdefault(sender, [])
        if packet and sum(len(part) + 1 for part in packet) + len(line) > datagram_bytes:
            out.append((sender, b"\n".join(packet), len(packet)))
            packet.clear()
        packet.append(line)
    out.extend((sender, b"\n".join(packet), len(packet)) for sender, packet in open_packets.items() if packet)
    return out


def send_udp(
    port: int, packets: list[tuple[int, bytes, int]], senders: int, rate: float, repeats: int
) -> float:
    """The datagrams ``repeats`` times over at ``rate`` lines per second, each from its sender's socket;
    returns the seconds taken."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(senders)]
    try:
        start, sent = time.monotonic(), 0
        for sender, payload, count in packets * repeats:
            delay = start + sent / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sockets[sender].sendto(payload, ("127.0.0.1", port))
            sent += count
        return time.monotonic() - start
    finally:
        for sock in sockets:
            sock.close()


def send_tcp(port: int, lines: list[tuple[int, bytes]], senders: int, rate: float, repeats: int) -> float:
    """Each sender's lines (``repeats`` times over) on its own connection, all open at once, paced in chunks
    of 500 lines."""
    connections = [socket.create_connection(("127.0.0.1", port)) for _ in range(senders)]
    lines = lines * repeats
    try:
        start = time.monotonic()
        for index in range(0, len(lines), 500):
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            by_sender: dict[int, list[bytes]] = {}
            for sender, line in lines[index : index + 500]:
                by_sender.setdefault(sender, []).append(line)
            for sender, chunk in by_sender.items():
                connections[sender].sendall(b"\n".join(chunk) + b"\n")
        return time.monotonic() - start
    finally:
        for conn in connections:
            conn.close()


Sender = Callable[[int, float, int], float]  # (port, lines per second, repeats) -> seconds


def shape_senders(lines: list[tuple[int, bytes]], senders: int) -> dict[str, Sender]:
    """For each traffic shape: a function sending all its lines to a port at a rate."""
    one_line = datagrams(lines, 1)
    batched = datagrams(lines, DATAGRAM_BYTES)
    return {
        "udp-one-line": lambda port, rate, repeats: send_udp(port, one_line, senders, rate, repeats),
        "udp-batched": lambda port, rate, repeats: send_udp(port, batched, senders, rate, repeats),
        "tcp": lambda port, rate, repeats: send_tcp(port, lines, senders, rate, repeats),
    }


def paced_run(
    target: Target, send: Sender, total: int, rate: float, repeats: int = 1, passes: int = 1
) -> list[dict]:
    """One fresh process: ``passes`` times, the ``total`` lines ``repeats`` times over at ``rate``; per pass,
    its CPU seconds, the share of lines it counted, the rate achieved."""
    process, http, statsd = target.start(CHART_MAPPING)
    out: list[dict] = []
    try:
        counted = 0.0
        for _ in range(passes):
            before = wait_idle(process.pid)
            seconds = send(statsd, rate, repeats)
            cpu = wait_idle(process.pid) - before
            received = scrape_value(http, "statsd_exporter_lines_total") - counted
            counted += received
            out.append({"cpu": cpu, "received": received / repeats, "achieved": total * repeats / seconds})
        return out
    finally:
        stop(process)


def lossless_rate(target: Target, send: Sender, total: int, start: float) -> dict:
    """The highest paced rate at which every line was counted: doubled from ``start`` until lines are lost,
    then bisected. ``at_least`` when the sender could not go faster without loss appearing."""
    good, bad, rate, achieved = 0.0, None, start, 0.0

    def trial(rate: float) -> dict:
        return paced_run(target, send, total, rate, math.ceil(rate * TRIAL_SECONDS / total))[0]

    while bad is None:
        run = trial(rate)
        if run["received"] < total:
            bad = rate
        else:
            good, achieved = rate, run["achieved"]
            if run["achieved"] < 0.8 * rate:  # the sender is the limit, not the bridge
                return {"lossless_lines_per_second": round(achieved), "at_least": True}
            rate *= 2
    for _ in range(RATE_STEPS):
        rate = (good + bad) / 2
        run = trial(rate)
        if run["received"] < total:
            bad = rate
        else:
            good, achieved = rate, run["achieved"]
    return {"lossless_lines_per_second": round(achieved), "at_least": False}


def series_lines(count: int, timer: bool = False, distinct: bool = True) -> list[bytes]:
    kind = "250|ms" if timer else "1|c"
    name = "bench_task_time" if timer else "bench_task_done"
    return [f"{name}:{kind}|#task_id:t{i if distinct else 0}".encode() for i in range(count)]


def send_all_tcp(port: int, lines: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for index in range(0, len(lines), 2000):
            sock.sendall(b"\n".join(lines[index : index + 2000]) + b"\n")


def ingest(target: Target, mapping: Path, lines: list[bytes]) -> tuple[subprocess.Popen, int, float, float]:
    """A fresh process that has taken ``lines`` over TCP and gone idle: (process, HTTP port, CPU seconds it
    spent on them, its peak RSS in MiB before them)."""
    process, http, statsd = target.start(mapping)
    before, rss_before = wait_idle(process.pid), peak_rss_mib(process.pid)
    send_all_tcp(statsd, lines)
    # Idle first, then one scrape to check: a scrape costs by the series held, and polling /metrics while the
    # series grow would charge the new-series figure with scrapes (measured on their own below).
    spent = wait_idle(process.pid) - before
    deadline = time.monotonic() + 600
    while scrape_value(http, "statsd_exporter_lines_total") < len(lines):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{target.name} did not take {len(lines)} lines within 600 s")
        spent = wait_idle(process.pid) - before
    return process, http, spent, rss_before


def new_series_cost(target: Target, mapping: Path, count: int) -> dict:
    """CPU per new series: ``count`` lines that each make one, less ``count`` lines on a single series."""
    spent = {}
    for distinct in (True, False):
        process, _, cpu, _ = ingest(target, mapping, series_lines(count, distinct=distinct))
        stop(process)
        spent[distinct] = cpu
    return {"new_series_cpu_microseconds": round((spent[True] - spent[False]) / count * 1e6, 1)}


def scrape_cost(target: Target, mapping: Path, count: int) -> dict:
    process, http, _, _ = ingest(target, mapping, series_lines(count))
    try:
        before = wait_idle(process.pid)
        started = time.monotonic()
        body = urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=300).read()
        wall = time.monotonic() - started
        return {
            "scrape_seconds": round(wall, 3),
            "scrape_cpu_seconds": round(wait_idle(process.pid) - before, 3),
            "scrape_bytes": len(body),
        }
    finally:
        stop(process)


def memory_cost(target: Target, mapping: Path, count: int) -> dict:
    """Peak RSS growth per 100k series after one scrape (a scrape's buffers count), by kind."""
    out = {}
    for kind, timer in (("counter", False), ("histogram", True)):
        process, http, _, baseline = ingest(target, mapping, series_lines(count, timer=timer))
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=300).read()
            growth = peak_rss_mib(process.pid) - baseline
            out[f"rss_mib_per_100k_{kind}_series"] = round(growth * 100_000 / count, 1)
        finally:
            stop(process)
    return out


SERIES_FIGURES: dict[str, Callable[[Target, Path, int], dict]] = {
    "new-series": new_series_cost,
    "scrape": scrape_cost,
    "memory": memory_cost,
}
FIGURES = ("shapes", *SERIES_FIGURES)


def measure(args: argparse.Namespace, found: list[Target]) -> dict[str, dict]:
    lines = interleaved(airflow_streams(args.lines), args.senders)
    results: dict[str, dict] = {target.name: {} for target in found}
    with tempfile.TemporaryDirectory() as folder:
        histograms = Path(folder) / "histograms.yml"
        histograms.write_text(HISTOGRAM_MAPPING)
        if "shapes" in args.figures:
            measure_shapes(args, found, lines, results)
        for figure, cost in SERIES_FIGURES.items():
            if figure not in args.figures:
                continue
            # alternating, and the median of --repeat runs: a slow spell of the machine hits every target alike
            runs: dict[str, list[dict]] = {target.name: [] for target in found}
            for _ in range(args.repeat):
                for target in found:
                    runs[target.name].append(cost(target, histograms, args.series))
            for name, measured in runs.items():
                results[name].update(
                    {key: statistics.median(run[key] for run in measured) for key in measured[0]}
                )
    return {name: summarise(result, len(lines)) for name, result in results.items()}


def measure_shapes(
    args: argparse.Namespace, found: list[Target], lines: list[tuple[int, bytes]], results: dict[str, dict]
) -> None:
    for shape, send in shape_senders(lines, args.senders).items():
        for _ in range(args.repeat):  # alternating: a slow spell of the machine hits every target alike
            for target in found:
                cold, steady = paced_run(target, send, len(lines), args.rate, passes=2)
                runs = results[target.name].setdefault(shape, {"runs": [], "steady_runs": []})
                runs["runs"].append(cold)
                runs["steady_runs"].append(steady)
        for target in found:
            results[target.name][shape].update(lossless_rate(target, send, len(lines), args.rate))


def summarise(result: dict, total: int) -> dict:
    out = {}
    for key, value in result.items():
        if isinstance(value, dict):
            for runs, figure in (("runs", ""), ("steady_runs", "_steady")):
                measured = value.pop(runs)
                per_million = [run["cpu"] / run["received"] * 1e6 for run in measured if run["received"]]
                value[f"cpu_seconds_per_million_lines{figure}_median"] = round(
                    statistics.median(per_million), 2
                )
                value[f"loss_ratio{figure}_max"] = round(
                    max(1 - run["received"] / total for run in measured), 5
                )
        out[key] = value
    return out


def ratios(airglow: dict, other: dict) -> dict:
    """The other target's figure over ``airglow``'s, per figure (above 1: ``airglow`` uses less, or is faster
    for rates: its rate over the other's)."""

    def ratio(mine: float, theirs: float, higher_is_better: bool) -> float | None:
        if not mine or not theirs:
            return None
        return round(mine / theirs if higher_is_better else theirs / mine, 2)

    out = {}
    for key, value in airglow.items():
        if isinstance(value, dict):
            out[key] = {
                **{
                    f"{figure}cpu_per_line_advantage": ratio(
                        value[f"cpu_seconds_per_million_lines{suffix}_median"],
                        other[key][f"cpu_seconds_per_million_lines{suffix}_median"],
                        False,
                    )
                    for figure, suffix in (("", ""), ("steady_", "_steady"))
                },
                "lossless_rate_advantage": ratio(
                    value["lossless_lines_per_second"], other[key]["lossless_lines_per_second"], True
                ),
            }
        elif key.startswith(("new_series", "scrape", "rss")):
            out[key + "_advantage"] = ratio(value, other[key], False)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=200_000, help="lines per traffic-shape run")
    parser.add_argument("--senders", type=int, default=50, help="sender sockets the lines are dealt to")
    parser.add_argument("--rate", type=float, default=20_000, help="lines per second for the CPU figures")
    parser.add_argument("--repeat", type=int, default=3, help="CPU runs per shape and target")
    parser.add_argument("--series", type=int, default=100_000, help="series for the series figures")
    parser.add_argument(
        "--root",
        action="append",
        type=Path,
        default=[],
        help="a checkout to measure (repeatable; default: this one)",
    )
    parser.add_argument(
        "--figures",
        type=lambda text: text.split(","),
        default=list(FIGURES),
        help=f"which figures, comma-separated (default: all of {','.join(FIGURES)})",
    )
    args = parser.parse_args()
    unknown = set(args.figures) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figures {sorted(unknown)}; known: {', '.join(FIGURES)}")
    found = targets([root.resolve() for root in args.root] or [ROOT])
    results = measure(args, found)
    airglows = [target.name for target in found if target.name != "statsd_exporter"]
    for name in airglows[1:]:
        results[f"advantage_of_{name}_over_{airglows[0]}"] = ratios(results[name], results[airglows[0]])
    if "statsd_exporter" in results:  # every checkout against it, each figure from the same run
        for name in airglows:
            results[f"advantage_of_{name}_over_statsd_exporter"] = ratios(
                results[name], results["statsd_exporter"]
            )
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
