"""CPU of the UDP receive path alone: Airflow's one-line datagrams read by the bridge's UDP listener, whose
lines go to a counter instead of the pipeline.

The listener of each checkout at ``--root`` runs in a fresh process; 50 sender sockets send it ``--lines``
Airflow lines, one per datagram, paced at ``--rate``; the process's user and system CPU per datagram is
printed, as the median of ``--repeat`` alternating runs, with each checkout's ratio to the first:

    python bench/udp_receive.py --root /tmp/before --root . [--lines 200000] [--rate 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import socket
import statistics
import subprocess
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bridge_scale import datagrams, interleaved, send_udp  # noqa: E402
from bridge_throughput import ROOT, airflow_streams, checkout, free_port  # noqa: E402

SENDERS = 50
DEADLINE_SECONDS = 300.0


def serve(package: str, port: int, expected: int) -> dict:
    """In the checkout on sys.path: a UDP listener on ``port`` counting lines until ``expected`` came (or the
    deadline passed); its CPU from the listener's start."""
    listeners = importlib.import_module(f"{package}.listeners")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listeners.size_receive_buffer(sock, 8 << 20, "the benchmark")
    sock.bind(("127.0.0.1", port))
    counted, done = [0], threading.Event()

    def count(lines: list[bytes], sender) -> None:
        counted[0] += len(lines)
        if counted[0] >= expected:
            done.set()

    listener = listeners.UDPListener(sock, count)
    before = resource.getrusage(resource.RUSAGE_SELF)
    listener.start()
    print("ready", flush=True)
    done.wait(DEADLINE_SECONDS)
    after = resource.getrusage(resource.RUSAGE_SELF)
    listener.close()
    return {
        "lines": counted[0],
        "user": after.ru_utime - before.ru_utime,
        "system": after.ru_stime - before.ru_stime,
    }


def run(root: Path, packets: list[tuple[int, bytes, int]], rate: float) -> dict:
    """One fresh listener process of the checkout at ``root``: CPU-µs per datagram, user and system."""
    package, env = checkout(root)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", package, str(port), str(len(packets))],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    if server.stdout.readline().strip() != "ready":
        server.kill()
        raise RuntimeError(f"the listener of {root} did not start")
    send_udp(port, packets, SENDERS, rate, 1)
    result = json.loads(server.stdout.read())
    server.wait()
    if result["lines"] < len(packets):
        raise RuntimeError(f"{root}: {len(packets) - result['lines']} of {len(packets)} datagrams were lost")
    return {key: result[key] / len(packets) * 1e6 for key in ("user", "system")}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=200_000, help="one-line datagrams per run")
    parser.add_argument("--rate", type=float, default=20_000, help="datagrams per second")
    parser.add_argument("--repeat", type=int, default=3, help="runs per checkout, alternating")
    parser.add_argument("--root", action="append", type=Path, default=[], help="a checkout (repeatable)")
    parser.add_argument("--serve", nargs=3, metavar=("PACKAGE", "PORT", "LINES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        package, port, expected = args.serve
        print(json.dumps(serve(package, int(port), int(expected))))
        return 0
    roots = [root.resolve() for root in args.root] or [ROOT]
    packets = datagrams(interleaved(airflow_streams(args.lines), SENDERS), 1)
    runs: dict[Path, list[dict]] = {root: [] for root in roots}
    for _ in range(args.repeat):
        for root in roots:
            runs[root].append(run(root, packets, args.rate))
    results = {}
    for root, measured in runs.items():
        user = statistics.median(run["user"] for run in measured)
        system = statistics.median(run["system"] for run in measured)
        results[str(root)] = {
            "user_cpu_us_per_datagram": round(user, 2),
            "system_cpu_us_per_datagram": round(system, 2),
            "cpu_us_per_datagram": round(
                statistics.median(run["user"] + run["system"] for run in measured), 2
            ),
        }
    first = results[str(roots[0])]["cpu_us_per_datagram"]
    for figures in results.values():
        figures["advantage_over_first"] = round(first / figures["cpu_us_per_datagram"], 2)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
