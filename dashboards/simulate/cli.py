"""``airglow-simulate``: a fleet of pod-per-task Airflow deployments sending statsd to a bridge, and the
kube-state-metrics / cAdvisor / PgBouncer expositions of the same pods for Prometheus to scrape."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections.abc import Callable

from airglow.bridge.commandline import CommandParser, ExitCode, fail
from airglow.dashboards.simulate.expositions import EXPOSITIONS
from airglow.dashboards.simulate.model import Fleet, FleetShape
from airglow.dashboards.simulate.server import serve
from airglow.dashboards.simulate.statsd_sender import MisbehavingSender, StatsdSender


def address(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a port up to 65535, got {text!r}")
    return host or "127.0.0.1", int(port)


def positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = CommandParser(prog="airglow-simulate", description=__doc__)
    p.add_argument("--statsd", type=address, default=("127.0.0.1", 9125), help="bridge statsd UDP HOST:PORT")
    p.add_argument(
        "--listen",
        type=address,
        default=("127.0.0.1", 9300),
        help="HOST:PORT for /metrics/{kube-state-metrics,cadvisor,pgbouncer} (default 127.0.0.1:9300)",
    )
    p.add_argument("--deployments", type=positive(int), default=FleetShape.deployments)
    p.add_argument("--dags", type=positive(int), default=FleetShape.dags, help="DAGs per deployment")
    p.add_argument(
        "--tasks", type=positive(int), default=FleetShape.tasks, help="tasks per DAG (one pod each)"
    )
    p.add_argument(
        "--run-rate", type=positive(float), default=FleetShape.run_rate, help="new runs per DAG per tick"
    )
    p.add_argument("--tick", type=positive(float), default=1.0, help="seconds between ticks")
    p.add_argument(
        "--duration", type=float, default=0.0, help="stop after this many seconds (0: run until killed)"
    )
    p.add_argument(
        "--runaway-per-tick",
        type=int,
        default=0,
        help="new ids per tick on an exploding label, to show the bridge's series limits",
    )
    p.add_argument("--seed", type=int, default=FleetShape.seed)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    shape = FleetShape(args.deployments, args.dags, args.tasks, args.seed, args.run_rate)
    lock = threading.Lock()
    fleet = Fleet(shape, time.time())
    try:
        server = serve(fleet, lock, *args.listen)
    except OSError as error:
        where = f"{args.listen[0]}:{args.listen[1]}"
        return fail(
            "airglow-simulate", f"cannot listen on {where} (--listen): {error.strerror}", ExitCode.UNAVAILABLE
        )
    statsd_host, statsd_port = args.statsd
    sender = StatsdSender(statsd_host, statsd_port, [deployment.name for deployment in fleet.deployments])
    misbehaving = MisbehavingSender(statsd_host, statsd_port, args.runaway_per_tick)
    host, port = args.listen[0], server.server_port
    print(
        f"airglow-simulate: {len(fleet.deployments)} deployments -> statsd {args.statsd[0]}:{args.statsd[1]};"
        f" expositions on " + ", ".join(f"http://{host}:{port}/metrics/{name}" for name in EXPOSITIONS),
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run(fleet, lock, sender, misbehaving, args, stop)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        sender.close()
        misbehaving.close()
    print(f"airglow-simulate: sent {sender.lines} Airflow lines in {fleet.tick} ticks", flush=True)
    return 0


def run(
    fleet: Fleet,
    lock: threading.Lock,
    sender: StatsdSender,
    misbehaving: MisbehavingSender,
    args: argparse.Namespace,
    stop: threading.Event,
) -> None:
    deadline = time.monotonic() + args.duration if args.duration > 0 else float("inf")
    next_tick = time.monotonic()
    while not stop.is_set() and time.monotonic() < deadline:
        with lock:
            events = fleet.step(time.time())
        sender.send(events)
        misbehaving.send()
        next_tick += args.tick
        stop.wait(max(0.0, next_tick - time.monotonic()))
