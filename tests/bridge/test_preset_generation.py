"""The Airflow preset is generated from Airflow's own metric registry: fresh, complete, and with a migration
table for every rule of the official chart's statsd_exporter mapping."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from support.common import DATA, ROOT

from airglow.bridge.presets import generate
from airglow.bridge.presets.generate import load_catalogue, migration_table

CATALOGUE = load_catalogue()
NAMES = {metric.name for metric in CATALOGUE.metrics}


def test_the_checked_in_preset_docs_and_migration_table_are_fresh() -> None:
    result = subprocess.run(
        ["python3", "-m", "airglow.bridge.presets.generate", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_a_stale_file_is_named(tmp_path, monkeypatch, capsys) -> None:
    stale = tmp_path / "airflow.yml"
    stale.write_text(generate.PRESET.read_text().replace("airflow_ti_finish_total", "airflow_ti_finish"))
    monkeypatch.setattr(generate, "PRESET", stale)
    assert generate.main(["--check"]) == 1
    assert str(stale) in capsys.readouterr().err


def test_the_catalogue_has_what_the_issue_names_and_what_airflow_2_dropped() -> None:
    for name in (
        "deadline_alerts.deadline_missed",
        "ti.scheduled",
        "ti.queued",
        "ti.deferred",
        "scheduler.zombies.detected",
        "kubernetes_executor.pod_creation_status",
        "triggerer.trigger_queue_delay",
        "sla_missed",
        "dataset.updates",
        "task.cpu_usage.{dag_id}.{task_id}",
    ):
        assert name in NAMES, name
    shared = json.loads((DATA / "airflow_metrics.json").read_text())["metrics"]
    assert {m["name"] for m in shared} <= NAMES


@pytest.mark.slow
def test_the_catalogue_is_airflow_3_3_2s_own_registry(airflow_bin) -> None:
    """Read the installed Airflow's metrics_template.yaml: the catalogue's registry is exactly it."""
    code = (
        "import yaml, pathlib; from airflow._shared.observability.metrics import metrics_registry as m; "
        "print(pathlib.Path(m.__file__).with_name('metrics_template.yaml').read_text())"
    )
    out = subprocess.run(
        [str(airflow_bin / "python"), "-c", code], capture_output=True, text=True, check=True
    )
    installed = yaml.safe_load(out.stdout)["metrics"]
    registry = yaml.safe_load(generate.CATALOGUE.read_text())["registry"]
    assert registry["version"] == "3.3.2"
    keys = ("name", "type", "legacy_name", "name_variables")
    assert [{k: m.get(k) for k in keys} for m in registry["metrics"]] == [
        {k: m.get(k) for k in keys} for m in installed
    ]


def test_every_metric_has_a_rule_for_each_form_airflow_sends() -> None:
    preset = yaml.safe_load(generate.PRESET.read_text())["mappings"]
    matches = {rule["match"] for rule in preset}
    for metric in CATALOGUE.metrics:
        if not metric.templated:
            assert f"airflow.{metric.name}" in matches, metric.name
    twins = [rule for rule in preset if "twin" in rule.get("airglow", {})]
    tagged = {rule["airglow"]["twin"].get("tagged") for rule in twins} - {None}
    assert tagged <= {f"airflow.{m.name}" for m in CATALOGUE.metrics if m.has_legacy}
    assert len(tagged) == len([m for m in CATALOGUE.metrics if m.has_legacy])


def test_the_migration_table_covers_every_rule_of_the_chart_mapping() -> None:
    chart = yaml.safe_load((DATA / "airflow_chart_statsd_mappings.yml").read_text())["mappings"]
    rows = migration_table(CATALOGUE, DATA / "airflow_chart_statsd_mappings.yml")
    assert [row.chart_match for row in rows] == [rule["match"] for rule in chart]
    for row in rows:
        assert row.preset_name.startswith("airflow_"), row
        assert row.example
    by_match = {row.chart_match: row for row in rows}
    assert by_match["airflow.dag.*.*.duration"].preset_name == "airflow_task_duration_seconds"
    assert set(by_match["airflow.dag.*.*.duration"].preset_labels) == {"dag_id", "task_id"}


def test_explain_prints_the_migration_table() -> None:
    result = subprocess.run(
        ["python3", "-m", "airglow.bridge", "explain", "--migration", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == len(
        yaml.safe_load((DATA / "airflow_chart_statsd_mappings.yml").read_text())["mappings"]
    )
