"""What the bridge does with events: statsd_exporter's exporter and registry behaviour, in process."""

from __future__ import annotations

import subprocess

import pytest
from support.common import parse_exposition, require_binary
from support.pipelines import Clock, make_pipeline, samples, scrape, send, stat

from airglow.bridge.exposition import Format, render
from airglow.bridge.line import ParserOptions
from airglow.bridge.mapping import Mapper, parse_mapping_yaml
from airglow.bridge.pipeline import MAX_OUTCOMES, Pipeline
from airglow.bridge.registry import Limits, Registry, expiry_scan_interval, series_cost
from airglow.bridge.selfmetrics import SelfMetrics


def test_negative_counter_is_rejected_and_counted() -> None:
    pipeline = make_pipeline()
    send(pipeline, "foo:1|c", "foo:-1|c", "foo:-1|c")
    assert samples(pipeline)[("foo", ())] == 1
    assert stat(pipeline, "statsd_exporter_events_error_total", reason="illegal_negative_counter") == 2


def test_counters_are_exposed_without_total_suffix_and_accumulate() -> None:
    pipeline = make_pipeline()
    send(pipeline, *["foo:2|c"] * 5, "foo:1|c|@0.1")
    text = scrape(pipeline)
    assert "# TYPE foo counter\nfoo 20\n" in text
    send(pipeline, "bar_total:2|c")
    om = scrape(pipeline, openmetrics=True)
    # Series names stay as statsd_exporter's: only counters already ending in _total are typed counter.
    assert "# TYPE foo unknown\nfoo 20.0\n" in om and om.endswith("# EOF\n")
    assert "# TYPE bar counter\nbar_total 2.0\n" in om


def test_gauge_set_increment_decrement() -> None:
    pipeline = make_pipeline()
    send(pipeline, "foo:10|g", "foo:+5|g", "foo:-3|g", "bar:-3|g")
    assert samples(pipeline)[("foo", ())] == 12
    assert samples(pipeline)[("bar", ())] == -3


def test_inconsistent_label_sets_are_exported_in_one_family() -> None:
    pipeline = make_pipeline()
    send(pipeline, "foo:1|c|#a:1", "foo:1|c|#b:2", "foo:1|c")
    got = samples(pipeline)
    assert got[("foo", (("a", "1"),))] == got[("foo", (("b", "2"),))] == got[("foo", ())] == 1
    assert scrape(pipeline).count("# TYPE foo counter") == 1


def test_honor_labels_keeps_the_senders_label() -> None:
    mapping = (
        "mappings:\n- match: a.*\n  name: honored\n  honor_labels: true\n  labels:\n    job: $1\n"
        "- match: b.*\n  name: overridden\n  labels:\n    job: $1\n"
    )
    pipeline = make_pipeline(mapping)
    send(pipeline, "a.x:1|c|#job:sender", "b.x:1|c|#job:sender")
    got = samples(pipeline)
    assert got[("honored", (("job", "sender"),))] == 1
    assert got[("overridden", (("job", "x"),))] == 1


def test_scale_applies_after_unit_conversion() -> None:
    mapping = (
        "mappings:\n- match: grpc.*.latency_us\n  name: grpc_seconds\n  scale: 1e-6\n"
        "  observer_type: histogram\n  histogram_options:\n    buckets: [0.001, 1]\n  labels:\n    mm: $1\n"
    )
    pipeline = make_pipeline(mapping)
    send(pipeline, "grpc.Foo.latency_us:500|h", "grpc.Foo.latency_us:2000000|h")
    got = samples(pipeline)
    assert got[("grpc_seconds_bucket", (("le", "0.001"), ("mm", "Foo")))] == 1
    assert got[("grpc_seconds_sum", (("mm", "Foo"),))] == pytest.approx(2.0005)


def test_timer_milliseconds_become_seconds_in_histograms() -> None:
    pipeline = make_pipeline("defaults:\n  observer_type: histogram\n")
    send(pipeline, "t:300|ms", "t:20|ms", "t:0.5|h")
    got = samples(pipeline)
    assert got[("t_bucket", (("le", "0.025"),))] == 1
    assert got[("t_bucket", (("le", "0.5"),))] == 3
    assert got[("t_sum", ())] == pytest.approx(0.82)


def test_summary_quantiles_from_the_default_observer() -> None:
    pipeline = make_pipeline()
    send(pipeline, *[f"s:{v}|h" for v in range(1, 101)])
    got = samples(pipeline)
    assert got[("s", (("quantile", "0.5"),))] == 50
    assert got[("s", (("quantile", "0.99"),))] == 99
    assert got[("s_count", ())] == 100


