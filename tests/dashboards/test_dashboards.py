"""The generated dashboards, rules and files: Grafana's own types, promtool, determinism, conventions."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from support.common import ROOT, require_binary

from airglow.dashboards import rules
from airglow.dashboards.cli import main as dashboards_cli
from airglow.dashboards.collection import dashboards
from airglow.dashboards.variables import substitute

TSC = ROOT / ".ci" / "node_modules" / ".bin" / "tsc"
SCHEMA = ROOT / ".ci" / "node_modules" / "@grafana" / "schema"
RULE_TESTS = Path(__file__).with_name("rules") / "airglow-rules.test.yml"
# Grafana's types use TypeScript enums (ThresholdsMode, FieldColorModeId, …); a JSON string is checked against
# the enum's values through a template literal type, everything else against the types as they are.
JSON_VIEW = """import type { Dashboard } from '@grafana/schema';
type Json<T> = T extends string ? `${T}` : T extends number | boolean ? T
  : T extends Array<infer U> ? Array<Json<U>> : T extends object ? { [K in keyof T]: Json<T[K]> } : T;
"""


def type_check(models: dict[str, dict], directory: Path) -> subprocess.CompletedProcess:
    if not TSC.exists() or not SCHEMA.exists():
        pytest.fail("TypeScript and @grafana/schema are not installed: run .ci/test (npm ci in .ci/)")
    declarations = [
        f"export const {name.replace('-', '_')}: Json<Dashboard> = {json.dumps(model, indent=1)};"
        for name, model in models.items()
    ]
    (directory / "dashboards.ts").write_text(JSON_VIEW + "\n".join(declarations) + "\n")
    (directory / "node_modules").symlink_to(ROOT / ".ci" / "node_modules")
    (directory / "tsconfig.json").write_text(
        json.dumps(
            {
                "compilerOptions": {
                    "strict": True,
                    "noEmit": True,
                    "module": "nodenext",
                    "moduleResolution": "nodenext",
                    "target": "es2022",
                    "skipLibCheck": True,
                },
                "files": ["dashboards.ts"],
            }
        )
    )
    return subprocess.run([str(TSC), "-p", str(directory)], capture_output=True, text=True, timeout=300)


def test_every_dashboard_type_checks_against_grafanas_own_types(tmp_path):
    result = type_check(dashboards(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_type_check_rejects_what_grafana_would_not_read(tmp_path):
    model = dashboards()["airflow-fleet"]
    wrong_type = {**model, "schemaVersion": "39"}
    unknown_key = {**model, "panels": [{**model["panels"][1], "span": 4}]}
    wrong_enum = {**model, "graphTooltip": 7}
    result = type_check(
        {"wrong_type": wrong_type, "unknown_key": unknown_key, "wrong_enum": wrong_enum}, tmp_path
    )
    assert result.returncode != 0
    errors = re.findall(r"error (TS\d+)", result.stdout)
    assert len(errors) == 3, result.stdout


@pytest.mark.parametrize("name", list(dashboards()))
def test_dashboard_conventions(name):
    model = dashboards()[name]
    assert model["schemaVersion"] >= 39
    assert model["uid"].startswith("airglow-") and len(model["uid"]) <= 40
    variables = {variable["name"]: variable for variable in model["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    for variable in variables.values():
        if variable.get("includeAll"):
            assert variable["allValue"] == ".*", "All must be one short regex, not every value"
    if "deployment" in variables:
        assert variables["deployment"]["multi"]
        assert variables["deployment"]["includeAll"] != (name in ("airflow-deployment", "airflow-dag")), (
            "the deployment and DAG dashboards open on one deployment, the others on All"
        )
    if "dag_id" in variables:
        assert "$deployment" in variables["dag_id"]["query"], "dag_id must be chained on deployment"
    panels = [p for p in model["panels"] if p["type"] != "row"]
    assert panels
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert ref_ids and len(set(ref_ids)) == len(ref_ids), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    ids = [p["id"] for p in model["panels"]]
    assert len(set(ids)) == len(ids)


def test_fleet_overview_is_one_table_of_every_concern_worst_first_linking_to_the_deployment():
    from airglow.dashboards import health

    model = dashboards()["airflow-fleet"]
    (table,) = [panel for panel in model["panels"] if panel["type"] == "table"]
    columns = [target["expr"].partition("{")[0] for target in table["targets"]]
    assert columns == [health.SCORE, *(concern.record for concern in health.concerns())]
    assert all(target["instant"] and target["format"] == "table" for target in table["targets"])
    renamed = next(t for t in table["transformations"] if t["id"] == "organize")["options"]["renameByName"]
    assert table["options"]["sortBy"] == [{"displayName": renamed["Value #A"], "desc": True}]
    links = {
        item["matcher"]["options"]: prop["value"]
        for item in table["fieldConfig"]["overrides"]
        for prop in item["properties"]
        if prop["id"] == "links"
    }
    assert links["Deployment"][0]["url"].startswith("/d/airglow-deployment?var-deployment=${__value.raw}")
    assert [p["title"] for p in model["panels"] if p["type"] == "row"] == [
        "Fleet",
        "Deployments, worst first",
    ]
    linked = {link["url"].split("?")[0] for panel in model["panels"] for link in panel.get("links", [])}
    assert linked == {"/d/airglow-deployment", "/d/airglow-task-pods", "/d/airglow-dag"}


@pytest.mark.parametrize("name", ["airflow-deployment", "airflow-dag", "airflow-task-pods"])
def test_panels_keep_the_deployment_and_count_per_minute(name):
    """Every aggregation keeps the deployment (or its namespace) unless it only builds a heatmap's buckets;
    counts are rates per minute, not increases over a window that changes with the zoom."""
    for panel in dashboards()[name]["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            assert "increase(" not in expr, (panel["title"], expr)
            for group in re.findall(r"by \(([^)]*)\)", expr):
                labels = {label.strip() for label in group.split(",")}
                assert labels & {"deployment", "namespace"} or labels == {"le"}, (panel["title"], expr)


def test_substitution_matches_grafanas_prometheus_formatting():
    expr = 'up{deployment=~"$deployment", dag_id=~"${dag_id}"}[$__rate_interval]'
    assert substitute(expr, {"deployment": ["a.b"], "dag_id": ["x", "y+z"]}, "2m") == (
        'up{deployment=~"a\\\\.b", dag_id=~"(x|y\\\\+z)"}[2m]'
    )
    assert substitute(expr, {"deployment": ["$__all"], "dag_id": ["x"]}, "2m") == (
        'up{deployment=~".*", dag_id=~"x"}[2m]'
    ), "All is the variable's allValue"


def test_generate_writes_the_same_bytes_every_time(tmp_path, capsys):
    first, second = tmp_path / "one", tmp_path / "two"
    assert dashboards_cli(["generate", "--out", str(first)]) == 0
    assert dashboards_cli(["generate", "--out", str(second)]) == 0
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(files) == len(dashboards()) + 5
    for relative in files:
        assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative


def test_generated_configmaps_provisioning_and_prometheusrule(tmp_path):
    dashboards_cli(["generate", "--out", str(tmp_path), "--namespace", "grafana", "--folder", "Fleet"])
    config_maps = list(yaml.safe_load_all((tmp_path / "kubernetes/grafana-dashboards.yaml").read_text()))
    assert len(config_maps) == len(dashboards())
    for config_map in config_maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["namespace"] == "grafana"
        assert config_map["metadata"]["annotations"]["grafana_folder"] == "Fleet"
        ((key, body),) = config_map["data"].items()
        assert json.loads(body) == dashboards()[key.removesuffix(".json")]
    provider = yaml.safe_load((tmp_path / "provisioning/dashboards/airglow.yaml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["folder"] == "Fleet"
    rule = yaml.safe_load((tmp_path / "kubernetes/prometheusrule.yaml").read_text())
    assert rule["kind"] == "PrometheusRule" and rule["metadata"]["namespace"] == "grafana"
    assert rule["spec"] == yaml.safe_load((tmp_path / "rules/airglow-rules.yml").read_text())


def test_promtool_checks_the_rules(tmp_path):
    promtool = require_binary("promtool")
    dashboards_cli(["generate", "--out", str(tmp_path)])
    result = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "rules/airglow-rules.yml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in rules.groups())} rules found" in result.stdout


def test_promtool_unit_tests_pass_and_cover_every_alert_firing_and_silent(tmp_path):
    promtool = require_binary("promtool")
    (tmp_path / "airglow-rules.yml").write_text(yaml.safe_dump(rules.rules_file(), sort_keys=False))
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    result = subprocess.run(
        [promtool, "test", "rules", str(tmp_path / RULE_TESTS.name)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    cases = [
        case
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    alerts = {rule["alert"] for group in rules.groups() for rule in group["rules"] if "alert" in rule}
    fires = {case["alertname"] for case in cases if case["exp_alerts"]}
    silent = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert alerts == fires == silent


RUNBOOKS = ROOT / "docs" / "runbooks"


def test_every_alert_has_a_runbook_that_says_what_it_means_how_to_confirm_and_what_to_do():
    pages = {alert.runbook or alert.name for alert in rules.alerts()}
    assert {path.stem for path in RUNBOOKS.glob("*.md")} == pages, "one page per kind of alert, none orphaned"
    for page in pages:
        text = (RUNBOOKS / f"{page}.md").read_text()
        sections = re.findall(r"^## (.+)$", text, re.MULTILINE)
        assert sections == ["What it means", "How to confirm", "What to do"], page
    for group in rules.groups("https://git.example.com/airglow/blob/v1/docs/runbooks"):
        for rule in group["rules"]:
            if "alert" in rule:
                url = rule["annotations"]["runbook_url"]
                assert url.startswith("https://git.example.com/airglow/blob/v1/docs/runbooks/")
                assert (RUNBOOKS / url.rpartition("/")[2]).exists(), rule["alert"]
                assert rule["labels"]["signal"] in (rules.STATSD, rules.KUBERNETES, rules.BRIDGE)
