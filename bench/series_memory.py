"""Memory per series: peak RSS of a running bridge per 100k new series, by kind and label size.

Starts the bridge (no series limits, so the figure is what series really cost), records its RSS,
streams N distinct series of one shape over TCP, scrapes /metrics once (a scrape's buffers count),
and reports the peak RSS growth per series beside the estimate the bridge charges for it
(``bridge.registry.series_cost``), so the estimate can be checked against the real thing.

    python bench/series_memory.py [--series 100000] [--shapes counter,histogram,long_labels]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airglow.bridge.mapping.config import DEFAULT_BUCKETS  # noqa: E402
from airglow.bridge.registry import NATIVE_BUCKET_COST, series_cost  # noqa: E402

# shape: (statsd lines for series i, Prometheus type, native buckets each series holds)
SHAPES = {
    "counter": ("task_done:1|c|#dag_id:dag_{i},task_id:extract", "counter", 0),
    "gauge": ("task_queued:3|g|#dag_id:dag_{i},task_id:extract", "gauge", 0),
    "histogram": ("task_time:250|ms|#dag_id:dag_{i},task_id:extract", "histogram", 0),
    # ten observations from 1 s to 10 s: ten native buckets at factor 1.1 (and six classic ones)
    "native_histogram": (
        "\n".join(f"task_wait:{s * 1000}|ms|#dag_id:dag_{{i}},task_id:extract" for s in range(1, 11)),
        "histogram",
        10,
    ),
    "long_labels": ("task_done:1|c|#dag_id:dag_{i}_" + "x" * 1000 + ",task_id:extract", "counter", 0),
}
MAPPING = """mappings:
- match: task_time
  name: task_time_seconds
  observer_type: histogram
- match: task_wait
  name: task_wait_seconds
  observer_type: histogram
  histogram_options:
    native_histogram_bucket_factor: 1.1
- match: task_done
  name: task_done_total
- match: task_queued
  name: task_queued
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=600) as response:
        return response.read()


def metric(body: bytes, name: str) -> float:
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def measure(shape: str, count: int, mapping: Path) -> dict:
    template, kind, native_buckets = SHAPES[shape]
    lines = count * (template.count("\n") + 1)
    http, statsd = free_port(), free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airglow.bridge",
            f"--web.listen-address=127.0.0.1:{http}",
            f"--statsd.listen-tcp=127.0.0.1:{statsd}",
            "--statsd.listen-udp=",
            f"--statsd.mapping-config={mapping}",
            "--airglow.series-limit=0",
            "--airglow.series-limit-per-metric=0",
            "--airglow.label-bytes-limit=0",
            "--airglow.memory-limit=64Gi",
        ],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{http}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                get(url + "/-/ready")
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        get(url + "/metrics")
        before = status(process.pid, "VmRSS")
        with socket.create_connection(("127.0.0.1", statsd)) as sock:
            for start in range(0, count, 5000):
                batch = "".join(template.format(i=i) + "\n" for i in range(start, min(start + 5000, count)))
                sock.sendall(batch.encode())
        while metric(get(url + "/metrics"), "statsd_exporter_lines_total") < lines:
            time.sleep(0.5)
        body = get(url + "/metrics")
        peak = status(process.pid, "VmHWM")
        estimate = metric(body, "airglow_bridge_series_memory_bytes")
    finally:
        process.terminate()
        process.wait(timeout=30)
    key = (("dag_id", "dag_0" + ("_" + "x" * 1000 if shape == "long_labels" else "")), ("task_id", "extract"))
    charged = series_cost(kind, key, len(DEFAULT_BUCKETS) if kind == "histogram" else 0)
    charged += NATIVE_BUCKET_COST * native_buckets
    return {
        "shape": shape,
        "series": count,
        "peak_rss_growth_mib_per_100k": (peak - before) / count * 100_000 / 2**20,
        "bytes_per_series": (peak - before) / count,
        "charged_bytes_per_series": charged,
        "charged_total_mib": estimate / 2**20,
        "scrape_bytes": len(body),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    args = parser.parse_args()
    mapping = Path("/tmp") / f"airglow-series-memory-{free_port()}.yml"
    mapping.write_text(MAPPING)
    try:
        for shape in args.shapes.split(","):
            result = measure(shape, args.series, mapping)
            print(
                f"{shape:16} {result['series']:>7} series: peak RSS +{result['peak_rss_growth_mib_per_100k']:.0f} MiB"
                f" per 100k ({result['bytes_per_series']:.0f} B/series), charged {result['charged_bytes_per_series']}"
                f" B/series, scrape {result['scrape_bytes'] / 2**20:.1f} MiB"
            )
    finally:
        mapping.unlink()


if __name__ == "__main__":
    main()