def test_summary_window_forgets_old_observations_but_keeps_count() -> None:
    clock = Clock()
    mapping = "mappings:\n- match: s\n  name: s\n  summary_options:\n    max_age: 10s\n    age_buckets: 2\n"
    pipeline = make_pipeline(mapping, clock)
    send(pipeline, "s:1|h")
    clock.now += 11
    send(pipeline, "s:7|h")
    got = samples(pipeline)
    assert got[("s", (("quantile", "0.5"),))] == 7
    assert got[("s_count", ())] == 2


@pytest.mark.parametrize(
    ("first", "second", "conflict_type"),
    [
        ("foo:1|c", "foo:1|g", "gauge"),
        ("foo:1|g", "foo:1|c", "counter"),
        ("foo:1|c", "foo:1|h", "observer"),
        ("foo_sum:1|c", "foo:1|h", "observer"),
        ("foo:1|h", "foo_count:1|c", "counter"),
        ("foo_bucket:1|g", "foo:1|h", "observer"),
    ],
)
def test_type_conflicts_first_type_wins_and_are_counted(first: str, second: str, conflict_type: str) -> None:
    pipeline = make_pipeline("defaults:\n  observer_type: histogram\n")
    send(pipeline, first, second, second)
    name = second.split(":")[0]
    assert stat(pipeline, "statsd_exporter_events_conflict_total", type=conflict_type, metric_name=name) == 2


def test_ttl_expires_series_and_new_samples_recreate_them() -> None:
    clock = Clock()
    pipeline = make_pipeline(
        "defaults:\n  ttl: 10s\nmappings:\n- match: keep.*\n  name: keep\n  ttl: 1h\n", clock
    )
    send(pipeline, "gone:1|g", "keep.a:1|g")
    clock.now += 5
    send(pipeline, "gone:2|g")
    clock.now += 9
    pipeline.expire()
    assert samples(pipeline)[("gone", ())] == 2
    clock.now += 11
    pipeline.expire()
    got = samples(pipeline)
    assert ("gone", ()) not in got and got[("keep", ())] == 1
    send(pipeline, "gone:3|g")
    assert samples(pipeline)[("gone", ())] == 3


def test_drop_action_and_unmapped_are_counted() -> None:
    pipeline = make_pipeline(
        "mappings:\n- match: drop.*\n  name: x\n  action: drop\n- match: keep.*\n  name: k\n"
    )
    for _ in range(2):
        send(pipeline, "drop.a:1|c", "keep.a:1|c", "other:1|c")
    assert stat(pipeline, "statsd_exporter_events_actions_total", action="drop") == 2
    assert stat(pipeline, "statsd_exporter_events_actions_total", action="map") == 2
    assert stat(pipeline, "statsd_exporter_events_unmapped_total") == 2
    assert stat(pipeline, "statsd_exporter_events_total", type="counter") == 4
    assert ("x", ()) not in samples(pipeline)


def test_empty_metric_name_from_a_mapping_is_an_event_error() -> None:
    pipeline = make_pipeline('mappings:\n- match: "(.*)"\n  match_type: regex\n  name: "$1_total"\n')
    send(pipeline, "foo:1|c")
    assert stat(pipeline, "statsd_exporter_events_error_total", reason="empty_metric_name") == 1


def test_invalid_utf8_in_tag_value_is_a_malformed_line() -> None:
    pipeline = make_pipeline()
    pipeline.process([b"foo:1|c|#tag:\xc3\x28"])
    assert stat(pipeline, "statsd_exporter_sample_errors_total", reason="malformed_line") == 1


def test_cached_lines_give_the_same_result_as_the_first_parse() -> None:
    lines = [
        "a.b:1|c",
        "a.b:2|c|@0.5",
        "g:5|g",
        "g:-1|g",
        "g:+2|g",
        "t:10|ms|@0.5",
        "h:3|h",
        "d:1|c|#x:y",
        "a.b:-1|c",
        "a.b:3|c|@0.3|@0.7",
        "a.b:1e400|c",
        "a.b:0x1p1|c",
        "t:NaN|ms",
        "multi:1|c:2|c",
        "s:1|s",
        "t:1:2|ms",
    ]
    cached = make_pipeline("defaults:\n  observer_type: histogram\n")
    uncached = make_pipeline("defaults:\n  observer_type: histogram\n")
    for _ in range(3):
        send(cached, *lines)
        for line in lines:
            uncached._cache = {}
            send(uncached, line)
    now = cached.clock()
    assert render(cached.registry.collect(now), Format.TEXT) == render(
        uncached.registry.collect(now), Format.TEXT
    )
    assert cached.stats.totals() == uncached.stats.totals()


