"""The fleet simulator: deterministic, realistic enough for every panel, and counted once by the bridge."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from support.common import ROOT, parse_exposition, wait_until

from airglow.dashboards.simulate.expositions import EXPOSITIONS
from airglow.dashboards.simulate.model import Fleet, FleetShape
from airglow.dashboards.simulate.statsd_sender import StatsdSender

START = 1_800_000_000.0


def run(fleet: Fleet, ticks: int) -> list[dict]:
    return [fleet.step(START + tick) for tick in range(1, ticks + 1)]


def test_same_seed_same_fleet():
    first, second = Fleet(FleetShape(seed=4), START), Fleet(FleetShape(seed=4), START)
    assert run(first, 30) == run(second, 30)
    assert {name: render(first) for name, render in EXPOSITIONS.items()} == {
        name: render(second) for name, render in EXPOSITIONS.items()
    }
    assert run(Fleet(FleetShape(seed=5), START), 30) != run(Fleet(FleetShape(seed=4), START), 30)


def test_pods_go_through_pending_running_and_terminated_and_are_deleted():
    fleet = Fleet(FleetShape(deployments=2, run_rate=0.5), START)
    seen: dict[str, set[str]] = {}
    oom_killed: set[str] = set()
    for tick in range(1, 120):
        fleet.step(START + tick)
        for deployment in fleet.deployments:
            for pod in deployment.pods:
                seen.setdefault(pod.name, set()).add(pod.phase)
                if pod.phase == "Failed" and pod.terminated_reason == "OOMKilled":
                    oom_killed.add(f"{deployment.name}/{pod.name}")
    assert any({"Pending", "Running", "Succeeded"} <= phases for phases in seen.values())
    assert fleet.deployments[1].troubled and not fleet.deployments[0].troubled
    assert oom_killed and all(name.startswith(fleet.deployments[1].name + "/") for name in oom_killed)
    live = {pod.name for deployment in fleet.deployments for pod in deployment.pods}
    assert len(live) < len(seen), "finished pods must be deleted"


def test_expositions_parse_as_prometheus_text():
    fleet = Fleet(FleetShape(), START)
    run(fleet, 40)
    for render in EXPOSITIONS.values():
        samples = parse_exposition(render(fleet))
        assert samples
        assert all(dict(labels).get("namespace", "").startswith("airflow-") for (_, labels) in samples)


def test_the_bridge_counts_every_finished_task_once(bridge_factory):
    """Twins (legacy and tagged) go out for every event; the preset must count each task once."""
    bridge = bridge_factory(tcp=False)
    fleet = Fleet(FleetShape(deployments=2, run_rate=0.6), START)
    sender = StatsdSender("127.0.0.1", bridge.statsd_port, [d.name for d in fleet.deployments])
    finished: dict[tuple[str, str], int] = {}
    for events in run(fleet, 60):
        sender.send(events)
        time.sleep(0.05)  # a tick's worth of UDP at a time, as the simulator paces it
        for deployment, metrics in events.items():
            for metric in metrics:
                if metric.name == "ti.finish":
                    key = (deployment, dict(metric.tags)["state"])
                    finished[key] = finished.get(key, 0) + 1
    sender.close()
    assert sum(finished.values()) > 20

    def counted() -> dict[tuple[str, str], int]:
        totals: dict[tuple[str, str], int] = {}
        for (name, labels), value in bridge.samples().items():
            if name == "airflow_ti_finish_total":
                key = (dict(labels)["deployment"], dict(labels)["state"])
                totals[key] = totals.get(key, 0) + int(value)
        return totals

    wait_until(lambda: counted() == finished, 10, what=f"bridge counts {counted()} == sent {finished}")
    assert bridge.value("statsd_exporter_events_unmapped_total") in (None, 0.0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["--deployments", "0"], "must be > 0"), (["--statsd", "nohost"], "HOST:PORT")],
    ids=["no deployments", "address without port"],
)
def test_cli_rejects_bad_arguments(arguments, message):
    result = subprocess.run(
        [sys.executable, "-m", "airglow.dashboards.simulate", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and message in result.stderr
