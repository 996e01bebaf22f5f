"""Instructions per line of the bridge's pipeline: a figure that does not move on a noisy machine.

Runs the throughput benchmark's Airflow traffic (bench/bridge_throughput.py's per-sender streams: the
real capture plus DogStatsD twins) through the pipeline of the checkout at ``--root`` with the built-in
preset and default flags, in batches of ``--batch`` lines per sender (1000: a TCP read; 1: one line per UDP datagram, as
Airflow sends), under ``valgrind --tool=callgrind`` at two sizes. The difference divided by the extra
lines is the instructions per line, start-up cancelled out; generating the traffic is counted in it, the same
for every checkout, so ratios understate the pipelines' own difference a little. Compare two
checkouts (e.g. a ``git worktree`` of an older commit) in one run:

    python bench/pipeline_instructions.py --root /tmp/before --root . [--lines 100000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bridge_throughput import airflow_streams, checkout  # noqa: E402


def run_pipeline(lines: int, batch: int, package: str) -> None:
    """In the checkout on sys.path (its bridge importable as ``package``): the preset pipeline over the
    benchmark's streams."""
    app = importlib.import_module(f"{package}.app")
    settings = importlib.import_module(f"{package}.settings")
    streams = airflow_streams(lines)
    # The pipeline as the bridge builds it from its default flags (the preset, limits, identity); nothing binds.
    pipeline = app.Bridge(settings.settings_from_args(settings.build_parser().parse_args([]))).pipeline
    per_sender = "sender" in inspect.signature(pipeline.process).parameters  # older checkouts pair nothing
    for number, stream in enumerate(streams):
        sender = ("10.0.0.1", 1000 + number)
        for start in range(0, len(stream), batch):
            chunk = stream[start : start + batch]
            if per_sender:
                pipeline.process(chunk, None, sender)
            else:
                pipeline.process(chunk, None)


def under_callgrind(out: Path) -> list[str]:
    """The start of a command that runs this Python under callgrind, writing its counts to ``out``."""
    return ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", os.path.realpath(sys.executable)]


def instructions(root: Path, lines: int, batch: int) -> int:
    package, env = checkout(root)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        result = subprocess.run(
            [
                *under_callgrind(out),
                __file__,
                "--inner",
                str(lines),
                str(batch),
                package,
            ],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return int(re.search(r"Collected : (\d+)", result.stderr).group(1))


def main() -> None:
    if sys.argv[1:2] == ["--inner"]:
        run_pipeline(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", action="append", type=Path, required=True, help="a checkout (repeatable)")
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    figures = {}
    for root in args.root:
        small = instructions(root.resolve(), args.lines, args.batch)
        large = instructions(root.resolve(), 2 * args.lines, args.batch)
        figures[root] = (large - small) / args.lines
        print(f"{root}: {figures[root]:,.0f} instructions per line (batches of {args.batch})", flush=True)
    print_ratios(figures)


def print_ratios(figures: dict[Path, float]) -> None:
    """Each checkout's figure as a ratio to the first one's."""
    first_root, first = next(iter(figures.items()))
    for root, figure in figures.items():
        print(f"{root}: {figure / first:.3f} x {first_root}")


if __name__ == "__main__":
    main()