def test_every_line_is_accounted_for_in_self_metrics() -> None:
    pipeline = make_pipeline()
    send(pipeline, "a:1|c", "a:1|c", "", "bad", "b:1|c:2|c", "g:1|g", "c:x|c")
    assert pipeline.lines == 7
    assert stat(pipeline, "statsd_exporter_samples_total") == 6
    assert stat(pipeline, "statsd_exporter_events_total", type="counter") == 4
    assert stat(pipeline, "statsd_exporter_events_total", type="gauge") == 1
    assert stat(pipeline, "statsd_exporter_sample_errors_total", reason="malformed_line") == 1
    assert stat(pipeline, "statsd_exporter_sample_errors_total", reason="malformed_value") == 1


def test_exposition_passes_promtool(tmp_path) -> None:
    promtool = require_binary("promtool")
    pipeline = make_pipeline(
        "mappings:\n- match: h.*\n  name: hist\n  observer_type: histogram\n  labels:\n    kk: $1\n"
    )
    send(pipeline, 'c:1|c|#q:"quoted"\\back', "g:1.5|g", "h.x:20|ms", "s:1|ms", "weird.name-x:1|c")
    # promtool reads the text format; OpenMetrics is read by the real Prometheus in the end-to-end test.
    result = subprocess.run(
        [promtool, "check", "metrics"], input=scrape(pipeline).encode(), capture_output=True
    )
    # statsd_exporter names counters without "_total", and its own gauge statsd_exporter_metrics_total with
    # it: those lints are expected (a drop-in keeps the names), anything else is not.
    problems = [
        line
        for line in result.stderr.decode().splitlines()
        if not line.endswith('counter metrics should have "_total" suffix')
        and line != 'statsd_exporter_metrics_total non-counter metrics should not have "_total" suffix'
    ]
    assert result.returncode in (0, 3) and not problems, result.stderr.decode()


def test_series_limits_drop_new_series_and_count_them() -> None:
    from airglow.bridge.registry import Limits

    pipeline = Pipeline(
        ParserOptions(),
        Mapper(parse_mapping_yaml("mappings: []")),
        Registry(Limits(5, 3)),
        SelfMetrics(),
        clock=Clock(),
    )
    send(pipeline, *[f"a:1|c|#id:{i}" for i in range(10)], *[f"b{i}:1|g" for i in range(10)], "a:1|c|#id:0")
    got = samples(pipeline)
    assert sum(1 for name, _ in got if name == "a") == 3
    assert got[("a", (("id", "0"),))] == 2  # an existing series keeps updating past the limit
    assert pipeline.registry.series_total == 5
    assert stat(pipeline, "airglow_bridge_series_dropped_total", limit="per_metric", metric_name="a") == 7
    assert (
        sum(
            v
            for (name, labels), v in pipeline.stats.totals().items()
            if name == "airglow_bridge_series_dropped_total" and ("limit", "global") in labels
        )
        == 8
    )


def test_expired_series_free_room_under_the_limit() -> None:
    from airglow.bridge.registry import Limits

    clock = Clock()
    pipeline = Pipeline(
        ParserOptions(),
        Mapper(parse_mapping_yaml("defaults:\n  ttl: 1s\n")),
        Registry(Limits(2, 0)),
        SelfMetrics(),
        clock=clock,
    )
    send(pipeline, "x1:1|g", "x2:1|g", "x3:1|g")
    clock.now += 5
    pipeline.expire()
    send(pipeline, "x3:1|g")
    assert render(pipeline.registry.collect(clock.now), Format.TEXT) == (
        b"# HELP x3 Metric autogenerated by statsd_exporter.\n# TYPE x3 gauge\nx3 1\n"
    )
    assert pipeline.registry.families.keys() == {"x3"}


@pytest.mark.parametrize(("ttl", "interval"), [(0.5, 1.0), (10, 1.0), (300, 30.0), (3600, 60.0)])
def test_expiry_scans_at_a_tenth_of_the_shortest_ttl_within_1_to_60_s(ttl: float, interval: float) -> None:
    assert expiry_scan_interval(ttl) == interval


