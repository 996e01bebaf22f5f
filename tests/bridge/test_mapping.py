"""statsd_exporter's mapping scenarios, glob precedence, Go template expansion, strict validation."""

from __future__ import annotations

import itertools
import json

import pytest
from support.common import DATA

from airglow.bridge.errors import ConfigError
from airglow.bridge.mapping import Mapper, parse_mapping_yaml
from airglow.bridge.mapping.glob import GlobMatcher
from airglow.bridge.mapping.templates import expand_regex_template, glob_formatter

SCENARIOS = json.loads((DATA / "statsd_exporter_mapper_cases.json").read_text())["scenarios"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
@pytest.mark.parametrize(
    "cache", [("lru", 1000), ("random", 1000), ("lru", 0)], ids=["lru", "random", "nocache"]
)
def test_mapper_scenarios_of_statsd_exporter(scenario: dict, cache: tuple[str, int]) -> None:
    if scenario["config_bad"]:
        with pytest.raises(ConfigError):
            parse_mapping_yaml(scenario["config"], "scenario.yml")
        return
    mapper = Mapper(parse_mapping_yaml(scenario["config"], "scenario.yml"), cache[1], cache[0])
    for _ in range(2):  # the second round is answered from the cache
        for check in scenario["checks"]:
            _assert_check(mapper, check)


def _assert_check(mapper: Mapper, check: dict) -> None:
    result = mapper.lookup(check["statsd_metric"], check.get("metric_type", "counter"))
    if check.get("not_present"):
        assert result is None
    labels = dict(result.labels) if result else {}
    assert labels == check["labels"]
    if result is None:
        return
    rule = result.rule
    if check.get("name"):
        assert result.name == check["name"]
    if check.get("ttl"):
        assert rule.ttl == check["ttl"]
    if check.get("metric_type"):
        assert rule.match_metric_type == check["metric_type"]
    if check.get("buckets"):
        assert list(rule.histogram.buckets) == check["buckets"]
    if check.get("quantiles"):
        assert [list(q) for q in rule.summary.quantiles] == check["quantiles"]
    if check.get("max_age"):
        assert rule.summary.max_age == check["max_age"]
    if check.get("age_buckets"):
        assert rule.summary.age_buckets == check["age_buckets"]
    assert rule.scale == check.get("scale")


@pytest.mark.parametrize(
    ("config", "action"),
    [
        ("- match: test.*.*\n  name: foo\n", "map"),
        ("- match: test.*.*\n  name: foo\n  action: map\n", "map"),
        ("- match: test.*.*\n  name: foo\n  action: drop\n", "drop"),
        (
            '- match: "test\\\\.(\\\\w+)\\\\.(\\\\w+)\\\\.counter"\n  match_type: regex\n  name: "${2}_total"\n',
            "map",
        ),
    ],
)
def test_actions(config: str, action: str) -> None:
    assert parse_mapping_yaml("mappings:\n" + config).rules[0].action == action


@pytest.mark.parametrize(
    "config",
    [
        "- match: test.*.*\n  name: foo\n  action: xyz\n",
        '- match: "test\\.(\\w+)\\.(\\w+)\\.counter"\n  match_type: regex\n  name: "${2}_total"\n',
    ],
    ids=["invalid action", "invalid yaml escape"],
)
def test_invalid_actions_and_yaml(config: str) -> None:
    with pytest.raises(ConfigError):
        parse_mapping_yaml("mappings:\n" + config)


def test_multiple_names_from_one_glob_do_not_corrupt_the_cache() -> None:
    mapper = Mapper(
        parse_mapping_yaml(
            'mappings:\n- match: aa.bb.*.*\n  name: "aa_bb_${1}_total"\n  labels:\n    app: "$2"\n'
        )
    )
    for _ in range(10):
        for name in ("aa", "bb", "cc", "dd"):
            assert mapper.lookup(f"aa.bb.{name}.myapp", "counter").name == f"aa_bb_{name}_total"


ORDERING = """
mappings:
- match: a.*.c
  name: star_first
- match: a.b.c
  name: exact_second
- match: a.b.*
  name: star_last
"""


def test_with_ordering_the_first_rule_in_the_file_wins() -> None:
    assert Mapper(parse_mapping_yaml(ORDERING)).lookup("a.b.c", "counter").name == "star_first"


def test_without_ordering_the_most_specific_rule_wins() -> None:
    config = parse_mapping_yaml("defaults:\n  glob_disable_ordering: true\n" + ORDERING)
    mapper = Mapper(config)
    assert mapper.lookup("a.b.c", "counter").name == "exact_second"
    assert mapper.lookup("a.b.d", "counter").name == "star_last"
    assert mapper.lookup("a.x.c", "counter").name == "star_first"


def test_globs_are_tried_before_regexes_and_regexes_are_unanchored() -> None:
    mapper = Mapper(
        parse_mapping_yaml(
            "mappings:\n- match: 'b\\.(\\w+)'\n  match_type: regex\n  name: regex_$1\n- match: a.b.*\n  name: glob_$1\n"
        )
    )
    assert mapper.lookup("a.b.c", "counter").name == "glob_c"
    assert mapper.lookup("xx.b.c.yy", "counter").name == "regex_c"


def test_glob_star_matches_one_whole_segment() -> None:
    mapper = Mapper(parse_mapping_yaml("mappings:\n- match: a.*.c\n  name: x\n  labels:\n    mid: $1\n"))
    assert dict(mapper.lookup("a.b.c", "counter").labels) == {"mid": "b"}
    assert mapper.lookup("a.b.b.c", "counter") is None
    assert mapper.lookup("a.c", "counter") is None


def test_match_metric_type_restricts_a_rule() -> None:
    mapper = Mapper(
        parse_mapping_yaml(
            "mappings:\n- match: a.*\n  name: g\n  match_metric_type: gauge\n- match: a.*\n  name: other\n"
        )
    )
    assert mapper.lookup("a.x", "gauge").name == "g"
    assert mapper.lookup("a.x", "counter").name == "other"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$1", "x"),
        ("${1}", "x"),
        ("$0", "pre.x.y"),
        ("${1}_total", "x_total"),
        ("$1_total", ""),
        ("$2-$1", "y-x"),
        ("$$1", "$1"),
        ("$9", ""),
        ("$name", "y"),
        ("${name}s", "ys"),
        ("a$", "a$"),
        ("${1", "${1"),
    ],
)
def test_regex_templates_expand_as_go(template: str, expected: str) -> None:
    groups = ["pre.x.y", "x", "y"]
    assert expand_regex_template(template, groups, {"name": 2}) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$1", "x"),
        ("${2}", "y"),
        ("$1_total", ""),
        ("${1}_total", "x_total"),
        ("$1$2", ""),
        ("$3", ""),
        ("$1-$2", "x-y"),
        ("plain", "plain"),
    ],
)
def test_glob_templates_expand_as_statsd_exporter(template: str, expected: str) -> None:
    assert glob_formatter(template, 2)(["x", "y"]) == expected


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ("mappings:\n- match: a.b\n  name: ok\n  bogus: 1\n", 4, "field bogus not found"),
        ("mappings:\n- match: a.b\n  name: ok\n  labels:\n    a: b\n", 5, "invalid label key: a"),
        ("mappings:\n- match: a.b\n  name: ok\n  labels:\n    1x: b\n", 5, "invalid label key: 1x"),
        ("mappings:\n- match: a..b\n  name: ok\n", 2, "invalid glob match"),
        ("mappings:\n- match: a.b*\n  name: ok\n", 2, "invalid glob match"),
        ("mappings:\n- match: (?=a)\n  match_type: regex\n  name: ok\n", 2, "invalid regex"),
        ("mappings:\n- match: (a)\\1\n  match_type: regex\n  name: ok\n", 2, "invalid regex"),
        ("mappings:\n- match: a.b\n", 2, "didn't set a metric name"),
        ("mappings:\n- match: a.b\n  name: 'bad name'\n", 3, "not a valid metric name"),
        ("mappings:\n- match: a.b\n  name: x\n  match_type: fuzzy\n", 4, "invalid match type"),
        ("mappings:\n- match: a.b\n  name: x\n  observer_type: gauge\n", 4, "invalid observer type"),
        ("mappings:\n- match: a.b\n  name: x\n  ttl: soon\n", 4, "invalid duration"),
        (
            "mappings:\n- match: a.b\n  name: x\n  observer_type: histogram\n  histogram_options:\n"
            "    buckets: [2, 1]\n",
            6,
            "increasing order",
        ),
        (
            "mappings:\n- match: a.b\n  name: x\n  observer_type: histogram\n  summary_options: {}\n",
            2,
            "histogram observer and summary options",
        ),
        ("defaults:\n  timer_type: histogram\n", 2, "field timer_type not found"),
        ("mappings:\n- match: a.b\n  name: x\n  name: y\n", 4, "already set"),
        ("mappings: [\n", 2, "invalid YAML"),
    ],
)
def test_bad_config_is_rejected_with_file_line_and_reason(body: str, line: int, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_mapping_yaml(body, "mapping.yml")
    assert (caught.value.source, caught.value.line) == ("mapping.yml", line)
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"mapping.yml:{line}: ")


