"""Fixtures of the bridge's tests (tests/bridge): run them alone with ``python3 -m pytest tests/bridge``, or
without the ones that start processes with ``-m "not server and not airflow"``."""

from __future__ import annotations

import pytest
from support import k8s_api_stub as k8s


@pytest.fixture
def pod_api(tmp_path):
    api = k8s.PodAPI()
    api.put(k8s.pod("prod-worker-1", "airflow-prod", "127.0.0.2", {"release": "prod"}))
    api.put(k8s.pod("plain-pod", "team-b", "127.0.0.3"))
    server, port = k8s.start(api)
    config = tmp_path / "kubeconfig"
    config.write_text(k8s.kubeconfig(port))
    yield api, config
    k8s.stop(server)