def test_a_long_ttl_series_outlives_it_by_at_most_a_scan_and_a_short_one_is_scanned_for_soon() -> None:
    """Scans follow the shortest TTL seen: one-hour series are looked at once a minute, not every second, and
    a later series with a 2 s TTL brings the next scan forward."""
    clock = Clock()
    pipeline = make_pipeline(
        "mappings:\n- match: short.*\n  name: short\n  ttl: 2s\n- match: long.*\n  name: long\n  ttl: 1h\n",
        clock,
    )
    start = clock.now
    send(pipeline, "long.a:1|g")
    pipeline.expire()
    gone_at = None
    while gone_at is None and clock.now < start + 3600 + 120:
        clock.now += 1
        if pipeline.expire():
            gone_at = clock.now - start
    assert gone_at is not None and 3600 < gone_at <= 3600 + 60
    send(pipeline, "short.a:1|g")
    clock.now += 3
    assert pipeline.expire() == 1 and ("short", ()) not in samples(pipeline)


def test_expiry_forgets_only_the_cached_lines_of_expired_series() -> None:
    clock = Clock()
    pipeline = make_pipeline("mappings:\n- match: short.*\n  name: short\n  ttl: 1s\n", clock)
    send(pipeline, "short.a:1|g", "long:1|g")
    clock.now += 5
    send(pipeline, "long:2|g")
    assert pipeline.expire() == 1
    assert [key for key in pipeline._cache] == [b"long|g"]  # the hot path stays warm for live series
    send(pipeline, "long:3|g", "short.a:4|g")
    assert samples(pipeline)[("long", ())] == 3 and samples(pipeline)[("short", ())] == 4


def test_exposed_names_are_claimed_until_the_family_expires() -> None:
    """``x`` and ``x_total`` counters would share an OpenMetrics family: the second is a conflict, until the
    first expires and frees its names; the estimated memory follows the series held."""
    clock = Clock()
    pipeline = make_pipeline("defaults:\n  ttl: 10s\n", clock)
    send(pipeline, "x:1|c")
    memory = pipeline.registry.memory
    assert memory > 0
    send(pipeline, "x_total:1|c")
    got = parse_exposition(scrape(pipeline))
    assert ("x_total", ()) not in got
    assert (
        got[("statsd_exporter_events_conflict_total", (("metric_name", "x_total"), ("type", "counter")))] == 1
    )
    clock.now += 11
    pipeline.expire()
    assert pipeline.registry.memory == 0
    send(pipeline, "x_total:1|c")
    assert parse_exposition(scrape(pipeline))[("x_total", ())] == 1


def test_memory_and_label_byte_limits_drop_new_series_and_count_them() -> None:
    pipeline = Pipeline(
        ParserOptions(),
        Mapper(parse_mapping_yaml("mappings: []")),
        Registry(Limits(label_bytes=20, memory_bytes=3 * series_cost("counter", (("id", "s0"),)))),
        SelfMetrics(),
        clock=Clock(),
    )
    send(pipeline, *[f"c:1|c|#id:s{i}" for i in range(5)], "c:1|c|#id:" + "v" * 30)
    got = parse_exposition(scrape(pipeline))
    assert sum(1 for name, _ in got if name == "c") == 3
    dropped = "airglow_bridge_series_dropped_total"
    assert got[(dropped, (("limit", "memory"), ("metric_name", "c")))] == 2
    assert got[(dropped, (("limit", "label_bytes"), ("metric_name", "c")))] == 1


def test_conflict_and_drop_counters_name_at_most_a_thousand_metrics() -> None:
    """Churn through conflicting names cannot grow the bridge's own metrics without bound."""
    pipeline = make_pipeline()
    send(pipeline, *[f"m{i}:1|c" for i in range(1500)], *[f"m{i}:1|g" for i in range(1500)])
    got = parse_exposition(scrape(pipeline))
    named = {
        dict(labels)["metric_name"] for name, labels in got if name == "statsd_exporter_events_conflict_total"
    }
    assert len(named) == 1001 and "__other__" in named
    total = sum(v for (name, _), v in got.items() if name == "statsd_exporter_events_conflict_total")
    assert total == 1500


def test_lines_of_ever_new_sample_rates_stay_exact_and_their_kinds_bounded() -> None:
    """A sender varies the sample rate (each rate a different increment per line): past MAX_OUTCOMES kinds,
    such lines are not cached, and every count stays exact."""
    pipeline = make_pipeline()
    rates = range(2, MAX_OUTCOMES + 500)
    for _ in range(2):  # the second pass answers from the cache where it can
        send(pipeline, *(f"t:1|ms|@{1 / rate!r}" for rate in rates))
    assert stat(pipeline, "statsd_exporter_samples_total") == 2 * len(rates)
    observations = sum(int(1 / (1 / rate)) for rate in rates)
    assert stat(pipeline, "statsd_exporter_events_total", type="observer") == 2 * observations
    assert samples(pipeline)[("t_count", ())] == 2 * observations
