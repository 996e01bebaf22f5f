"""Instructions per line of the whole bridge process over TCP: a figure that does not move on a noisy machine.

Starts the bridge of the checkout at ``--root`` (built-in preset, default flags, loopback) under
``valgrind --tool=callgrind``, zeroes the counters once it is ready and idle, sends the throughput
benchmark's Airflow traffic over TCP (bench/bridge_throughput.py's streams, a connection per sender), and
dumps the counters once the bridge is idle again. Every thread is counted (listener, pipeline, expiry), so
this is the per-line work of the real process, unlike CPU seconds, which a shared machine makes vary by
±20% between runs. Compare checkouts in one run (each takes minutes under valgrind):

    python bench/bridge_instructions.py --root /tmp/before --root . [--lines 100000]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bridge_throughput import airflow_streams, checkout, cpu_seconds, free_port, send_tcp  # noqa: E402
from pipeline_instructions import print_ratios, under_callgrind  # noqa: E402

# The bridge is idle when it used less than this share of a CPU over QUIET_SECONDS (valgrind itself polls).
IDLE_SHARE = 0.1
QUIET_SECONDS = 3.0


def wait_quiet(pid: int, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    window: list[float] = [cpu_seconds(pid)]
    while time.monotonic() < deadline:
        time.sleep(1.0)
        window = [*window, cpu_seconds(pid)][-int(QUIET_SECONDS) - 1 :]
        if len(window) > QUIET_SECONDS and window[-1] - window[0] < IDLE_SHARE * QUIET_SECONDS:
            return
    raise TimeoutError(f"bridge {pid} never went idle")


def instructions(root: Path, streams: list[list[bytes]]) -> int:
    """Instructions the bridge process ran while it took ``streams`` over TCP."""
    package, env = checkout(root)
    http, statsd = free_port(), free_port()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        bridge = subprocess.Popen(
            [
                *under_callgrind(out),
                "-m",
                package,
                f"--web.listen-address=127.0.0.1:{http}",
                "--statsd.listen-udp=",
                f"--statsd.listen-tcp=127.0.0.1:{statsd}",
            ],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(http)
            wait_quiet(bridge.pid)
            subprocess.run(["callgrind_control", "--zero", str(bridge.pid)], check=True, capture_output=True)
            send_tcp(statsd, streams)
            wait_quiet(bridge.pid)
            subprocess.run(
                ["callgrind_control", "--dump=measured", str(bridge.pid)], check=True, capture_output=True
            )
        finally:
            bridge.terminate()
            bridge.wait(timeout=300)
        return sum(_measured(dump) for dump in Path(folder).glob("callgrind.out*"))


def wait_ready(port: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=10):
                return
        except OSError:
            time.sleep(1.0)
    raise TimeoutError("bridge not ready")


def _measured(dump: Path) -> int:
    """The instruction total of a dump made by ``--dump=measured`` (one per thread), else 0."""
    text = dump.read_text(errors="replace")
    if "\ndesc: Trigger: dump measured\n" not in text:
        return 0
    match = re.search(r"^summary: (\d+)", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", action="append", type=Path, required=True, help="a checkout (repeatable)")
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    streams = airflow_streams(args.lines)
    figures = {}
    for root in args.root:
        figures[root] = instructions(root.resolve(), streams) / args.lines
        print(f"{root}: {figures[root]:,.0f} instructions per line (whole bridge process, TCP)", flush=True)
    print_ratios(figures)


if __name__ == "__main__":
    main()
