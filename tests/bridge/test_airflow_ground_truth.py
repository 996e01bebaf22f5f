"""Airflow's own numbers, exactly: what real Airflow 3.3.2 and 2.11 sent under each metrics setting users run
(tests/data/airflow_runs/, re-recorded by tests/support/record_airflow_metrics.py) goes through the bridge from as many
sockets as Airflow had senders, a real Prometheus scrapes it, and ti.finish, ti.start and task.duration equal
the counts derived from Airflow's task-instance tries (its REST API). One configuration also runs live."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from support.airflow_metrics_runs import CONFIGS, assert_prometheus_matches, expected_counts, run_dag_set
from support.common import DATA, wait_until

from airglow.bridge.twins import PAIRED

RUNS = sorted((DATA / "airflow_runs").glob("*.json"))


def test_every_configuration_is_recorded() -> None:
    assert {path.stem for path in RUNS} == set(CONFIGS)


def scrape_config(bridge) -> str:
    return f"scrape_configs:\n- job_name: bridge\n  static_configs:\n  - targets: ['127.0.0.1:{bridge.http_port}']\n"


def replay(bridge, datagrams: list[list]) -> None:
    """Send the datagrams in their recorded order, each from a socket standing for its recorded sender."""
    senders: dict[int, socket.socket] = {}
    try:
        for sent, (_, port, payload) in enumerate(datagrams, 1):
            sock = senders.get(port)
            if sock is None:
                sock = senders[port] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.bind(("127.0.0.1", 0))
            sock.sendto(payload.encode(), ("127.0.0.1", bridge.statsd_port))
            if sent % 200 == 0 or sent == len(datagrams):  # paced: nothing may be lost on the way
                wait_until(
                    lambda n=sent: bridge.value("statsd_exporter_udp_packets_total") == n,
                    60,
                    what=f"bridge received {sent} datagrams",
                )
    finally:
        for sock in senders.values():
            sock.close()


@pytest.mark.slow
@pytest.mark.parametrize("path", RUNS, ids=[path.stem for path in RUNS])
def test_recorded_airflow_traffic_counts_exactly_what_airflow_ran(
    path: Path, bridge_factory, prometheus_factory
) -> None:
    run = json.loads(path.read_text())
    bridge = bridge_factory()  # built-in defaults: the Airflow preset, no deployment flag
    prometheus = prometheus_factory(scrape_config(bridge))
    replay(bridge, run["datagrams"])
    assert_prometheus_matches(prometheus, expected_counts(run["tries"], run["airflow"]), run["deployment"])
    dropped = bridge.value("airglow_bridge_twin_events_total", decision=PAIRED)
    assert dropped and dropped > 0  # the twins were there, and each was counted once


@pytest.mark.slow
def test_live_airflow3_with_dogstatsd_defaults_counts_exactly(
    airflow_bin, bridge_factory, prometheus_factory, tmp_path
) -> None:
    """Airflow 3.3.2 with statsd_datadog_enabled and nothing else set, straight to the bridge."""
    config = CONFIGS["airflow3-dogstatsd"]
    bridge = bridge_factory()
    prometheus = prometheus_factory(scrape_config(bridge))
    record = run_dag_set(airflow_bin, tmp_path / "airflow", config, bridge.statsd_port)
    assert len(record) == 13  # 10 task instances, 3 of them retried
    assert_prometheus_matches(prometheus, expected_counts(record, config.airflow), config.deployment)
