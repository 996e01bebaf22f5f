"""Throughput of the bridge: lines per CPU-second of the bridge process, UDP loss, peak RSS.

Streams Airflow-like statsd lines (the real Airflow 3 capture, plus the same events over many DAGs and tasks,
each as Airflow sends it: legacy and tagged twins) over TCP and then paced UDP into a running bridge that uses the official Airflow chart's
21-rule mapping (or the built-in preset with --preset). CPU is read from /proc for the bridge process
only, so the figure holds on a busy machine; a plain split/look-up/add loop is timed in the same
run to give a machine-independent ratio.

    python bench/bridge_throughput.py [--lines 1000000] [--udp-rate 50000] [--repeat 3] [--preset]
                                      [--workload fleet --deployments 20]

``--root`` (repeatable) measures several checkouts in one run, alternating, and prints each figure's ratio
to the first: ``--root /tmp/before --root .`` compares a change with a ``git worktree`` of an older commit.

``--workload fleet`` replays the fleet simulator's traffic instead (``airglow-simulate``'s model, formatted
by the real ``statsd`` client as the simulator sends it: deployment prefixes, InfluxDB tags, legacy twins).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# One event each, as Airflow 3.3.2 sends it with DogStatsD and its defaults (legacy_names_on): the legacy name
# (ids in the name), then the tagged name, back to back. Airflow 2's dag_processing.last_runtime has one form.
EVENTS = [
    (
        "airflow.ti.finish.dag_{d}.task_{t}.{state}:1|c",
        "airflow.ti.finish:1|c|#dag_id:dag_{d},task_id:task_{t},state:{state}",
    ),
    (
        "airflow.dag.dag_{d}.task_{t}.duration:{ms}|ms",
        "airflow.task.duration:{ms}|ms|#dag_id:dag_{d},task_id:task_{t}",
    ),
    ("airflow.ti.start.dag_{d}.task_{t}:1|c", "airflow.ti.start:1|c|#dag_id:dag_{d},task_id:task_{t}"),
    (
        "airflow.dagrun.duration.success.dag_{d}:{ms}|ms",
        "airflow.dagrun.duration.success:{ms}|ms|#dag_id:dag_{d}",
    ),
    ("airflow.pool.open_slots.pool_{p}:{n}|g", "airflow.pool.open_slots:{n}|g|#pool_name:pool_{p}"),
    (
        "airflow.executor.running_tasks.LocalExecutor:{n}|g",
        "airflow.executor.running_tasks:{n}|g|#executor_class_name:LocalExecutor",
    ),
    (
        "airflow.operator_successes_BashOperator:1|c",
        "airflow.operator_successes:1|c|#dag_id:dag_{d},task_id:task_{t},operator_name:BashOperator",
    ),
    ("airflow.dag_processing.last_runtime.dag_{d}:{ms}|ms",),
]


def airflow_streams(count: int, seed: int = 7) -> list[list[bytes]]:
    """Lines per sender, ``count`` in all: the real capture (an Airflow with plain statsd, in its order), then
    the same events over 200 DAGs x 20 tasks as an Airflow with DogStatsD sends them, the events shuffled (each
    event's lines stay together, as Airflow sends them). Each Airflow process has its own socket."""
    capture = [
        line.encode() for line in (DATA / "airflow_statsd_capture.txt").read_text().splitlines() if line
    ]
    rng = random.Random(seed)
    events: list[list[bytes]] = []
    total = len(capture)
    while total < count:
        forms = rng.choice(EVENTS)
        ids = {
            "d": rng.randrange(200),
            "t": rng.randrange(20),
            "p": rng.randrange(5),
            "state": rng.choice(["success", "failed"]),
            "ms": round(rng.uniform(1, 90000), 3),
            "n": rng.randrange(64),
        }
        events.append([form.format(**ids).encode() for form in forms])
        total += len(forms)
    rng.shuffle(events)
    return truncate([capture, [line for event in events for line in event]], count)


def truncate(streams: list[list[bytes]], count: int) -> list[list[bytes]]:
    """The first ``count`` lines of the streams, in order, stream by stream."""
    out = []
    for stream in streams:
        if count <= 0:
            break
        out.append(stream[:count])
        count -= len(out[-1])
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scrape_value(port: int, name: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def wait_idle(pid: int, quiet: float = 1.0, timeout: float = 600) -> float:
    """CPU seconds once the bridge has stopped using CPU for ``quiet`` seconds.

    Waiting on the process's CPU rather than polling /metrics keeps scrapes out of the figure;
    the scrape cost is measured on its own afterwards.
    """
    deadline = time.monotonic() + timeout
    last, since = cpu_seconds(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now > last + 0.01:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
    return cpu_seconds(pid)


def plain_loop_rate(lines: list[bytes]) -> float:
    """The reference: split, one dict look-up, one add per line, in plain CPython."""
    table: dict[bytes, list[float]] = {}
    start = time.process_time()
    for line in lines:
        name, _, rest = line.partition(b":")
        value, _, _ = rest.partition(b"|")
        cell = table.get(name)
        if cell is None:
            cell = table[name] = [0.0]
        try:
            cell[0] += float(value)
        except ValueError:
            pass
    return len(lines) / (time.process_time() - start)


def send_tcp(port: int, streams: list[list[bytes]]) -> None:
    """Each stream on its own connection, one after the other."""
    for lines in streams:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            chunk = 2000
            for index in range(0, len(lines), chunk):
                sock.sendall(b"\n".join(lines[index : index + chunk]) + b"\n")


def send_udp_paced(
    port: int, streams: list[list[bytes]], rate: float, datagram_bytes: int = 1400
) -> tuple[int, float]:
    """Datagrams of at most ``datagram_bytes`` (1: one line each, as Airflow sends) at ``rate`` lines per second,
    each stream from its own socket, one after the other; returns (lines sent, seconds)."""
    packets = []
    for sender, lines in enumerate(streams):
        current: list[bytes] = []
        size = 0
        for line in lines:
            if current and size + len(line) + 1 > datagram_bytes:
                packets.append((sender, b"\n".join(current)))
                current, size = [], 0
            current.append(line)
            size += len(line) + 1
        if current:
            packets.append((sender, b"\n".join(current)))
    total = sum(len(lines) for lines in streams)
    per_packet = total / len(packets)
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in streams]
    try:
        start = time.monotonic()
        for index, (sender, packet) in enumerate(packets):
            due = start + index * per_packet / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sockets[sender].sendto(packet, ("127.0.0.1", port))
        return total, time.monotonic() - start
    finally:
        for sock in sockets:
            sock.close()


def checkout(root: Path) -> tuple[str, dict[str, str]]:
    """The bridge package of the checkout at ``root`` and the environment that imports it from there.

    Checkouts since the ``airglow`` package are imported through a folder of links (``airglow/bridge`` ->
    ``root/bridge``, ...) put first on the path, ahead of any installed Airglow; older ones as ``bridge``."""
    if "from airglow." not in (root / "bridge" / "cli.py").read_text():
        return "bridge", {**os.environ, "PYTHONPATH": str(root)}
    links = Path(tempfile.mkdtemp(prefix="airglow-checkout-"))
    atexit.register(shutil.rmtree, links, ignore_errors=True)
    (links / "airglow").mkdir()
    for part in ("bridge", "dashboards", "log_handlers"):
        (links / "airglow" / part).symlink_to(root / part)
    return "airglow.bridge", {**os.environ, "PYTHONPATH": str(links)}


def start_bridge(preset: bool, root: Path = ROOT) -> tuple[subprocess.Popen, int, int]:
    http, statsd = free_port(), free_port()
    mapping = [] if preset else [f"--statsd.mapping-config={DATA / 'airflow_chart_statsd_mappings.yml'}"]
    package, env = checkout(root)
    bridge = subprocess.Popen(
        [
            sys.executable,
            "-m",
            package,
            f"--web.listen-address=127.0.0.1:{http}",
            f"--statsd.listen-udp=127.0.0.1:{statsd}",
            f"--statsd.listen-tcp=127.0.0.1:{statsd}",
            "--statsd.read-buffer=8388608",
            *mapping,
        ],
        cwd=root,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{http}/-/ready", timeout=1).status == 200:
                break
        except OSError:
            time.sleep(0.1)
    return bridge, http, statsd


def stop(bridge: subprocess.Popen) -> None:
    bridge.terminate()
    bridge.wait(timeout=15)


def measure_tcp(preset: bool, streams: list[list[bytes]], root: Path) -> dict:
    """One fresh bridge: TCP lines per CPU-second, then one scrape's cost, then peak RSS."""
    bridge, http, statsd = start_bridge(preset, root)
    try:
        cpu_before = wait_idle(bridge.pid)
        send_tcp(statsd, streams)
        tcp_cpu = wait_idle(bridge.pid) - cpu_before
        received = scrape_value(http, "statsd_exporter_lines_total")
        scrape_before = wait_idle(bridge.pid)
        body = urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics").read()
        scrape_cpu = wait_idle(bridge.pid) - scrape_before
        return {
            "lines": received,
            "cpu": tcp_cpu,
            "scrape_cpu": scrape_cpu,
            "scrape_lines": sum(1 for line in body.splitlines() if not line.startswith(b"#")),
            "rss": peak_rss_mib(bridge.pid),
        }
    finally:
        stop(bridge)


def measure_udp(
    preset: bool, streams: list[list[bytes]], rate: float, datagram_bytes: int, root: Path
) -> dict:
    bridge, http, statsd = start_bridge(preset, root)
    try:
        cpu_before = wait_idle(bridge.pid)
        sent, wall = send_udp_paced(statsd, streams, rate, datagram_bytes)
        cpu = wait_idle(bridge.pid) - cpu_before
        received = scrape_value(http, "statsd_exporter_lines_total")
        return {"sent": sent, "received": received, "wall": wall, "cpu": cpu}
    finally:
        stop(bridge)


def fleet_lines(count: int, deployments: int) -> list[bytes]:
    """The simulator's lines as its statsd client writes them, caught on a local UDP socket."""
    sys.path.insert(0, str(ROOT))
    from airglow.dashboards.simulate.model import Fleet, FleetShape
    from airglow.dashboards.simulate.statsd_sender import StatsdSender

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.5)
    fleet = Fleet(FleetShape(deployments=deployments, dags=10, tasks=5, run_rate=0.3), time.time())
    sender = StatsdSender("127.0.0.1", receiver.getsockname()[1], [d.name for d in fleet.deployments])
    lines: list[bytes] = []
    now = time.time()
    while len(lines) < count:
        now += 1
        sender.send(fleet.step(now))
        try:
            while True:
                lines.extend(receiver.recv(65536).split(b"\n"))
                receiver.settimeout(0.001)
        except TimeoutError:
            receiver.settimeout(0.5)
    sender.close()
    receiver.close()
    return lines[:count]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--udp-lines", type=int, default=300_000)
    parser.add_argument("--udp-rate", type=float, default=50_000, help="UDP lines per second")
    parser.add_argument("--repeat", type=int, default=3, help="TCP runs, each on a fresh bridge")
    parser.add_argument("--preset", action="store_true", help="use the built-in Airflow preset")
    parser.add_argument(
        "--udp-datagram-bytes",
        type=int,
        default=1400,
        help="largest UDP datagram; 1 sends one line per datagram, as Airflow does",
    )
    parser.add_argument("--udp-repeat", type=int, default=1, help="UDP runs, each on a fresh bridge")
    parser.add_argument(
        "--root", action="append", type=Path, default=[], help="a checkout to measure (repeatable)"
    )
    parser.add_argument("--workload", choices=("airflow", "fleet"), default="airflow")
    parser.add_argument(
        "--deployments", type=int, default=20, help="simulated deployments (--workload fleet)"
    )
    args = parser.parse_args()

    if args.workload == "fleet":
        streams = [fleet_lines(args.lines, args.deployments)]  # the simulator has one client
    else:
        streams = airflow_streams(args.lines)
    lines = [line for stream in streams for line in stream]
    roots = [root.resolve() for root in args.root] or [ROOT]
    runs: dict[Path, list[dict]] = {root: [] for root in roots}
    udp: dict[Path, list[dict]] = {root: [] for root in roots}
    for _ in range(args.repeat):  # alternating: a slow spell of the machine hits every checkout alike
        for root in roots:
            run = measure_tcp(args.preset, streams, root)
            run["plain"] = plain_loop_rate(lines)  # timed next to each run: the ratio cancels machine noise
            runs[root].append(run)
    for _ in range(args.udp_repeat):
        for root in roots:
            udp_streams = truncate(streams, args.udp_lines)
            udp[root].append(
                measure_udp(args.preset, udp_streams, args.udp_rate, args.udp_datagram_bytes, root)
            )
    results = {str(root): summary(args, runs[root], udp[root]) for root in roots}
    if len(roots) > 1:
        first = results[str(roots[0])]
        for result in list(results.values())[1:]:
            result["ratio_to_first_root"] = {
                key: round(value / first[key], 3)
                for key, value in result.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool) and first.get(key)
            }
    print(json.dumps(results if len(roots) > 1 else results[str(ROOT)], indent=2))
    return 0


def summary(args: argparse.Namespace, runs: list[dict], udp: list[dict]) -> dict:
    """Medians over the runs made (``--repeat 0`` or ``--udp-repeat 0`` leaves that transport out)."""
    result: dict = {
        "mapping": "built-in preset" if args.preset else "airflow chart (21 rules)",
        "workload": args.workload,
    }
    if runs:
        result.update(tcp_summary(runs))
    if udp:
        result.update(udp_summary(udp))
    return result


def tcp_summary(runs: list[dict]) -> dict:
    rates = sorted(run["lines"] / run["cpu"] for run in runs)
    ratios = sorted(run["lines"] / run["cpu"] / run["plain"] for run in runs)
    return {
        "tcp_lines_per_run": int(runs[0]["lines"]),
        "tcp_lines_per_cpu_second_median": round(statistics.median(rates)),
        "tcp_lines_per_cpu_second_min": round(rates[0]),
        "cpu_seconds_per_million_lines_median": round(1e6 / statistics.median(rates), 3),
        "cpu_seconds_per_million_lines_each": [round(1e6 / rate, 2) for rate in rates],
        "ratio_to_plain_loop_median": round(statistics.median(ratios), 3),
        "plain_loop_lines_per_cpu_second_median": round(statistics.median(run["plain"] for run in runs)),
        "peak_rss_mib_max": round(max(run["rss"] for run in runs), 1),
        "scrape_cpu_seconds_median": round(statistics.median(run["scrape_cpu"] for run in runs), 3),
        "scrape_sample_lines": runs[0]["scrape_lines"],
    }


def udp_summary(udp: list[dict]) -> dict:
    rates = [u["received"] / u["cpu"] for u in udp if u["cpu"]]
    return {
        "udp_rate_lines_per_second": round(statistics.median(u["sent"] / u["wall"] for u in udp)),
        "udp_loss_ratio_max": round(max(max(1 - u["received"] / u["sent"], 0.0) for u in udp), 5),
        "udp_lines_per_cpu_second_median": round(statistics.median(rates)) if rates else None,
        "udp_cpu_seconds_per_million_lines_median": round(1e6 / statistics.median(rates), 3)
        if rates
        else None,
    }


if __name__ == "__main__":
    raise SystemExit(main())
