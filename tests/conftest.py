"""Fixtures every part's tests share, and the markers that say what a test needs.

Helpers live in ``support/`` (imported as ``support.*``); each part's folder has its own conftest. Markers,
added here from the fixtures a test uses (and by modules that start servers themselves):
``server`` (starts a real or stand-in server process), ``airflow`` (installs and runs real Airflow),
``browser`` (headless Chromium), ``slow`` (runs long). ``-m "not server and not airflow and not browser"``
runs what needs nothing but Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.bridge_process import BridgeProcess, start_bridge
from support.es_server import EsServer, running_es
from support.prometheus import PrometheusServer, start_prometheus
from support.venvs import VENVS, VenvBuilds

SERVER_FIXTURES = frozenset({"bridge_factory", "prometheus_factory", "es"})
AIRFLOW_FIXTURES = frozenset(VENVS)
VENV_BUILDS = VenvBuilds()
# Object-store tests parametrized by store: these start moto, fake-gcs-server or Azurite.
SERVER_STORES = frozenset({"s3", "gcs", "azure"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        stores = {callspec.params.get("target"), callspec.params.get("kind")} if callspec else set()
        if fixtures & SERVER_FIXTURES or stores & SERVER_STORES:
            item.add_marker(pytest.mark.server)
        if fixtures & AIRFLOW_FIXTURES:
            item.add_marker(pytest.mark.airflow)
            item.add_marker(pytest.mark.server)
            item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start building the Airflow venvs the selected tests need, in the order they first need them."""
    needed = [f for item in session.items for f in getattr(item, "fixturenames", ()) if f in AIRFLOW_FIXTURES]
    VENV_BUILDS.start(dict.fromkeys(needed))


def pytest_sessionfinish() -> None:
    VENV_BUILDS.close()


@pytest.fixture
def bridge_factory() -> Iterator:
    """Starts bridge processes (stopped after the test) with loopback ports of their own."""
    started: list[BridgeProcess] = []

    def factory(*extra: str, **kwargs) -> BridgeProcess:
        bridge = start_bridge(*extra, **kwargs)
        started.append(bridge)
        return bridge

    yield factory
    for bridge in started:
        bridge.stop()


@pytest.fixture
def prometheus_factory(tmp_path) -> Iterator:
    """Starts the real Prometheus (Debian package) on loopback, scraping the given targets every second (or
    every ``interval`` seconds), with the given ``--enable-feature`` flags."""
    started: list[PrometheusServer] = []

    def factory(scrape_config: str, interval: int = 1, features: tuple[str, ...] = ()) -> PrometheusServer:
        directory = tmp_path / f"prometheus-{len(started)}"
        server = start_prometheus(directory, scrape_config, interval, features)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def es() -> Iterator[EsServer]:
    """The Elasticsearch stand-in; it refreshes only when asked (as a test or a client's refresh does)."""
    with running_es(refresh_interval=None) as server:
        yield server


@pytest.fixture(scope="session")
def airflow_bin() -> Path:
    return VENV_BUILDS.get("airflow_bin")


@pytest.fixture(scope="session")
def stock_handlers_bin() -> Path:
    return VENV_BUILDS.get("stock_handlers_bin")


@pytest.fixture(scope="session")
def airflow2_bin() -> Path:
    return VENV_BUILDS.get("airflow2_bin")