def test_defaults_apply_to_rules() -> None:
    config = parse_mapping_yaml(
        "defaults:\n  observer_type: histogram\n  ttl: 1m30s\n  histogram_options:\n    buckets: [1, 2]\n"
        "mappings:\n- match: a.b\n  name: x\n- match: c.d\n  name: y\n  ttl: 5s\n"
    )
    first, second = config.rules
    assert (first.observer_type, first.ttl, first.histogram.buckets) == ("histogram", 90.0, (1.0, 2.0))
    assert second.ttl == 5.0


def _reference_match(patterns: list[str], name: str) -> tuple[int, list[str]] | None:
    """Glob semantics written plainly: the first pattern (in file order) whose segments all match wins;
    ``*`` matches one whole segment and captures it. (A literal ``*`` segment matches ``*`` uncaptured.)"""
    fields = name.split(".")
    for index, pattern in enumerate(patterns):
        parts = pattern.split(".")
        if len(parts) != len(fields):
            continue
        if all(part in ("*", field) for part, field in zip(parts, fields, strict=True)):
            return index, [
                field for part, field in zip(parts, fields, strict=True) if part == "*" and field != "*"
            ]
    return None


@pytest.mark.parametrize("shapes_limit", [10_000, 3])
def test_glob_shapes_match_as_a_full_search_does(shapes_limit: int) -> None:
    """Names that differ only in segments no glob spells out share one searched path; each still gets its own
    captures, also after the shape table overflowed and started over."""
    patterns = ["a.*.c", "a.b.*", "*.b.c.d", "a.*.*.d", "x.*", "a.b.c.*"]
    matcher = GlobMatcher(shapes_limit=shapes_limit)
    for index, pattern in enumerate(patterns):
        matcher.add(pattern, "", index, index)
    segments = ["a", "b", "c", "d", "x", "*", "id1", "id2", "dag.x"]
    names = [".".join(parts) for size in (2, 3, 4) for parts in itertools.product(segments, repeat=size)]
    for _ in range(2):  # the second pass answers from the shape table
        for name in names:
            found = matcher.match(name, "counter")
            expected = _reference_match(patterns, name)
            assert (None if found is None else (found[0], found[1])) == expected, name
