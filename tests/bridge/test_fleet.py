"""Fleet identity: the deployment label from a tag, the statsd prefix, or the bridge's default."""

from __future__ import annotations

import pytest
from support.common import wait_until
from support.pipelines import Clock, samples, send

from airglow.bridge.fleet import FleetIdentity
from airglow.bridge.line import ParserOptions
from airglow.bridge.mapping import Mapper, parse_mapping_yaml
from airglow.bridge.pipeline import Pipeline
from airglow.bridge.registry import Registry
from airglow.bridge.selfmetrics import SelfMetrics

MAPPING = "mappings:\n- match: airflow.ti.finish.*.*.*\n  name: ti_finish\n  labels:\n    dag_id: $1\n    state: $3\n"


def pipeline_with(identity: FleetIdentity) -> Pipeline:
    return Pipeline(
        ParserOptions(),
        Mapper(parse_mapping_yaml(MAPPING)),
        Registry(),
        SelfMetrics(),
        identity,
        clock=Clock(),
    )


@pytest.mark.parametrize(
    ("line", "deployment"),
    [
        ("airflow.ti.finish.d.t.success:1|c|#deployment:tagged", "tagged"),
        ("airflow.ti.finish.d.t.success,deployment=influx:1|c", "influx"),
        ("prod-eu.ti.finish.d.t.success:1|c", "prod-eu"),
        ("prod-eu.ti.finish.d.t.success:1|c|#deployment:tag-wins", "tag-wins"),
        ("airflow.ti.finish.d.t.success:1|c", "fallback"),
    ],
)
def test_deployment_in_order_tag_prefix_default(line: str, deployment: str) -> None:
    pipeline = pipeline_with(FleetIdentity(default="fallback", from_prefix=True))
    send(pipeline, line)
    assert (
        samples(pipeline)[("ti_finish", (("dag_id", "d"), ("deployment", deployment), ("state", "success")))]
        == 1
    )


def test_label_name_is_configurable_and_prefix_off_leaves_names_alone() -> None:
    pipeline = pipeline_with(FleetIdentity(label="airflow_deployment", from_prefix=False))
    send(pipeline, "prod.ti.finish.d.t.success:1|c", "airflow.ti.finish.d.t.failed:1|c|#airflow_deployment:x")
    got = samples(pipeline)
    assert got[("prod_ti_finish_d_t_success", ())] == 1
    assert got[("ti_finish", (("airflow_deployment", "x"), ("dag_id", "d"), ("state", "failed")))] == 1


def test_one_bridge_serves_a_fleet() -> None:
    pipeline = pipeline_with(FleetIdentity(from_prefix=True))
    for deployment in ("alpha", "beta", "gamma"):
        send(pipeline, *[f"{deployment}.ti.finish.d.t.success:1|c"] * 3)
    got = samples(pipeline)
    for deployment in ("alpha", "beta", "gamma"):
        assert got[("ti_finish", (("dag_id", "d"), ("deployment", deployment), ("state", "success")))] == 3


def _first_samples(bridge, line: str) -> dict:
    bridge.send_udp(line.encode())
    wait_until(lambda: bridge.value("statsd_exporter_udp_packets_total") == 1, what="line received")
    return {k: v for k, v in bridge.samples().items() if k[0].startswith(("airflow_", "something"))}


@pytest.mark.slow
def test_with_the_airflow_preset_every_series_has_a_deployment_and_the_fix_is_logged_once(
    bridge_factory,
) -> None:
    bridge = bridge_factory()
    got = _first_samples(bridge, "airflow.scheduler_heartbeat:1|c")
    assert got == {("airflow_scheduler_heartbeat_total", (("deployment", "unknown"),)): 1.0}
    for _ in range(3):
        bridge.send_udp(b"airflow.dag_processor_heartbeat:1|c")
    wait_until(lambda: bridge.value("statsd_exporter_udp_packets_total") == 4, what="lines received")
    log = bridge.stop()
    hints = [line for line in log.splitlines() if 'deployment="unknown"' in line or "'unknown'" in line]
    assert len(hints) == 1, log
    for fix in ("statsd_datadog_tags = deployment:<name>", "statsd_prefix", "--airglow.deployment"):
        assert fix in hints[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("flags", "labels"),
    [
        (["--airglow.deployment=prod-eu"], (("deployment", "prod-eu"),)),  # named: nothing to say
        (["--airglow.preset=none"], ()),  # a statsd_exporter drop-in without the preset adds nothing
    ],
)
def test_a_named_deployment_or_no_preset_needs_no_hint(bridge_factory, flags, labels) -> None:
    bridge = bridge_factory(*flags)
    got = _first_samples(bridge, "airflow.scheduler_heartbeat:1|c")
    name = (
        "airflow_scheduler_heartbeat_total"
        if "--airglow.preset=none" not in flags
        else "airflow_scheduler_heartbeat"
    )
    assert got == {(name, labels): 1.0}
    assert "unknown" not in bridge.stop()


def test_the_dogstatsd_clients_own_telemetry_is_no_deployment() -> None:
    pipeline = pipeline_with(FleetIdentity(default="fallback", from_prefix=True))
    send(pipeline, "datadog.dogstatsd.client.packets_dropped:3|c|#client:py")
    got = samples(pipeline)
    assert (
        got[("datadog_dogstatsd_client_packets_dropped", (("client", "py"), ("deployment", "fallback")))] == 3
    )
