"""Build the Airflow preset, its documentation and the chart-mapping migration table from the catalogue.

    python -m airglow.bridge.presets.generate                 # write bridge/presets/airflow.yml, chart_migration.json,
                                                      # docs/airflow-metrics.md
    python -m airglow.bridge.presets.generate --check         # exit 1 naming every stale file (CI)
    python -m airglow.bridge.presets.generate --from-airflow  # first refresh the catalogue's registry from the
                                                      # installed Airflow's metrics_template.yaml

Every Airflow metric becomes: a rule for its tagged name (ids as tags) and, when it has one, rules for its
legacy name (ids in the name: a glob, or a regex where an id shares a segment, and a regex that lets a task id
carry dots, for Airflow 2's task groups). The two forms of one event are marked as twins (``airglow: twin``)
so the bridge counts the event once (see bridge.twins).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from airglow.bridge.errors import ConfigError
from airglow.bridge.line import Event
from airglow.bridge.mapping import Mapper, parse_mapping_yaml
from airglow.bridge.mapping.config import MappingConfig
from airglow.bridge.presets.wire import WireForm, wire_forms
from airglow.bridge.resolve import DROP, resolve

PRESETS = Path(__file__).resolve().parent
CATALOGUE = PRESETS / "catalogue" / "airflow.yml"
CHART_MAPPING = PRESETS / "catalogue" / "airflow-chart-statsd-mappings.yml"
PRESET = PRESETS / "airflow.yml"
MIGRATION = PRESETS / "chart_migration.json"
DOCS = PRESETS.parents[1] / "docs" / "airflow-metrics.md"

PREFIX = "airflow"
_VARIABLE = re.compile(r"\{(\w+)\}")
_SUFFIX = {"counter": "_total", "timer": "_seconds", "gauge": ""}
_MATCH_TYPE = {"counter": "counter", "timer": "observer", "gauge": "gauge"}
_KIND = {"counter": "counter", "timer": "histogram", "gauge": "gauge"}
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 10800]
# Native histograms beside the classic buckets (statsd_exporter's starter values): a scraper that asks for
# the protobuf format gets one series per histogram, with about 9% resolution.
NATIVE_BUCKET_FACTOR, NATIVE_MAX_BUCKETS = 1.1, 160
TASK_TTL = "1h"


@dataclass(frozen=True)
class Metric:
    """One Airflow metric: ``name`` is the tagged name (it may hold ``{ids}`` when it has no tagged form)."""

    name: str
    type: str
    legacy_name: str
    name_variables: tuple[str, ...]
    description: str
    origin: str
    tags: tuple[str, ...]

    @property
    def has_legacy(self) -> bool:
        return self.legacy_name != "-"

    @property
    def templated(self) -> bool:
        """A name with ids in it and no tagged form (e.g. Airflow 2's ``task.cpu_usage.{dag_id}.{task_id}``)."""
        return "{" in self.name


@dataclass(frozen=True)
class Naming:
    prometheus_names: dict[str, str]
    task_level_labels: frozenset[str]
    dogstatsd_seconds: frozenset[str]


@dataclass(frozen=True)
class Catalogue:
    registry_version: str
    metrics: tuple[Metric, ...]
    naming: Naming


def load_catalogue(path: Path = CATALOGUE) -> Catalogue:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    tags = data["tags"]
    later = data["later_legacy_names"]

    def metric(entry: dict, origin: str) -> Metric:
        legacy = entry.get("legacy_name") or "-"
        if legacy == "-" and entry["name"] in later:
            legacy = later[entry["name"]]
        variables = _VARIABLE.findall(legacy if legacy != "-" else entry["name"])
        return Metric(
            entry["name"],
            entry["type"],
            legacy,
            tuple(variables),
            " ".join(str(entry.get("description", "")).replace("``", "`").split()),
            origin,
            tuple(tags.get(entry["name"], ())),
        )

    registry = data["registry"]
    metrics = [metric(m, f"airflow {registry['version']}") for m in registry["metrics"]]
    metrics += [metric(m, m["origin"]) for m in data["beyond_registry"]]
    naming = data["naming"]
    return Catalogue(
        registry["version"],
        tuple(metrics),
        Naming(
            naming["prometheus_names"],
            frozenset(naming["task_level_labels"]),
            frozenset(naming["dogstatsd_seconds"]),
        ),
    )


def prometheus_name(metric: Metric, naming: Naming) -> str:
    base = naming.prometheus_names.get(metric.name)
    if base is None:
        base = re.sub(r"\.\{\w+\}", "", metric.name).removeprefix(f"{PREFIX}.")
        if "{" in base:
            raise ConfigError(
                str(CATALOGUE), 0, f"{metric.name}: an id inside a name segment needs a naming entry"
            )
    return f"{PREFIX}_{re.sub(r'[^a-zA-Z0-9_]', '_', base)}{_SUFFIX[metric.type]}"


def _help(metric: Metric) -> str:
    first = re.split(r"(?<=[a-z)`])\. ", metric.description, maxsplit=1)[0].rstrip(".")
    return first.replace("`", "") or metric.name


def _labels(variables: tuple[str, ...]) -> dict[str, str]:
    return {v: f"${i}" for i, v in enumerate(variables, 1)}


def _pattern(template: str, task_id_dots: bool) -> tuple[str, str]:
    """(match, match_type) for a wire name with ``{ids}``: a glob when every id is a whole segment."""
    segments = template.split(".")
    if not task_id_dots and all(_VARIABLE.fullmatch(s) or "{" not in s for s in segments):
        return ".".join("*" if "{" in s else s for s in segments), "glob"
    parts = []
    for piece in re.split(r"(\{\w+\})", template):
        variable = _VARIABLE.fullmatch(piece)
        if variable:
            parts.append("(.+)" if task_id_dots and variable.group(1) == "task_id" else "([^.]+)")
        else:
            parts.append(re.escape(piece))
    return "^" + "".join(parts) + "$", "regex"


def _rule(metric: Metric, naming: Naming, match: str, match_type: str, **extra) -> dict:
    rule: dict = {"match": match}
    if match_type != "glob":
        rule["match_type"] = match_type
    rule["match_metric_type"] = _MATCH_TYPE[metric.type]
    rule["name"] = prometheus_name(metric, naming)
    rule["help"] = _help(metric)
    rule.update({k: v for k, v in extra.items() if k != "airglow" and v})
    labelled = set(metric.name_variables) | set(metric.tags)
    if labelled & naming.task_level_labels:
        rule["ttl"] = TASK_TTL
    airglow = extra.get("airglow") or {}
    if metric.type == "timer" and metric.name in naming.dogstatsd_seconds:
        airglow = {**airglow, "dogstatsd_scale": 1000}
    if airglow:
        rule["airglow"] = airglow
    return rule


def preset_rules(catalogue: Catalogue) -> list[dict]:
    """Globs first (ids in the name, then tagged names), then regexes: the order the mapper resolves best."""
    naming = catalogue.naming
    named: list[dict] = []
    tagged: list[dict] = []
    regexes: list[dict] = []
    dotted: list[dict] = []
    for metric in catalogue.metrics:
        template = metric.legacy_name if metric.has_legacy else metric.name
        if metric.has_legacy or metric.templated:
            labels = _labels(metric.name_variables)
            airglow = (
                {"twin": {"tagged": f"{PREFIX}.{metric.name}"}, "unescape_ids": True}
                if metric.has_legacy
                else {}
            )
            match, match_type = _pattern(f"{PREFIX}.{template}", task_id_dots=False)
            rule = _rule(metric, naming, match, match_type, labels=labels, airglow=airglow)
            (named if match_type == "glob" else regexes).append(rule)
            if "task_id" in metric.name_variables:
                match, _ = _pattern(f"{PREFIX}.{template}", task_id_dots=True)
                dotted.append(_rule(metric, naming, match, "regex", labels=labels, airglow=airglow))
        if not metric.templated:
            airglow = {"twin": {"legacy": f"{PREFIX}.{metric.legacy_name}"}} if metric.has_legacy else {}
            tagged.append(_rule(metric, naming, f"{PREFIX}.{metric.name}", "glob", airglow=airglow))
    return named + tagged + regexes + dotted + [DOGSTATSD_CLIENT_RULE]


# Airflow's DogStatsD senders also report on themselves (datadog.dogstatsd.client.packets_dropped, ...).
DOGSTATSD_CLIENT_RULE = {
    "match": "datadog.dogstatsd.client.*",
    "match_metric_type": "counter",
    "name": "dogstatsd_client_${1}_total",
    "help": "The DogStatsD client's own telemetry, from Airflow processes that send DogStatsD",
}


class _PlainDumper(yaml.SafeDumper):
    """Writes a rule's shared options out in full: no anchors or aliases in a file people read."""

    def ignore_aliases(self, data) -> bool:
        return True


PRESET_HEADER = """\
# Airglow's built-in Airflow mapping (Airflow 2.7+ and 3.x), used when no --statsd.mapping-config is given.
# GENERATED by `python -m airglow.bridge.presets.generate` from bridge/presets/catalogue/airflow.yml (Airflow {version}'s
# metric registry and what Airflow 2.x and later 3.x releases send): edit the catalogue, not this file.
#
# Names: airflow_<metric>, counters with _total, timers as histograms in seconds (5 ms to 3 h buckets), so
# fleet-wide percentiles are histogram_quantile(0.95, sum by (le) (rate(airflow_..._seconds_bucket[5m]))).
# Timers are native histograms too (factor 1.1, at most 160 buckets) for a Prometheus that scrapes protobuf
# (--enable-feature=native-histograms): histogram_quantile(0.95, sum(rate(airflow_..._seconds[5m]))).
# No id stays in a metric name: dag_id, task_id, state, pool_name, ... are labels.
#
# `airglow:` keys are Airglow extensions:
#   twin: Airflow sends an event under its legacy name (ids in the name) and its tagged name (ids as tags);
#     the two rules name each other and the bridge counts the event once, whatever the sender's settings.
#   unescape_ids: Airflow 3.3 writes the dots of ids as `__` in legacy names; labels get the dots back.
#   dogstatsd_scale: DogStatsD senders emit these timers in seconds under |ms.
"""


def render_preset(catalogue: Catalogue) -> str:
    document = {
        "defaults": {
            "observer_type": "histogram",
            "histogram_options": {
                "buckets": BUCKETS,
                "native_histogram_bucket_factor": NATIVE_BUCKET_FACTOR,
                "native_histogram_max_buckets": NATIVE_MAX_BUCKETS,
            },
        },
        "mappings": preset_rules(catalogue),
    }
    body = yaml.dump(document, Dumper=_PlainDumper, sort_keys=False, width=120, default_flow_style=None)
    return PRESET_HEADER.format(version=catalogue.registry_version) + body


def _label_list(metric: Metric) -> list[str]:
    labels = list(metric.name_variables)
    labels += [t for t in metric.tags if t not in labels]
    return [*labels, "deployment"]


DOCS_HEADER = """\
# Prometheus metrics of the built-in Airflow preset

GENERATED by `python -m airglow.bridge.presets.generate` from `bridge/presets/catalogue/airflow.yml`: every metric of
Airflow {version}'s own registry, the metrics of Airflow 2.x that 3.x dropped and those of later 3.x releases.
`tests/bridge/test_airflow_preset.py` sends every metric below in every wire format Airflow uses and checks that
it lands under this name with these labels.

- Names: `airflow_<metric>`; counters end in `_total`; timers are histograms in seconds (`_seconds`, buckets
  from 5 ms to 3 h), and native histograms as well (bucket factor 1.1, at most 160 buckets) for a Prometheus
  that scrapes the protobuf format. No dag, task, pool, file, executor, operator or job id is part of a name.
- Labels: the tags of the tagged name, or the ids of the legacy name. Every series has `deployment`: from a
  tag, the statsd prefix, the sender's pod or `--airglow.deployment`, else `unknown` (the bridge logs how to
  set it).
- Twins: with `[metrics] legacy_names_on = True` (Airflow's default) Airflow sends each event under both names.
  The bridge pairs them per sender and counts the event once, on the series both forms name (a plain-statsd
  tagged form, which has no ids, defers to its legacy twin). A twin lost on UDP, late or out of order is
  neither lost nor counted twice; see "Twins" in the README and `airglow_bridge_twin_events_total`.
- Ids with dots: Airflow 3.3 writes a task-group id `grp.task` as `grp__task` in legacy names; the label reads
  `grp.task` again (Airflow's own `__<n>` suffix of a repeated task id stays). Airflow 2 keeps the dots: the dag
  id is the first segment and the task id the rest up to the metric's suffix.
- Task-level series (with `dag_id` or `task_id`) expire after 1 h without samples, so the series of finished
  task pods go away.

| Airflow metric (tagged name) | legacy name | Prometheus metric | type | labels | sent by |
|---|---|---|---|---|---|
"""


def render_docs(catalogue: Catalogue) -> str:
    naming = catalogue.naming
    rows = []
    for metric in catalogue.metrics:
        legacy = f"`{metric.legacy_name}`" if metric.has_legacy else ""
        labels = ", ".join(f"`{label}`" for label in _label_list(metric))
        rows.append(
            f"| `{metric.name}` | {legacy} | `{prometheus_name(metric, naming)}` | {_KIND[metric.type]} | "
            f"{labels} | {metric.origin} |"
        )
    migration = render_migration_markdown(migration_table(catalogue))
    return DOCS_HEADER.format(version=catalogue.registry_version) + "\n".join(rows) + "\n" + migration


@dataclass(frozen=True)
class MigrationRow:
    """One rule of the official chart's statsd_exporter mapping, and where the preset puts the same line."""

    chart_match: str
    chart_name: str
    chart_labels: tuple[str, ...]
    example: str
    preset_name: str
    preset_labels: tuple[str, ...]
    note: str


def _resolved(line: WireForm, mapper: Mapper) -> tuple[str, tuple[str, ...]] | None:
    resolution = resolve(Event(line.kind, line.name, 1.0, {}), mapper)
    if resolution.action == DROP or resolution.rule is None:
        return None
    return resolution.name, tuple(sorted(resolution.labels))


def migration_table(catalogue: Catalogue, chart: Path = CHART_MAPPING) -> list[MigrationRow]:
    chart_config = parse_mapping_yaml(chart.read_text(encoding="utf-8"), str(chart))
    preset = Mapper(parse_mapping_yaml(render_preset(catalogue), "<preset>"))
    forms = [
        form
        for metric in catalogue.metrics
        for form in wire_forms(metric.name, metric.legacy_name, metric.type)
    ]
    rows = []
    for rule in chart_config.rules:
        alone = Mapper(MappingConfig(chart_config.source, chart_config.defaults, (rule,)))
        matched = [(form, found) for form in forms if (found := _resolved(form, alone)) is not None]
        if matched:
            form, (chart_name, chart_labels) = matched[0]
            note = ""
        else:  # a rule no Airflow line matches: show where the lines it was written for go
            stem = rule.match.split("*")[0]
            nearest = next((f for f in forms if f.name.startswith(stem)), None)
            if nearest is None:
                rows.append(
                    MigrationRow(rule.match, rule.name, (), "", "", (), "matches nothing Airflow sends")
                )
                continue
            form = nearest
            chart_name, chart_labels, note = (
                rule.name,
                (),
                "matches nothing Airflow sends; the nearest line it sends",
            )
        preset_name, preset_labels = _resolved(form, preset) or ("", ())
        rows.append(
            MigrationRow(rule.match, chart_name, chart_labels, form.line, preset_name, preset_labels, note)
        )
    return rows


def render_migration_markdown(rows: list[MigrationRow]) -> str:
    out = [
        "",
        "## From the official chart's statsd_exporter mapping",
        "",
        "For dashboards and alerts written for `prometheus/statsd_exporter` with the Airflow Helm chart's",
        "`files/statsd-mappings.yml`: each rule of that mapping, a line it matches, and where the preset puts that",
        "line (`airglow-bridge explain --migration` prints the same table). Chart timers are summaries in",
        "seconds; the preset's are histograms (`_seconds_bucket`, `_sum`, `_count`), and its counters end in `_total`.",
        "",
        "| chart rule | chart metric | chart labels | example line | preset metric | preset labels |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        line = row.example.replace("|", "\\|")  # a pipe ends a table cell, even in code
        example = f"{row.note}: `{line}`" if row.note else f"`{line}`"
        preset = f"`{row.preset_name}`" if row.preset_name else "(not mapped)"
        out.append(
            f"| `{row.chart_match}` | `{row.chart_name}` | {', '.join(row.chart_labels)} | {example} | "
            f"{preset} | {', '.join(row.preset_labels)} |"
        )
    return "\n".join(out) + "\n"


def render_migration_json(rows: list[MigrationRow]) -> str:
    return json.dumps([row.__dict__ for row in rows], indent=1) + "\n"


def refresh_registry(catalogue_path: Path = CATALOGUE) -> str:
    """Replace the catalogue's registry by the installed Airflow's; returns that Airflow's version."""
    try:
        import airflow
        from airflow._shared.observability.metrics import metrics_registry
    except ImportError as exc:
        raise ConfigError("--from-airflow", 0, f"needs Airflow 3.3+ installed ({exc})") from exc
    template = Path(metrics_registry.__file__).with_name("metrics_template.yaml")
    registry = yaml.safe_load(template.read_text(encoding="utf-8"))["metrics"]
    keys = ("name", "type", "legacy_name", "name_variables", "description")
    entries = [{k: m[k] for k in keys if k in m} for m in registry]
    text = catalogue_path.read_text(encoding="utf-8")
    head, _, rest = text.partition("\nregistry:\n")
    _, _, tail = rest.partition("\nbeyond_registry:\n")
    section = yaml.safe_dump(
        {"registry": {"version": airflow.__version__, "metrics": entries}}, sort_keys=False, width=120
    )
    catalogue_path.write_text(f"{head}\n{section}\nbeyond_registry:\n{tail}", encoding="utf-8")
    return airflow.__version__


def outputs(catalogue: Catalogue) -> dict[Path, str]:
    rows = migration_table(catalogue)
    return {
        PRESET: render_preset(catalogue),
        MIGRATION: render_migration_json(rows),
        DOCS: render_docs(catalogue),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m airglow.bridge.presets.generate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming every stale file")
    parser.add_argument(
        "--from-airflow", action="store_true", help="first refresh the catalogue from the installed Airflow"
    )
    args = parser.parse_args(argv)
    try:
        if args.from_airflow:
            print(f"catalogue registry refreshed from Airflow {refresh_registry()}", file=sys.stderr)
        generated = outputs(load_catalogue())
    except ConfigError as exc:
        print(f"generate: error: {exc}", file=sys.stderr)
        return 2
    stale = [path for path, text in generated.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"stale: {path} (run python -m airglow.bridge.presets.generate)", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(generated[path], encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
