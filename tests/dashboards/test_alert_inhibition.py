"""The bridge-outage inhibition in a real Alertmanager (Debian package ``prometheus-alertmanager``): with the
generated inhibit rule, a statsd-derived alert is suppressed while a bridge is down, and comes back when the
bridge does; alerts from Kubernetes are never suppressed by it."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from support.common import http_get, require_binary, wait_until
from support.prometheus import start_prometheus_binary

from airglow.dashboards import rules

pytestmark = [pytest.mark.server]


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """Alertmanager on loopback with the generated inhibit rule and a receiver that sends nowhere."""
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        yaml.safe_dump(
            {"route": {"receiver": "nowhere"}, "receivers": [{"name": "nowhere"}], **rules.inhibit_rules()}
        )
    )
    checked = subprocess.run(
        [require_binary("amtool"), "check-config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    process, port = start_prometheus_binary(
        "prometheus-alertmanager", config, tmp_path, "--storage.path", "--cluster.listen-address="
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=15)


def post_alerts(url: str, *alerts: dict) -> None:
    request = urllib.request.Request(
        url + "/api/v2/alerts",
        data=json.dumps(list(alerts)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def alert(name: str, signal: str, deployment: str, ends_in: timedelta = timedelta(hours=1)) -> dict:
    now = datetime.now(timezone.utc)
    return {
        "labels": {"alertname": name, "signal": signal, "deployment": deployment, "severity": "critical"},
        "startsAt": (now - timedelta(minutes=5)).isoformat(),
        "endsAt": (now + ends_in).isoformat(),
    }


def states(url: str) -> dict[str, str]:
    status, body, _ = http_get(url + "/api/v2/alerts?active=true&silenced=true&inhibited=true")
    assert status == 200, body
    return {item["labels"]["alertname"]: item["status"]["state"] for item in json.loads(body)}


def test_a_bridge_outage_inhibits_the_statsd_alerts_and_only_them(alertmanager: str) -> None:
    heartbeat = alert("AirflowSchedulerHeartbeatMissing", rules.STATSD, "airflow-prod")
    oom = alert("AirflowTaskPodOOMKilled", rules.KUBERNETES, "airflow-prod")
    bridge = alert("AirglowBridgeDown", rules.BRIDGE, rules.FLEET)
    post_alerts(alertmanager, heartbeat, oom)
    wait_until(
        lambda: (
            states(alertmanager)
            == {"AirflowSchedulerHeartbeatMissing": "active", "AirflowTaskPodOOMKilled": "active"}
        ),
        30,
        0.2,
        what="both alerts active without a bridge outage",
    )
    post_alerts(alertmanager, bridge, heartbeat, oom)
    expected = {
        "AirglowBridgeDown": "active",
        "AirflowSchedulerHeartbeatMissing": "suppressed",
        "AirflowTaskPodOOMKilled": "active",
    }
    wait_until(
        lambda: states(alertmanager) == expected, 30, 0.2, what=f"{expected} (now {states(alertmanager)})"
    )

    post_alerts(
        alertmanager, alert("AirglowBridgeDown", rules.BRIDGE, rules.FLEET, ends_in=timedelta(0)), heartbeat
    )
    wait_until(
        lambda: states(alertmanager).get("AirflowSchedulerHeartbeatMissing") == "active",
        30,
        0.2,
        what="the heartbeat alert back once the bridge is up",
    )
