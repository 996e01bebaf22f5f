"""The deployment of untagged samples from the sender's pod, found by source IP (Kubernetes watch)."""

from __future__ import annotations

import socket

import pytest
from support import k8s_api_stub as k8s
from support.common import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.server]


def send_from(source_ip: str, port: int, payload: bytes, tcp: bool = False) -> None:
    kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((source_ip, 0))
        if tcp:
            sock.connect(("127.0.0.1", port))
            sock.sendall(payload)
        else:
            sock.sendto(payload, ("127.0.0.1", port))


def test_deployment_from_the_senders_pod(bridge_factory, pod_api) -> None:
    api, config = pod_api
    bridge = bridge_factory("--airglow.pod-lookup", f"--airglow.kubeconfig={config}")
    port = bridge.statsd_port

    def gauge_from(ip: str, value: int, deployment: str | None, tcp: bool = False, tag: str = "") -> None:
        labels = {"pool_name": "default", **({"deployment": deployment} if deployment else {})}
        line = (
            f"airflow.pool.open_slots:{value}|g|#pool_name:default,{tag}"
            if tag
            else f"airflow.pool.open_slots.default:{value}|g"
        )

        def arrived() -> bool:
            send_from(ip, port, line.encode(), tcp)
            return bridge.value("airflow_pool_open_slots", **labels) == value

        wait_until(arrived, 20, 0.2, what=f"gauge from {ip} labelled {deployment}")

    gauge_from("127.0.0.2", 1, "prod")  # the pod's release label
    gauge_from("127.0.0.3", 2, "team-b")  # no release label: the namespace
    gauge_from("127.0.0.2", 3, "tagged", tag="deployment:tagged")  # a tag wins over the pod
    api.put(k8s.pod("staging-worker", "airflow-staging", "127.0.0.4", {"release": "staging"}))
    gauge_from("127.0.0.4", 4, "staging", tcp=True)  # learnt from the watch, over TCP
    api.delete("airflow-staging", "staging-worker")
    gauge_from("127.0.0.4", 5, "unknown")  # gone: the explicit placeholder
    assert api.watches >= 1
