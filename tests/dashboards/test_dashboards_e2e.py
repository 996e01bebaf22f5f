"""Simulator -> bridge -> real Prometheus (with the rules loaded) -> every panel query of every dashboard.

Each target of each panel runs through Prometheus's HTTP API with the variables as Grafana would substitute
them (as each dashboard opens, then on the troubled deployment) and must return data; every rule must evaluate
without error and the recording rules must produce series; the fleet overview's table puts the troubled
deployment first and leaves every other row calm; then the preview draws each dashboard to a PNG. At 3
deployments, and at 40.
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
from airglow.dashboards.tables import Table, build_table
from airglow.dashboards.variables import DEPLOYMENTS, substitute

TROUBLED = "airflow-staging"  # the simulator's troubled deployment (the second one)
RATE_INTERVAL = "1m"
# Rates and increases need a few scrapes of the simulator's first ticks; poll until then, within this bound
# (per 3 deployments simulated: a larger fleet takes the simulator and Prometheus longer on a loaded machine).
DATA_DEADLINE_SECONDS = 90
# A loaded 2-core machine answers a query over 40 deployments' series slowly; the test checks data, not speed.
QUERY_TIMEOUT_SECONDS = 60
# Panels are read over the whole run so far (the fleet's warm-up is shorter than this, plus the time spent
# polling), as a dashboard's time range would show it: an event that is rare in one deployment of a large fleet
# (a failed DAG run, whose duration panel needs two of them a scrape apart) counts whenever it happened.
WARM_UP_SECONDS = 300


def query_range(prometheus_url: str, expr: str, seconds: float) -> list[dict]:
    now = time.time()
    params = urllib.parse.urlencode({"query": expr, "start": now - seconds, "end": now, "step": 15})
    status, body, _ = http_get(f"{prometheus_url}/api/v1/query_range?{params}", timeout=QUERY_TIMEOUT_SECONDS)
    assert status == 200, f"{expr}: {body[:500]!r}"
    return json.loads(body)["data"]["result"]


def has_finite_value(result: list[dict]) -> bool:
    return any(math.isfinite(float(value)) for series in result for _, value in series["values"])


def panels_without_data(
    prometheus_url: str, selections: dict[str, dict[str, dict[str, list[str]]]], seen: set[str], window: float
) -> list[str]:
    """The panel targets (over every selection; a selection gives each dashboard its variables) that returned
    no finite value. A target that had data once is in ``seen`` and not asked again: polling a 40-deployment
    fleet until the last panel fills would otherwise load Prometheus with every query on every round."""
    empty = []
    for label, by_dashboard in selections.items():
        for name, model in dashboards().items():
            for query in panel_queries(model, by_dashboard[name], RATE_INTERVAL):
                target = f"[{label}] {query.dashboard} / {query.panel} / {query.ref_id}"
                if target in seen:
                    continue
                if has_finite_value(query_range(prometheus_url, query.expr, window)):
                    seen.add(target)
                else:
                    empty.append(f"{target}: {query.expr}")
    return empty


def fleet_table(api: Prometheus) -> Table:
    """The fleet overview's table as a Grafana opening the dashboard shows it now."""
    model = dashboards()["airflow-fleet"]
    (panel,) = [panel for panel in model["panels"] if panel["type"] == "table"]
    selection = selection_for(api, model)
    results = [
        api.query(substitute(target["expr"], selection, RATE_INTERVAL), time.time())
        for target in panel["targets"]
    ]
    return build_table(panel, results)


def troubled_first_and_the_rest_calm(table: Table) -> str:
    """What is wrong with the table's order and colours, or "" when the troubled deployment is the first
    row and no other row has a cell in orange or red."""
    if not table.rows or table.rows[0][0] != TROUBLED:
        return f"first row {table.rows[:1]}, expected {TROUBLED}"
    loud = [
        f"{key}: {column.title}={cell.value} ({cell.color})"
        for key, cells in table.rows[1:]
        for cell, column in zip(cells, table.columns, strict=True)
        if cell.color in ("orange", "red")
    ]
    return "; ".join(loud)


