"""The built-in Airflow preset: every Airflow metric, in every wire format, lands as documented."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from conftest import DATA, ROOT
from test_exporter import Clock, samples, send

from bridge.app import load_mapping
from bridge.fleet import FleetIdentity
from bridge.line import ParserOptions
from bridge.mapping import Mapper
from bridge.pipeline import Pipeline
from bridge.registry import Registry
from bridge.selfmetrics import SelfMetrics
from bridge.settings import build_parser, settings_from_args

METRICS = json.loads((DATA / "airflow_metrics.json").read_text())["metrics"]
STAT = {"counter": "c", "gauge": "g", "timer": "ms"}
TABLE_ROW = re.compile(r"^\| `([^`]+)` \| [^|]* \| `([^`]+)` \| (\w+) \| (.*) \|$")


def documented() -> dict[str, tuple[str, str, set[str]]]:
    table = {}
    for line in (ROOT / "docs" / "airflow-metrics.md").read_text().splitlines():
        match = TABLE_ROW.match(line)
        if match:
            metric, name, kind, labels = match.groups()
            table[metric] = (name, kind, set(re.findall(r"`(\w+)`", labels)))
    return table


DOCUMENTED = documented()


def value_for(variable: str) -> str:
    """A distinctive id per variable, so that an id leaking into a metric name is caught."""
    return f"{variable.replace('_', '')}Id7"


PRESET = load_mapping(settings_from_args(build_parser().parse_args([])))


def preset_pipeline() -> Pipeline:
    mapper = Mapper(PRESET)
    return Pipeline(
        ParserOptions(), mapper, Registry(), SelfMetrics(), FleetIdentity(from_prefix=True), clock=Clock()
    )


def forms(metric: dict) -> list[tuple[str, str, dict[str, str] | None]]:
    """(form, wire line, expected labels or None when the twin is dropped)."""
    stat = STAT[metric["type"]]
    name, legacy, tags = metric["name"], metric["legacy_name"], metric["tags"]
    out = []
    templated = name if "{" in name else legacy
    if templated and "{" in templated:
        variables = re.findall(r"\{(\w+)\}", templated)
        wire = templated.format(**{v: value_for(v) for v in variables})
        labels = {
            ("operator" if v == "operator_name" and "{" in name else v): value_for(v) for v in variables
        }
        if templated is legacy:
            labels = {("operator" if v == "operator_name" else v): value_for(v) for v in variables}
        out.append(("plain legacy", f"airflow.{wire}:1|{stat}", labels))
        if templated is legacy:
            out.append(("dogstatsd legacy twin", f"airflow.{wire}:1|{stat}|#deployment:prod", None))
            if "task_id" in variables:
                dotted = templated.format(
                    **{v: value_for(v) if v != "task_id" else "grp.sub.task" for v in variables}
                )
                out.append(
                    (
                        "plain legacy, task group",
                        f"airflow.{dotted}:1|{stat}",
                        {**labels, "task_id": "grp.sub.task"},
                    )
                )
    if "{" not in name:
        tag_values = {t: value_for(t) for t in tags}
        has_twin = bool(legacy and "{" in legacy)
        out.append(("plain tagged name", f"airflow.{name}:1|{stat}", None if has_twin and tags else {}))
        if tags:
            influx = ",".join(f"{k}={v}" for k, v in tag_values.items())
            out.append(("influxdb", f"airflow.{name},{influx}:1|{stat}", tag_values))
            dog = ",".join(f"{k}:{v}" for k, v in tag_values.items())
            out.append(
                (
                    "dogstatsd",
                    f"airflow.{name}:1|{stat}|#{dog},deployment:prod",
                    {**tag_values, "deployment": "prod"},
                )
            )
        out.append(
            (
                "prefix as deployment",
                f"prod-eu.{name}:1|{stat}" + (f"|#{dog}" if tags else ""),
                None if has_twin and not tags else {**tag_values, "deployment": "prod-eu"},
            )
        )
    return out


CASES = [
    pytest.param(m, form, line, labels, id=f"{m['name']}/{form}")
    for m in METRICS
    for form, line, labels in forms(m)
]


@pytest.mark.parametrize(("metric", "form", "line", "labels"), CASES)
def test_every_airflow_metric_lands_as_documented(metric: dict, form: str, line: str, labels) -> None:
    name, kind, documented_labels = DOCUMENTED[metric["name"]]
    pipeline = preset_pipeline()
    send(pipeline, line)
    mapped = {key: value for key, value in samples(pipeline).items() if key[0].startswith("airflow_")}
    if labels is None:
        assert mapped == {}, f"{line} should be dropped as a twin"
        assert pipeline.stats.totals()[("statsd_exporter_events_actions_total", (("action", "drop"),))] == 1
        return
    suffix = {"counter": "", "gauge": "", "histogram": "_count"}[kind]
    assert (name + suffix, tuple(sorted(labels.items()))) in mapped, (line, mapped)
    assert set(labels) <= documented_labels
    for series_name, _ in mapped:
        assert "Id7" not in series_name and "prod" not in series_name


def test_every_metric_is_documented_once() -> None:
    assert set(DOCUMENTED) == {m["name"] for m in METRICS}
    names = Counter(name for name, _, _ in DOCUMENTED.values())
    duplicated = {n for n, count in names.items() if count > 1}
    assert not duplicated, duplicated


def test_dogstatsd_seconds_timers_are_scaled() -> None:
    pipeline = preset_pipeline()
    for _ in range(3):  # the first through the full parse, the others from the line cache
        send(
            pipeline,
            "airflow.scheduler.scheduler_loop_duration:0.25|ms|#deployment:prod",
            "airflow.scheduler.scheduler_loop_duration:250|ms",
        )
    got = samples(pipeline)
    assert got[("airflow_scheduler_scheduler_loop_duration_seconds_sum", (("deployment", "prod"),))] == 0.75
    assert got[("airflow_scheduler_scheduler_loop_duration_seconds_sum", ())] == 0.75


def _settings(*args: str):
    return settings_from_args(build_parser().parse_args(list(args)))


def test_a_users_file_alongside_the_preset_comes_first(tmp_path) -> None:
    mapping = tmp_path / "mine.yml"
    mapping.write_text(
        "mappings:\n- match: airflow.ti.finish.*.*.*\n  name: my_finish\n  labels:\n    dag: $1\n"
    )
    config = load_mapping(_settings(f"--statsd.mapping-config={mapping}", "--airglow.preset=airflow"))
    mapper = Mapper(config)
    assert mapper.lookup("airflow.ti.finish.d.t.success", "counter").name == "my_finish"
    assert mapper.lookup("airflow.ti.start.d.t", "counter").name == "airflow_ti_start_total"
    assert config.rules[0].source == str(mapping) and config.rules[1].source == "<built-in preset airflow>"
    assert [rule.index for rule in config.rules] == list(range(len(config.rules)))


def test_preset_selection() -> None:
    assert load_mapping(_settings()).rules == PRESET.rules
    assert load_mapping(_settings("--airglow.preset=none")).rules == ()


def test_unknown_metrics_kept_by_default_or_dropped(tmp_path) -> None:
    for flag, expected in (("keep", {("something_else", ()): 1.0}), ("drop", {})):
        mapper = Mapper(PRESET, drop_unmapped=_settings(f"--airglow.unmapped={flag}").drop_unmapped)
        pipeline = Pipeline(ParserOptions(), mapper, Registry(), SelfMetrics(), clock=Clock())
        send(pipeline, "something.else:1|c")
        assert {k: v for k, v in samples(pipeline).items() if k[0] == "something_else"} == expected
