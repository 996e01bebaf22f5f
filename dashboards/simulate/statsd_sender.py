"""Sends the model's events the way Airflow does: the real ``statsd`` client, the deployment's name as the
statsd prefix, InfluxDB-style tags in the name (``statsd_influxdb_enabled = True``) and the legacy twin of
every event that has one (Airflow 3 sends both; the bridge's preset keeps one)."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping

import statsd

from airglow.dashboards.simulate.model import Metric


def tagged(name: str, tags: Iterable[tuple[str, str]]) -> str:
    return ",".join([name, *(f"{key}={value}" for key, value in tags)])


class StatsdSender:
    """One statsd client per deployment (prefix = deployment); lines go out in packets of one tick."""

    def __init__(self, host: str, port: int, deployments: Iterable[str], packet_size: int = 1432) -> None:
        self.clients = {
            name: statsd.StatsClient(host, port, prefix=name, maxudpsize=packet_size) for name in deployments
        }
        self.lines = 0

    def send(self, events: Mapping[str, list[Metric]]) -> int:
        """Send one tick of events; returns the number of lines sent."""
        sent = 0
        for deployment, metrics in events.items():
            with self.clients[deployment].pipeline() as pipe:
                for metric in metrics:
                    names = [metric.name, metric.legacy] if metric.legacy else [metric.name]
                    for name in names:
                        emit(pipe, metric, tagged(name, metric.tags))
                        sent += 1
        self.lines += sent
        return sent

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def emit(pipe: statsd.client.base.PipelineBase, metric: Metric, name: str) -> None:
    if metric.kind == "incr":
        pipe.incr(name, int(metric.value))
    elif metric.kind == "gauge":
        pipe.gauge(name, metric.value)
    else:
        pipe.timing(name, metric.value)


class MisbehavingSender:
    """A client that is not Airflow and gets things wrong, as one always does somewhere in a fleet: malformed
    lines, one name sent as two types, and a tag with a new id on every line (an exploding label)."""

    def __init__(self, host: str, port: int, runaway_per_tick: int) -> None:
        self.address = (host, port)
        self.runaway_per_tick = runaway_per_tick
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.next_id = 0

    def send(self) -> int:
        lines = [
            b"custom.batch_jobs:1|c",
            b"custom.batch_jobs:5|g",
            b"custom.broken_line_without_value",
            b"x:1|zz",
        ]
        for _ in range(self.runaway_per_tick):
            self.next_id += 1
            lines.append(f"custom.requests,request_id=r{self.next_id:09d}:1|c".encode())
        for start in range(0, len(lines), 20):
            self.socket.sendto(b"\n".join(lines[start : start + 20]), self.address)
        return len(lines)

    def close(self) -> None:
        self.socket.close()
