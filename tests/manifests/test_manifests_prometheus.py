"""manifests/monitoring/prometheus/scrape-config.yml in a real Prometheus: ``promtool check config`` accepts it,
and, with static targets standing in for Kubernetes pod discovery, Prometheus scrapes a bridge started with the
single-deployment overlay's arguments and keeps the bridge's ``deployment`` label."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.common import http_get, require_binary, wait_until
from support.manifests import MANIFESTS, BridgeWorkload, bridge_workloads, build, relocate

pytestmark = [pytest.mark.slow, pytest.mark.server]

SCRAPE_CONFIG = MANIFESTS / "monitoring" / "prometheus" / "scrape-config.yml"


def scrape_jobs() -> list[dict[str, Any]]:
    return yaml.safe_load(SCRAPE_CONFIG.read_text())["scrape_configs"]


def pod_discovery_labels(bridge: BridgeWorkload, port_name: str, address: str) -> dict[str, str]:
    """The __meta_kubernetes_* labels Prometheus's pod discovery gives this pod's container port."""
    labels = {
        "__address__": address,
        "__meta_kubernetes_namespace": bridge.workload["metadata"]["namespace"],
        "__meta_kubernetes_pod_name": "airglow-bridge-7d9f-abcde",
        "__meta_kubernetes_pod_node_name": "node-1",
        "__meta_kubernetes_pod_container_port_name": port_name,
    }
    for kind in ("label", "annotation"):
        for key, value in bridge.pod["metadata"].get(f"{kind}s", {}).items():
            labels[f"__meta_kubernetes_pod_{kind}_" + re.sub(r"[^a-zA-Z0-9_]", "_", key)] = value
    return labels


def promtool_check(config: dict[str, Any], directory: Path) -> subprocess.CompletedProcess:
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [require_binary("promtool"), "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )


def test_promtool_accepts_the_scrape_config(tmp_path) -> None:
    """Debian's Prometheus (the one CI installs) is built without the Kubernetes discoverer and rejects
    ``kubernetes_sd_configs`` as an unknown field. So promtool checks the verbatim file and accepts that one
    error only, then checks the job with file discovery in its place: everything else in it must pass."""
    verbatim = promtool_check({"scrape_configs": scrape_jobs()}, tmp_path)
    output = verbatim.stdout + verbatim.stderr
    assert verbatim.returncode == 0 or "field kubernetes_sd_configs not found" in output, output
    (job,) = scrape_jobs()
    assert job.pop("kubernetes_sd_configs") == [{"role": "pod"}]
    (tmp_path / "targets.json").write_text("[]")
    job["file_sd_configs"] = [{"files": [str(tmp_path / "targets.json")]}]
    checked = promtool_check({"scrape_configs": [job]}, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout + checked.stderr


def test_prometheus_scrapes_the_bridge_and_keeps_its_deployment_label(
    bridge_factory, prometheus_factory, tmp_path
) -> None:
    (bridge,) = bridge_workloads(build(MANIFESTS / "overlays" / "single-deployment"))
    args = relocate(bridge.args_without_addresses(), bridge.write_mounts(tmp_path))
    running = bridge_factory(*args)
    running.send_udp(b"airflow.scheduler_heartbeat:1|c")
    metrics = f"127.0.0.1:{running.http_port}"
    # Discovery gives one target per container port; the statsd ones must be dropped by the relabelling.
    # The `deployment` target label stands for a pod label mapped by a generic labelmap: the bridge's own wins.
    targets = [
        {
            "targets": [metrics],
            "labels": {
                **pod_discovery_labels(bridge, "http-metrics", metrics),
                "deployment": "from-discovery",
            },
        },
        {
            "targets": [f"127.0.0.1:{running.statsd_port}"],
            "labels": pod_discovery_labels(bridge, "statsd-tcp", "x"),
        },
    ]
    (job,) = scrape_jobs()
    del job["kubernetes_sd_configs"]
    job.update(static_configs=targets, scrape_interval="1s", scrape_timeout="1s")
    prometheus = prometheus_factory(yaml.safe_dump({"scrape_configs": [job]}))

    (sample,) = prometheus.wait_for_value("airflow_scheduler_heartbeat_total", 1, 60)
    assert sample["metric"] == {
        "__name__": "airflow_scheduler_heartbeat_total",
        "deployment": "airflow",
        "job": "airglow-bridge",
        "instance": metrics,
        "namespace": "airflow",
        "pod": "airglow-bridge-7d9f-abcde",
        "node": "node-1",
    }
    status, body, _ = http_get(prometheus.url + "/api/v1/targets")
    assert status == 200
    active = json.loads(body)["data"]["activeTargets"]
    assert [target["labels"]["instance"] for target in active] == [metrics]
    wait_until(lambda: prometheus.query('up{job="airglow-bridge"}')[0]["value"][1] == "1", 30, 0.5, what="up")
