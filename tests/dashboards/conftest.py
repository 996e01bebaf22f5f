"""Fixtures of the dashboard tests (tests/dashboards): the whole chain a dashboard is checked against.
``python3 -m pytest tests/dashboards -m "not server and not browser"`` runs what needs no process."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from support.common import ROOT, free_port, require_binary, wait_until

from airglow.dashboards.demo import scrape_configs
from airglow.dashboards.rules import rules_file


@pytest.fixture
def simulated_fleet(request, bridge_factory, prometheus_factory, tmp_path):
    """The whole chain, running until the recording rules have seen the simulated pods; as many simulated
    deployments as the test's parameter says (3 without one)."""
    require_binary("prometheus")
    deployments = getattr(request, "param", 3)
    bridge = bridge_factory(f"--airglow.series-limit-per-metric={100 * deployments}", tcp=False)
    exposition_port = free_port()
    simulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airglow.dashboards.simulate",
            f"--statsd=127.0.0.1:{bridge.statsd_port}",
            f"--listen=127.0.0.1:{exposition_port}",
            f"--deployments={deployments}",
            f"--runaway-per-tick={7 * deployments}",  # over the per-metric limit within a minute
            # The fleet starts about 19 task pods a second in all, however many deployments share them:
            # more deployments, not more churn (a pod per task makes every pod a handful of new series).
            f"--run-rate={1.2 / deployments:.3f}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    rules = tmp_path / "airglow-rules.yml"
    rules.write_text(yaml.safe_dump(rules_file(), sort_keys=False))
    scrape = {"rule_files": [str(rules)], "scrape_configs": scrape_configs(bridge.http_port, exposition_port)}
    # Every second for a small fleet; a large one every 5 s, as its rules take seconds on a loaded 2-core machine.
    prometheus = prometheus_factory(yaml.safe_dump(scrape), 1 if deployments <= 3 else 5)
    try:
        wait_until(
            lambda: prometheus.query("airglow:task_pod_start_latency_seconds:p95_30m"),
            60,
            0.5,
            what="recording rules over simulated pods",
        )
        assert simulator.poll() is None, simulator.stderr.read().decode()
        yield prometheus
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)
