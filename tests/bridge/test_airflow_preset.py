"""The built-in Airflow preset: every Airflow metric, in every wire format, lands as documented."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from support.common import ROOT
from support.pipelines import PRESET, Clock, preset_pipeline, samples, send

from airglow.bridge.line import ParserOptions
from airglow.bridge.mapping import Mapper
from airglow.bridge.mapping.loader import load_mapping
from airglow.bridge.pipeline import Pipeline
from airglow.bridge.presets.generate import Metric, load_catalogue
from airglow.bridge.presets.wire import STATSD_TYPE, example_id
from airglow.bridge.registry import Registry
from airglow.bridge.selfmetrics import SelfMetrics
from airglow.bridge.settings import build_parser, settings_from_args

CATALOGUE = load_catalogue()
TABLE_ROW = re.compile(r"^\| `([^`]+)` \| [^|]* \| `([^`]+)` \| (\w+) \| ([^|]*) \| [^|]* \|$")


def documented() -> dict[str, tuple[str, str, set[str]]]:
    table = {}
    for line in (ROOT / "docs" / "airflow-metrics.md").read_text().splitlines():
        match = TABLE_ROW.match(line)
        if match:
            metric, name, kind, labels = match.groups()
            table[metric] = (name, kind, set(re.findall(r"`(\w+)`", labels)))
    return table


DOCUMENTED = documented()


def event_lines(metric: Metric, config: str) -> tuple[list[str], dict[str, str]]:
    """What Airflow sends for one event of ``metric`` under ``config``, and the labels it must count under.

    Ids are distinctive per variable; the task id is a task-group id (with a dot) where the metric has one.
    """
    stat = STATSD_TYPE[metric.type]
    ids = {v: example_id(v) for v in metric.name_variables}
    if "task_id" in ids:
        ids["task_id"] = "grp.sub.task"
    if metric.templated:
        name = metric.name.format_map(ids)
        return [f"airflow.{name}:1|{stat}"], ids
    if not metric.has_legacy:
        tags = {t: example_id(t) for t in metric.tags}
        dog = ",".join(f"{k}:{v}" for k, v in tags.items())
        return {
            "plain": ([f"airflow.{metric.name}:1|{stat}"], {}),
            "dogstatsd": ([f"airflow.{metric.name}:1|{stat}" + (f"|#{dog}" if dog else "")], tags),
            "dogstatsd with tags": (
                [f"airflow.{metric.name}:1|{stat}|#{dog + ',' if dog else ''}deployment:prod"],
                {**tags, "deployment": "prod"},
            ),
            "prefix": ([f"prod-eu.{metric.name}:1|{stat}"], {"deployment": "prod-eu"}),
        }.get(config, ([f"airflow.{metric.name}:1|{stat}"], {}))
    escaped = metric.legacy_name.format_map({k: v.replace(".", "__") for k, v in ids.items()})
    dotted = metric.legacy_name.format_map(ids)
    legacy, tagged = f"airflow.{escaped}:1|{stat}", f"airflow.{metric.name}:1|{stat}"
    dog = ",".join(f"{k}:{v}" for k, v in ids.items())
    influx = ",".join(f"{k}={v}" for k, v in ids.items())
    return {
        "plain": ([legacy, tagged], ids),
        "plain, legacy names off": ([tagged], {}),
        "plain, airflow 2 (raw dots)": ([f"airflow.{dotted}:1|{stat}", tagged], ids),
        "dogstatsd": ([legacy, f"{tagged}|#{dog}"], ids),
        "dogstatsd, legacy names off": ([f"{tagged}|#{dog}"], ids),
        "dogstatsd with tags": (
            [f"{legacy}|#deployment:prod", f"{tagged}|#{dog},deployment:prod"],
            {**ids, "deployment": "prod"},
        ),
        "dogstatsd, twins out of order": ([f"{tagged}|#{dog}", legacy], ids),
        "influxdb": ([legacy, f"airflow.{metric.name},{influx}:1|{stat}"], ids),
        "prefix": (
            [f"prod-eu.{escaped}:1|{stat}", f"prod-eu.{metric.name}:1|{stat}"],
            {**ids, "deployment": "prod-eu"},
        ),
    }[config]


CONFIGS = (
    "plain",
    "plain, legacy names off",
    "plain, airflow 2 (raw dots)",
    "dogstatsd",
    "dogstatsd, legacy names off",
    "dogstatsd with tags",
    "dogstatsd, twins out of order",
    "influxdb",
    "prefix",
)
CASES = [
    pytest.param(m, config, id=f"{m.name}/{config}")
    for m in CATALOGUE.metrics
    for config in (CONFIGS if m.has_legacy else ("plain", "dogstatsd", "dogstatsd with tags", "prefix"))
    if not (m.templated and config != "plain")
]


@pytest.mark.parametrize(("metric", "config"), CASES)
def test_every_airflow_event_counts_once_as_documented(metric: Metric, config: str) -> None:
    name, kind, documented_labels = DOCUMENTED[metric.name]
    clock = Clock()
    pipeline = preset_pipeline(clock)
    lines, labels = event_lines(metric, config)
    send(pipeline, *lines)
    clock.now += 4 * pipeline.twins.window + 0.1  # the longest wait: a bare event, two to four windows
    pipeline.expire()
    mapped = {key: value for key, value in samples(pipeline).items() if key[0].startswith("airflow_")}
    suffix = {"counter": "", "gauge": "", "histogram": "_count"}[kind]
    counted = {key: value for key, value in mapped.items() if key[0] == name + suffix}
    assert counted == {(name + suffix, tuple(sorted(labels.items()))): 1.0}, (lines, mapped)
    assert set(labels) <= documented_labels | {"deployment"}
    for series_name, _ in mapped:
        assert "Id7" not in series_name and "prod" not in series_name and "grp" not in series_name
    assert pipeline.twins.held == 0


def test_every_metric_is_documented_once() -> None:
    assert set(DOCUMENTED) == {m.name for m in CATALOGUE.metrics}
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


def _mapping(*args: str):
    """The mapping the bridge loads for these flags."""
    settings = _settings(*args)
    return load_mapping(settings.mapping_config, settings.preset)


def test_a_users_file_alongside_the_preset_comes_first(tmp_path) -> None:
    mapping = tmp_path / "mine.yml"
    mapping.write_text(
        "mappings:\n- match: airflow.ti.finish.*.*.*\n  name: my_finish\n  labels:\n    dag: $1\n"
    )
    config = _mapping(f"--statsd.mapping-config={mapping}", "--airglow.preset=airflow")
    mapper = Mapper(config)
    assert mapper.lookup("airflow.ti.finish.d.t.success", "counter").name == "my_finish"
    assert mapper.lookup("airflow.ti.start.d.t", "counter").name == "airflow_ti_start_total"
    assert config.rules[0].source == str(mapping) and config.rules[1].source == "<built-in preset airflow>"
    assert [rule.index for rule in config.rules] == list(range(len(config.rules)))


def test_preset_selection() -> None:
    assert _mapping().rules == PRESET.rules
    assert _mapping("--airglow.preset=none").rules == ()


def test_unknown_metrics_kept_by_default_or_dropped(tmp_path) -> None:
    for flag, expected in (("keep", {("something_else", ()): 1.0}), ("drop", {})):
        mapper = Mapper(PRESET, drop_unmapped=_settings(f"--airglow.unmapped={flag}").drop_unmapped)
        pipeline = Pipeline(ParserOptions(), mapper, Registry(), SelfMetrics(), clock=Clock())
        send(pipeline, "something.else:1|c")
        assert {k: v for k, v in samples(pipeline).items() if k[0] == "something_else"} == expected
