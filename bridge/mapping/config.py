"""Load and validate statsd_exporter's mapping YAML, once, with file and line in every error."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from airglow.bridge.errors import ConfigError
from airglow.bridge.gofloat import parse_float
from airglow.bridge.mapping.durations import parse_go_duration
from airglow.bridge.mapping.regex import compile_regex
from airglow.bridge.names import label_names_error

COUNTER, GAUGE, OBSERVER = "counter", "gauge", "observer"
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DEFAULT_QUANTILES = ((0.5, 0.05), (0.9, 0.01), (0.99, 0.001))
DEFAULT_SUMMARY_MAX_AGE = 600.0
DEFAULT_SUMMARY_AGE_BUCKETS = 5

_GLOB = re.compile(r"(\*|[a-zA-Z_][a-zA-Z0-9_\-]*)(\.\*|\.[a-zA-Z0-9_][a-zA-Z0-9_\-]*)*\Z")
_TEMPLATE_REF = r"\$\{?\d+\}?"
_METRIC_NAME = re.compile(rf"([a-zA-Z_]|{_TEMPLATE_REF})([a-zA-Z0-9_]|{_TEMPLATE_REF})*\Z")
# statsd_exporter requires label names of at least two characters; kept for compatibility.
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]+\Z")

_DEFAULT_KEYS = {
    "observer_type",
    "match_type",
    "glob_disable_ordering",
    "ttl",
    "summary_options",
    "histogram_options",
}
_RULE_KEYS = {
    "match",
    "name",
    "labels",
    "honor_labels",
    "observer_type",
    "match_type",
    "help",
    "action",
    "match_metric_type",
    "ttl",
    "summary_options",
    "histogram_options",
    "scale",
    "airglow",
}
_HISTOGRAM_KEYS = {"buckets", "native_histogram_bucket_factor", "native_histogram_max_buckets"}
_SUMMARY_KEYS = {"quantiles", "max_age", "age_buckets", "buf_cap"}
_QUANTILE_KEYS = {"quantile", "error"}
_AIRGLOW_KEYS = {"twin", "dogstatsd_scale", "unescape_ids"}
_TWIN_KEYS = {"tagged", "legacy"}
# Bounds that make a hostile or broken mapping file fail fast (statsd_exporter's own files are far smaller).
MAX_MAPPING_BYTES = 4 * 2**20
MAX_YAML_DEPTH = 64
MAX_YAML_ALIASES = 10_000
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPENING_TOKENS = (
    yaml.BlockMappingStartToken,
    yaml.BlockSequenceStartToken,
    yaml.FlowMappingStartToken,
    yaml.FlowSequenceStartToken,
)
_CLOSING_TOKENS = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
_TEMPLATE_FIELD = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")


@dataclass(frozen=True)
class HistogramOptions:
    """Classic buckets, and native buckets when ``native_factor`` > 1 (statsd_exporter's
    ``native_histogram_bucket_factor``; ``native_max_buckets`` 0: the bridge's default limit)."""

    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    native_factor: float = 0.0
    native_max_buckets: int = 0

    @property
    def native(self) -> bool:
        return self.native_factor > 1


@dataclass(frozen=True)
class SummaryOptions:
    quantiles: tuple[tuple[float, float], ...] = DEFAULT_QUANTILES
    max_age: float = DEFAULT_SUMMARY_MAX_AGE
    age_buckets: int = DEFAULT_SUMMARY_AGE_BUCKETS


@dataclass(frozen=True)
class Twin:
    """One event sent under two names (Airflow's legacy and tagged forms), counted once (see bridge.twins).

    On a legacy-name rule ``tagged`` names the tagged twin (``airflow.ti.finish``); on a tagged-name rule
    ``legacy`` is the legacy name as a template of tag names (``airflow.ti.finish.{dag_id}.{task_id}.{state}``).
    """

    tagged: str = ""
    legacy: str = ""


@dataclass(frozen=True)
class AirglowOptions:
    """Airglow's ``airglow:`` rule keys: ``twin`` (above); ``dogstatsd_scale``, a factor for DogStatsD-tagged
    samples (senders that put seconds under ``|ms``); ``unescape_ids``: label values taken from the name
    read ``__`` as ``.`` (Airflow 3.3 escapes the dots of task-group ids in legacy names), except Airflow's
    own ``__<n>`` suffix of repeated task ids."""

    twin: Twin | None = None
    dogstatsd_scale: float | None = None
    unescape_ids: bool = False


@dataclass(frozen=True)
class Rule:
    """One entry of ``mappings``, with defaults applied; ``index`` is its position in the file."""

    index: int
    line: int
    match: str
    match_type: str
    name: str
    labels: tuple[tuple[str, str], ...] = ()
    help: str = ""
    action: str = "map"
    match_metric_type: str = ""
    observer_type: str = "summary"
    histogram: HistogramOptions = HistogramOptions()
    summary: SummaryOptions = SummaryOptions()
    ttl: float = 0.0
    honor_labels: bool = False
    scale: float | None = None
    airglow: AirglowOptions = AirglowOptions()
    source: str = ""


@dataclass(frozen=True)
class Defaults:
    observer_type: str = "summary"
    match_type: str = "glob"
    glob_disable_ordering: bool = False
    ttl: float = 0.0
    histogram: HistogramOptions = HistogramOptions()
    summary: SummaryOptions = SummaryOptions()


@dataclass(frozen=True)
class MappingConfig:
    source: str
    defaults: Defaults = Defaults()
    rules: tuple[Rule, ...] = field(default_factory=tuple)


def merge_configs(configs: list[MappingConfig]) -> MappingConfig:
    """Rules of every config in order (earlier ones win), under the first config's defaults."""
    rules = [rule for config in configs for rule in config.rules]
    return MappingConfig(
        " + ".join(c.source for c in configs),
        configs[0].defaults,
        tuple(replace(rule, index=index) for index, rule in enumerate(rules)),
    )


def load_mapping_file(path: str | Path) -> MappingConfig:
    """Read and validate a mapping file; every problem is a ConfigError naming the file."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_MAPPING_BYTES + 1)
    except OSError as exc:
        raise ConfigError(str(path), 0, f"cannot read mapping file: {exc.strerror or exc}") from exc
    if len(data) > MAX_MAPPING_BYTES:
        raise ConfigError(str(path), 0, f"mapping file larger than {MAX_MAPPING_BYTES // 2**20} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(str(path), line, "not UTF-8 text") from exc
    return parse_mapping_yaml(text, str(path))


def parse_mapping_yaml(text: str, source: str = "<mapping>") -> MappingConfig:
    if len(text) > MAX_MAPPING_BYTES:
        raise ConfigError(source, 0, f"mapping larger than {MAX_MAPPING_BYTES // 2**20} MiB")
    root = _compose(text, source)
    reader = _Reader(source)
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag.endswith(":null")):
        return MappingConfig(source)
    top = reader.mapping(root, {"defaults", "mappings"}, "top level")
    defaults = reader.defaults(top["defaults"]) if "defaults" in top else Defaults()
    rules: list[Rule] = []
    if "mappings" in top and not reader.is_null(top["mappings"]):
        for index, node in enumerate(reader.sequence(top["mappings"], "mappings")):
            rules.append(reader.rule(index, node, defaults))
    return MappingConfig(source, defaults, tuple(rules))


def _compose(text: str, source: str) -> yaml.Node | None:
    """The YAML node tree; nesting and aliases are checked on the token stream first, since composing
    recurses per level and a deep or alias-heavy file must fail fast, with its line, not exhaust the stack."""
    try:
        depth = aliases = 0
        for token in yaml.scan(text, Loader=_LOADER):
            if isinstance(token, _OPENING_TOKENS):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise ConfigError(
                        source, token.start_mark.line + 1, f"nested deeper than {MAX_YAML_DEPTH}"
                    )
            elif isinstance(token, _CLOSING_TOKENS):
                depth -= 1
            elif isinstance(token, yaml.AliasToken):
                aliases += 1
                if aliases > MAX_YAML_ALIASES:
                    raise ConfigError(
                        source, token.start_mark.line + 1, f"more than {MAX_YAML_ALIASES} aliases"
                    )
        return yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(source, mark.line + 1 if mark else 0, f"invalid YAML: {exc.problem}") from exc
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        raise ConfigError(source, line, f"invalid YAML: character {char!r} is not allowed") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(source, 0, f"invalid YAML: {exc}") from exc


class _Reader:
    """Walks composed YAML nodes, so that each error names the line of the offending node."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, reason: str) -> ConfigError:
        return ConfigError(self.source, node.start_mark.line + 1, reason)

    def is_null(self, node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")

    def mapping(self, node: yaml.Node, allowed: set[str], where: str) -> dict[str, yaml.Node]:
        if self.is_null(node):
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{where} must be a mapping")
        items: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key not in allowed:
                raise self.fail(key_node, f"field {key} not found in {where}")
            if key in items:
                raise self.fail(key_node, f"field {key} already set in {where}")
            items[key] = value_node
        return items

    def sequence(self, node: yaml.Node, where: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{where} must be a list")
        return list(node.value)

    def scalar(self, node: yaml.Node, where: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{where} must be a single value")
        return self._constructor.construct_object(node)

    def string(self, node: yaml.Node, where: str) -> str:
        """Any scalar as its text, as Go's yaml.v2 fills a string field."""
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{where} must be a string")
        return "" if self.is_null(node) else str(node.value)

    def boolean(self, node: yaml.Node, where: str) -> bool:
        value = self.scalar(node, where)
        if not isinstance(value, bool):
            raise self.fail(node, f"{where} must be true or false")
        return value

    def number(self, node: yaml.Node, where: str) -> float:
        """YAML 1.1 reads ``1e-6`` as a string; Go's yaml.v2 reads it as a number, and so do we."""
        value = self.scalar(node, where)
        if isinstance(value, str) and isinstance(node, yaml.ScalarNode) and not node.style:
            try:
                return parse_float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(node, f"{where} must be a number")
        return float(value)

    def integer(self, node: yaml.Node, where: str) -> int:
        value = self.scalar(node, where)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(node, f"{where} must be a non-negative integer")
        return value

    def duration(self, node: yaml.Node, where: str) -> float:
        value = self.scalar(node, where)
        if isinstance(value, int) and not isinstance(value, bool):
            return value / 1e9
        try:
            seconds = parse_go_duration(str(value))
        except ValueError as exc:
            raise self.fail(node, f"{where}: {exc}") from exc
        if seconds < 0:
            raise self.fail(node, f"{where} must not be negative")
        return seconds

    def choice(self, node: yaml.Node, where: str, choices: dict[str, str]) -> str:
        value = self.string(node, where)
        if value not in choices:
            raise self.fail(node, f"invalid {where} {value!r}")
        return choices[value]

    def defaults(self, node: yaml.Node) -> Defaults:
        items = self.mapping(node, _DEFAULT_KEYS, "defaults")
        return Defaults(
            observer_type=self._observer_type(items.get("observer_type"), "summary"),
            match_type=self._match_type(items.get("match_type"), "glob"),
            glob_disable_ordering=self.boolean(items["glob_disable_ordering"], "glob_disable_ordering")
            if "glob_disable_ordering" in items
            else False,
            ttl=self.duration(items["ttl"], "ttl") if "ttl" in items else 0.0,
            histogram=self.histogram(items.get("histogram_options"), HistogramOptions()),
            summary=self.summary(items.get("summary_options"), SummaryOptions()),
        )

    def _observer_type(self, node: yaml.Node | None, default: str) -> str:
        if node is None:
            return default
        return self.choice(
            node, "observer type", {"histogram": "histogram", "summary": "summary", "": default}
        )

    def _match_type(self, node: yaml.Node | None, default: str) -> str:
        if node is None:
            return default
        return self.choice(node, "match type", {"glob": "glob", "regex": "regex", "": default})

    def histogram(self, node: yaml.Node | None, base: HistogramOptions) -> HistogramOptions:
        """A mapping's options over ``base`` (the defaults), field by field as statsd_exporter merges them."""
        if node is None:
            return base
        items = self.mapping(node, _HISTOGRAM_KEYS, "histogram_options")
        factor, max_buckets = base.native_factor, base.native_max_buckets
        if "native_histogram_bucket_factor" in items:
            factor = self.bucket_factor(items["native_histogram_bucket_factor"]) or factor
        if "native_histogram_max_buckets" in items:
            max_buckets = self.integer(items["native_histogram_max_buckets"], "native_histogram_max_buckets")
            max_buckets = max_buckets or base.native_max_buckets
        return HistogramOptions(self.buckets(items.get("buckets"), base.buckets), factor, max_buckets)

    def bucket_factor(self, node: yaml.Node) -> float:
        factor = self.number(node, "native_histogram_bucket_factor")
        if not 0 <= factor < math.inf:
            raise self.fail(
                node, "native_histogram_bucket_factor must be a number above 1 (at most 1: no native buckets)"
            )
        return factor

    def buckets(self, node: yaml.Node | None, base: tuple[float, ...]) -> tuple[float, ...]:
        if node is None or self.is_null(node):
            return base
        buckets = tuple(self.number(b, "bucket") for b in self.sequence(node, "buckets"))
        if not buckets:
            return base
        if any(b >= c for b, c in pairwise(buckets)) or any(math.isnan(b) for b in buckets):
            raise self.fail(node, "histogram buckets must be in increasing order")
        return buckets

    def summary(self, node: yaml.Node | None, base: SummaryOptions) -> SummaryOptions:
        if node is None:
            return base
        items = self.mapping(node, _SUMMARY_KEYS, "summary_options")
        quantiles = base.quantiles
        if "quantiles" in items and not self.is_null(items["quantiles"]):
            parsed = tuple(self.quantile(q) for q in self.sequence(items["quantiles"], "quantiles"))
            quantiles = parsed or base.quantiles
        max_age = self.duration(items["max_age"], "max_age") if "max_age" in items else 0.0
        age_buckets = self.integer(items["age_buckets"], "age_buckets") if "age_buckets" in items else 0
        if "buf_cap" in items:
            self.integer(items["buf_cap"], "buf_cap")
        return SummaryOptions(quantiles, max_age or base.max_age, age_buckets or base.age_buckets)

    def quantile(self, node: yaml.Node) -> tuple[float, float]:
        items = self.mapping(node, _QUANTILE_KEYS, "quantile")
        quantile = self.number(items["quantile"], "quantile") if "quantile" in items else 0.0
        error = self.number(items["error"], "error") if "error" in items else 0.0
        if not 0.0 <= quantile <= 1.0:
            raise self.fail(node, f"quantile {quantile} is not between 0 and 1")
        return quantile, error

    def rule(self, index: int, node: yaml.Node, defaults: Defaults) -> Rule:
        items = self.mapping(node, _RULE_KEYS, "mapping")
        line = node.start_mark.line + 1
        match_type = self._match_type(items.get("match_type"), defaults.match_type)
        match = self.string(items["match"], "match") if "match" in items else ""
        name = self.string(items["name"], "name") if "name" in items else ""
        labels = self.labels(items.get("labels"))
        if not name:
            raise ConfigError(self.source, line, f"mapping {index} ({match!r}) didn't set a metric name")
        if not _METRIC_NAME.match(name):
            raise self.fail(items["name"], f"metric name {name!r} is not a valid metric name or template")
        if match_type == "glob":
            if not _GLOB.match(match):
                raise self.fail(items.get("match", node), f"invalid glob match {match!r}")
        else:
            try:
                compile_regex(match)
            except ValueError as exc:
                raise self.fail(items.get("match", node), f"invalid regex {match!r}: {exc}") from exc
        observer_type = self._observer_type(items.get("observer_type"), defaults.observer_type)
        if observer_type == "histogram" and "summary_options" in items:
            raise self.fail(node, "cannot use histogram observer and summary options at the same time")
        if observer_type == "summary" and "histogram_options" in items:
            raise self.fail(node, "cannot use summary observer and histogram options at the same time")
        ttl = self.duration(items["ttl"], "ttl") if "ttl" in items else 0.0
        return Rule(
            index=index,
            line=line,
            source=self.source,
            match=match,
            match_type=match_type,
            name=name,
            labels=labels,
            help=self.string(items["help"], "help") if "help" in items else "",
            action=self.choice(items["action"], "action type", {"map": "map", "drop": "drop", "": "map"})
            if "action" in items
            else "map",
            match_metric_type=self.choice(
                items["match_metric_type"],
                "metric type",
                {COUNTER: COUNTER, GAUGE: GAUGE, OBSERVER: OBSERVER},
            )
            if "match_metric_type" in items
            else "",
            observer_type=observer_type,
            histogram=self.histogram(items.get("histogram_options"), defaults.histogram),
            summary=self.summary(items.get("summary_options"), defaults.summary),
            ttl=ttl or defaults.ttl,
            honor_labels=self.boolean(items["honor_labels"], "honor_labels")
            if "honor_labels" in items
            else False,
            scale=self.number(items["scale"], "scale") if "scale" in items else None,
            airglow=self.airglow(items["airglow"]) if "airglow" in items else AirglowOptions(),
        )

    def airglow(self, node: yaml.Node) -> AirglowOptions:
        items = self.mapping(node, _AIRGLOW_KEYS, "airglow")
        return AirglowOptions(
            twin=self.twin(items["twin"]) if "twin" in items else None,
            dogstatsd_scale=self.number(items["dogstatsd_scale"], "dogstatsd_scale")
            if "dogstatsd_scale" in items
            else None,
            unescape_ids=self.boolean(items["unescape_ids"], "unescape_ids")
            if "unescape_ids" in items
            else False,
        )

    def twin(self, node: yaml.Node) -> Twin:
        items = self.mapping(node, _TWIN_KEYS, "twin")
        if len(items) != 1:
            raise self.fail(node, "twin takes exactly one of 'tagged' (on a legacy name) or 'legacy'")
        if "tagged" in items:
            return Twin(tagged=self.string(items["tagged"], "twin tagged"))
        template = self.string(items["legacy"], "twin legacy")
        rest = _TEMPLATE_FIELD.sub("", template)
        if "{" in rest or "}" in rest or not _TEMPLATE_FIELD.search(template):
            raise self.fail(items["legacy"], f"twin legacy must name tags as {{tag}}: {template!r}")
        return Twin(legacy=template)

    def labels(self, node: yaml.Node | None) -> tuple[tuple[str, str], ...]:
        if node is None or self.is_null(node):
            return ()
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, "labels must be a mapping")
        labels: dict[str, str] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if not _LABEL_NAME.match(key):
                raise self.fail(key_node, f"invalid label key: {key}")
            if label_names_error({key: ""}):
                raise self.fail(key_node, f"label {key} is reserved (__*, le and quantile are Prometheus')")
            if key in labels:
                raise self.fail(key_node, f"label {key} set twice")
            labels[key] = self.string(value_node, f"label {key}")
        return tuple(labels.items())
