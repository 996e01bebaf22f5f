"""Simulator -> bridge -> real Prometheus (with the rules loaded) -> every panel query of every dashboard.

Each target of each panel runs through Prometheus's HTTP API with the variables as Grafana would substitute
them (All, then one deployment) and must return data; every rule must evaluate without error and the
recording rules must produce series; then the preview draws each dashboard to a PNG from that Prometheus.
"""

from __future__ import annotations

import json
import math
import time
import urllib.parse

import pytest
from support.common import http_get, wait_until

from airglow.dashboards.collection import dashboards
from airglow.dashboards.preview import Prometheus, preview, selection_for
from airglow.dashboards.queries import panel_queries
from airglow.dashboards.rules import rules_file

TROUBLED = "airflow-staging"  # the simulator's troubled deployment (the second one)
RATE_INTERVAL = "1m"
# Rates and increases need a few scrapes of the simulator's first ticks; poll until then, within this bound.
DATA_DEADLINE_SECONDS = 90


def query_range(prometheus_url: str, expr: str, seconds: float = 60) -> list[dict]:
    now = time.time()
    params = urllib.parse.urlencode({"query": expr, "start": now - seconds, "end": now, "step": 5})
    status, body, _ = http_get(f"{prometheus_url}/api/v1/query_range?{params}")
    assert status == 200, f"{expr}: {body[:500]!r}"
    return json.loads(body)["data"]["result"]


def has_finite_value(result: list[dict]) -> bool:
    return any(math.isfinite(float(value)) for series in result for _, value in series["values"])


def panels_without_data(
    prometheus_url: str, selections: dict[str, dict[str, list[str]]]
) -> tuple[int, list[str]]:
    """(queries run, the ones that returned no finite value) over every panel target and selection."""
    checked, empty = 0, []
    for label, selection in selections.items():
        for model in dashboards().values():
            for query in panel_queries(model, selection, RATE_INTERVAL):
                checked += 1
                if not has_finite_value(query_range(prometheus_url, query.expr)):
                    empty.append(
                        f"[{label}] {query.dashboard} / {query.panel} / {query.ref_id}: {query.expr}"
                    )
    return checked, empty


@pytest.mark.browser  # the preview renders with headless Chromium
def test_every_panel_query_returns_data_and_every_rule_evaluates(simulated_fleet, tmp_path, capsys):
    prometheus = simulated_fleet
    api = Prometheus(prometheus.url)

    def attempt() -> tuple[dict, int, list[str]]:
        """The variables as Grafana would fill them now (DAGs appear once tasks finish), and the panels' data."""
        selections = {"All": selection_for(api, None), TROUBLED: selection_for(api, TROUBLED)}
        return selections, *panels_without_data(prometheus.url, selections)

    deadline = time.monotonic() + DATA_DEADLINE_SECONDS
    selections, checked, empty = attempt()
    while empty and time.monotonic() < deadline:
        time.sleep(2)
        selections, checked, empty = attempt()
    assert not empty, "panels without data:\n" + "\n".join(empty)
    assert len(selections["All"]["deployment"]) == 3 and TROUBLED in selections["All"]["deployment"]
    assert selections[TROUBLED]["dag_id"], "the dag_id variable, chained on the deployment, has values"
    targets = sum(
        len(panel.get("targets", [])) for model in dashboards().values() for panel in model["panels"]
    )
    assert checked == len(selections) * targets

    status, body, _ = http_get(prometheus.url + "/api/v1/rules")
    assert status == 200, body
    groups = json.loads(body)["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == sum(len(group["rules"]) for group in rules_file()["groups"])
    assert [rule["name"] for rule in rules if rule["health"] != "ok"] == []
    for rule in rules:
        if rule["type"] == "recording":
            assert prometheus.query(rule["name"]), f"recording rule {rule['name']} has no data"
    expected = {
        "AirflowDagImportErrors",
        "AirflowTaskPodOOMKilled",
        "AirglowBridgeDroppingLines",
        "AirglowBridgeSeriesLimitHit",
    }

    def alerting() -> set[str]:
        return {alert["metric"]["alertname"] for alert in prometheus.query("ALERTS")}

    wait_until(lambda: expected <= alerting(), 60, 1, what=f"{expected} pending or firing")

    out = tmp_path / "preview"
    pictures = preview(dashboards(), prometheus.url, out, window=120)
    with capsys.disabled():
        print(f"\npreview PNGs of this run: {out}")
    assert [p.name for p in pictures] == [f"{name}.png" for name in dashboards()]
    for picture in pictures:
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 20_000, picture