def check_dashboards(prometheus, deployments: int, tmp_path, capsys) -> None:
    """Every panel has data (as each dashboard opens, and on the troubled deployment), every rule
    evaluates, the overview puts the troubled deployment first with every other row calm, and the preview
    draws every dashboard."""
    api = Prometheus(prometheus.url)

    seen: set[str] = set()

    def attempt() -> tuple[dict, list[str]]:
        """The variables as Grafana would fill them now (DAGs appear once tasks finish), and the panels that
        have had no data yet."""
        selections = {
            label: {name: selection_for(api, model, chosen) for name, model in dashboards().items()}
            for label, chosen in (("as opened", None), (TROUBLED, TROUBLED))
        }
        window = WARM_UP_SECONDS + time.monotonic() - started
        return selections, panels_without_data(prometheus.url, selections, seen, window)

    patience = DATA_DEADLINE_SECONDS * max(1, deployments // 3)
    started = time.monotonic()
    deadline = started + patience
    selections, empty = attempt()
    while empty and time.monotonic() < deadline:
        time.sleep(2)
        selections, empty = attempt()
    assert not empty, "panels without data:\n" + "\n".join(empty)
    assert len(api.label_values("deployment", DEPLOYMENTS.selector)) == deployments
    assert selections[TROUBLED]["airflow-dag"]["dag_id"], (
        "the dag_id variable, chained on the deployment, has values"
    )
    targets = sum(
        len(panel.get("targets", [])) for model in dashboards().values() for panel in model["panels"]
    )
    assert len(seen) == len(selections) * targets, "every target of every panel had data"

    status, body, _ = http_get(prometheus.url + "/api/v1/rules")
    assert status == 200, body
    groups = json.loads(body)["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == sum(len(group["rules"]) for group in rules_file()["groups"])
    assert [rule["name"] for rule in rules if rule["health"] != "ok"] == []
    for rule in rules:
        if rule["type"] == "recording":
            assert prometheus.query(rule["name"]), f"recording rule {rule['name']} has no data"

    problem = "not checked yet"
    deadline = time.monotonic() + patience
    while problem and time.monotonic() < deadline:
        problem = troubled_first_and_the_rest_calm(fleet_table(api))
        if problem:
            time.sleep(2)
    assert not problem, problem
    with capsys.disabled():
        print(f"\nfleet rule evaluation at {deployments} deployments: {evaluation_seconds(groups)}")

    out = tmp_path / f"preview-{deployments}"
    capsys.readouterr()
    pictures = preview(dashboards(), prometheus.url, out, window=120)
    progress = capsys.readouterr().err
    with capsys.disabled():
        print(f"preview PNGs of the {deployments}-deployment run: {out}")
    assert [p.name for p in pictures] == [f"{name}.png" for name in dashboards()]
    for number, picture in enumerate(pictures, 1):
        assert f"[{number}/{len(pictures)}] {picture} (" in progress, progress
    for picture in pictures:
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and picture.stat().st_size > 20_000, picture


def evaluation_seconds(groups: list[dict]) -> str:
    """How long Prometheus took to evaluate each rule group last time (the health group is the overview's
    cost, paid once per evaluation however many Grafanas look)."""
    return ", ".join(f"{group['name']} {group['evaluationTime'] * 1000:.1f} ms" for group in groups)


@pytest.mark.browser  # the preview renders with headless Chromium
def test_every_panel_query_returns_data_and_every_rule_evaluates(simulated_fleet, tmp_path, capsys):
    prometheus = simulated_fleet
    check_dashboards(prometheus, 3, tmp_path, capsys)
    expected = {
        "AirflowDagImportErrors",
        "AirflowTaskPodOOMKilled",
        "AirflowTaskPodsCannotStart",
        "AirflowPodCreationErrors",
        "AirglowBridgeDroppingLines",
        "AirglowBridgeSeriesLimitHit",
    }

    def alerting() -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for alert in prometheus.query("ALERTS"):
            found.setdefault(alert["metric"]["alertname"], []).append(alert["metric"])
        return found

    wait_until(lambda: expected <= set(alerting()), 60, 1, what=f"{expected} pending or firing")
    oom = alerting()["AirflowTaskPodOOMKilled"]
    assert {alert["deployment"] for alert in oom} == {TROUBLED} and len(oom) == 1, "one alert per deployment"
    assert all("deployment" in labels for alerts in alerting().values() for labels in alerts)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("simulated_fleet", [40], indirect=True)
def test_the_overview_at_40_deployments_puts_the_troubled_one_first(simulated_fleet, tmp_path, capsys):
    check_dashboards(simulated_fleet, 40, tmp_path, capsys)


@pytest.mark.server
def test_a_query_that_fails_is_named_with_its_dashboard_and_panel(prometheus_factory, tmp_path) -> None:
    """Prometheus refuses a panel's query: the preview stops with the dashboard and the panel, and what
    Prometheus said, instead of a bare HTTP error."""
    from airglow.dashboards.preview import PreviewError, draw_dashboard

    prometheus = prometheus_factory("scrape_configs: []\n")
    model = dashboards()["airglow-bridge"]
    broken = json.loads(json.dumps(model))
    panel = next(panel for panel in broken["panels"] if panel.get("targets"))
    panel["targets"][0]["expr"] = "rate(up[5m]"  # a parse error
    with pytest.raises(PreviewError) as raised:
        draw_dashboard(broken, Prometheus(prometheus.url), {}, 300, time.time())
    message = str(raised.value)
    assert message.startswith(f"{model['title']} / {panel['title']}: "), message
    assert "parse error" in message, message
