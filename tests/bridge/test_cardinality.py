"""A label explosion: 1,000,000 distinct dag ids into a running bridge with the Airflow preset."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from support.common import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.server]

LIMIT = 20_000
LINES = 1_000_000
# Documented bound (README, "Bounded cardinality"): the bridge with LIMIT series stays under this.
RSS_BOUND_MIB = 200


def rss_peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_million_dag_ids_hold_at_the_series_limit(bridge_factory) -> None:
    bridge = bridge_factory(f"--airglow.series-limit={LIMIT}", "--airglow.deployment=test", udp=False)
    with socket.create_connection(("127.0.0.1", bridge.statsd_port)) as sock:
        for start in range(0, LINES, 10_000):
            batch = "".join(
                f"airflow.ti.finish.dag_{i}.task.success:1|c\n" for i in range(start, start + 10_000)
            )
            sock.sendall(batch.encode())
    wait_until(
        lambda: bridge.value("statsd_exporter_lines_total") == LINES,
        timeout=300,
        interval=2,
        what="all lines processed",
    )
    samples = bridge.samples()
    assert samples[("airglow_bridge_series", ())] == LIMIT
    assert sum(1 for name, _ in samples if name == "airflow_ti_finish_total") == LIMIT
    dropped = samples[
        (
            "airglow_bridge_series_dropped_total",
            (("limit", "global"), ("metric_name", "airflow_ti_finish_total")),
        )
    ]
    assert dropped == LINES - LIMIT
    peak = rss_peak_mib(bridge.process.pid)
    print(f"peak RSS {peak:.1f} MiB with {LIMIT} series after {LINES} distinct dag ids")
    assert peak < RSS_BOUND_MIB
