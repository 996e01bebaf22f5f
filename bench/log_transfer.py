"""Upload and read of a large task log against moto S3: Airglow's chunked shipper and ordered reader
compared, in one run, with a raw s3fs put/get and a boto3 put/get of the same bytes; and the reader's peak
RSS for two log sizes, which must not grow with the log.

    python bench/log_transfer.py [--megabytes 200] [--repeat 3]

Wall seconds are per operation (median of the repeats); CPU seconds are this process's (the client), so
moto's own work is not counted. Ratios Airglow / raw hold across machines better than seconds do.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.storage_servers import start_moto  # noqa: E402

from airglow.log_handlers.objectstore.reader import RemoteLogReader  # noqa: E402
from airglow.log_handlers.objectstore.settings import ObjectStoreLogSettings  # noqa: E402
from airglow.log_handlers.objectstore.store import ObjectStore  # noqa: E402
from airglow.log_handlers.objectstore.task_logs import ObjectStoreTaskLogs  # noqa: E402

RELATIVE = "dag_id=bench/run_id=r/task_id=t/attempt=1.log"
READ_RSS_CHILD = """
import json, re, sys
sys.path.insert(0, {root!r})
from airglow.log_handlers.objectstore.reader import RemoteLogReader
from airglow.log_handlers.objectstore.store import ObjectStore
store = ObjectStore({url!r}, json.loads({options!r}))
def hwm():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
before = hwm()
lines = size = 0
log_file = RemoteLogReader(store).files({relative!r})[0]
for line in RemoteLogReader(store).lines(log_file):
    lines += 1
    size += len(line) + 1
print(json.dumps({{"lines": lines, "bytes": size, "rss_before_kib": before,
                  "rss_peak_kib": hwm()}}))
"""


def write_log(path: Path, megabytes: int) -> int:
    """JSON lines like Airflow 3's task logs, ``megabytes`` MiB of them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = megabytes << 20
    written = 0
    with open(path, "w") as handle:
        number = 0
        while written < target:
            line = (
                json.dumps(
                    {
                        "timestamp": f"2026-11-21T10:{number // 60000 % 60:02d}:{number // 1000 % 60:02d}.{number % 1000:03d}000Z",
                        "level": "info",
                        "event": f"processed batch {number} of the nightly load",
                        "logger": "airflow.task",
                    }
                )
                + "\n"
            )
            handle.write(line)
            written += len(line)
            number += 1
    return written


def timed(action: Callable[[], object]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def median_of(repeat: int, action: Callable[[int], object]) -> tuple[float, float]:
    runs = [timed(lambda n=n: action(n)) for n in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def reader_rss(url: str, options: dict, relative: str) -> dict:
    code = READ_RSS_CHILD.format(root=str(ROOT), url=url, options=json.dumps(options), relative=relative)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="airglow-log-bench-"))
    server = start_moto(work)
    try:
        import boto3
        import s3fs

        options = server.storage_options
        base = work / "local"
        size = write_log(base / RELATIVE, args.megabytes)
        data = (base / RELATIVE).read_bytes()
        fs = s3fs.S3FileSystem(**options)
        client = boto3.client(
            "s3",
            endpoint_url=options["endpoint_url"],
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

        def airglow_upload(n: int) -> None:
            settings = ObjectStoreLogSettings.build(
                f"s3://airglow-logs/airglow-{n}", base, storage_options=options
            )
            assert ObjectStoreTaskLogs(settings).finish(base / RELATIVE)

        def airglow_read(n: int) -> None:
            reader = RemoteLogReader(ObjectStore(f"s3://airglow-logs/airglow-{n}", options))
            total = sum(len(line) + 1 for line in reader.lines(reader.files(RELATIVE)[0]))
            assert total == size, (total, size)

        def s3fs_get(n: int) -> None:
            assert len(fs.cat_file(f"airglow-logs/raw-{n}.log")) == size

        def boto3_get(n: int) -> None:
            body = client.get_object(Bucket="airglow-logs", Key=f"boto-{n}.log")["Body"]
            for _ in body.iter_chunks(1 << 20):
                pass

        results = {
            "airglow upload": median_of(args.repeat, airglow_upload),
            "s3fs put": median_of(args.repeat, lambda n: fs.pipe_file(f"airglow-logs/raw-{n}.log", data)),
            "boto3 put": median_of(
                args.repeat,
                lambda n: client.put_object(Bucket="airglow-logs", Key=f"boto-{n}.log", Body=data),
            ),
            "airglow read (lines)": median_of(args.repeat, airglow_read),
            "s3fs cat (bytes)": median_of(args.repeat, s3fs_get),
            "boto3 get (bytes)": median_of(args.repeat, boto3_get),
        }
        line_count = data.count(b"\n")
        print(
            f"log: {size / (1 << 20):.0f} MiB, {line_count:,} lines; median of {args.repeat}; client process only"
        )
        print(f"{'operation':24} {'wall s':>8} {'CPU s':>8} {'MiB/s':>8}")
        for name, (wall, cpu) in results.items():
            print(f"{name:24} {wall:8.2f} {cpu:8.2f} {size / (1 << 20) / wall:8.1f}")
        print(
            f"ratio airglow upload / s3fs put wall: {results['airglow upload'][0] / results['s3fs put'][0]:.2f}"
        )
        print(
            f"ratio airglow read / s3fs cat wall:   {results['airglow read (lines)'][0] / results['s3fs cat (bytes)'][0]:.2f}"
        )

        small = base / "small" / RELATIVE
        write_log(small, max(1, args.megabytes // 10))
        settings = ObjectStoreLogSettings.build(
            "s3://airglow-logs/small", base / "small", storage_options=options
        )
        assert ObjectStoreTaskLogs(settings).finish(small)
        for label, url in (("small", "s3://airglow-logs/small"), ("large", "s3://airglow-logs/airglow-0")):
            rss = reader_rss(url, options, RELATIVE)
            print(
                f"reader peak RSS, {label} log ({rss['bytes'] / (1 << 20):.0f} MiB, {rss['lines']:,} lines): "
                f"{rss['rss_peak_kib'] / 1024:.0f} MiB (at start {rss['rss_before_kib'] / 1024:.0f} MiB)"
            )
        print(
            f"this process peak RSS (holds the log in memory for the raw puts): "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
