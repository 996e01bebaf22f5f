"""Native histograms: the bucket math, the mapping options, negotiation, and a real Prometheus with
native histograms on scraping the bridge's protobuf exposition next to one that scrapes classic buckets."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
import statsd
from support.common import wait_until
from support.prometheus import scrape_config

from airglow.bridge.errors import ConfigError
from airglow.bridge.exposition import Format, negotiate
from airglow.bridge.mapping import parse_mapping_yaml
from airglow.bridge.mapping.loader import load_preset
from airglow.bridge.native_buckets import (
    DEFAULT_MAX_BUCKETS,
    MAX_SCHEMA,
    MIN_SCHEMA,
    BucketTally,
    NativeBuckets,
    bucket_index,
    schema_for,
)
from airglow.bridge.presets.generate import BUCKETS
from airglow.bridge.registry import HISTOGRAM, Registry

# Prometheus 2.42 with --enable-feature=native-histograms asks for protobuf first.
PROMETHEUS_NATIVE_ACCEPT = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,"
    "application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


# The table of the native histogram specification: a bucket factor and the schema it picks.
@pytest.mark.parametrize(
    ("factor", "schema"),
    [(65536, -4), (256, -3), (16, -2), (4, -1), (2, 0), (1.5, 1), (1.2, 2), (1.1, 3), (1.05, 4), (1.005, 8)],
)
def test_a_bucket_factor_picks_the_schema_of_the_specification(factor, schema) -> None:
    assert schema_for(factor) == schema


@pytest.mark.parametrize("schema", range(MIN_SCHEMA, MAX_SCHEMA + 1))
def test_every_value_lands_in_the_bucket_whose_bounds_hold_it(schema) -> None:
    base = 2.0 ** (2.0**-schema)
    rng = random.Random(schema)
    values = [math.exp(rng.uniform(-40, 40)) for _ in range(2000)] + [1.0, 2.0, 0.5, 2.0**-30, 3.0]
    for value in values:
        index = bucket_index(value, schema)
        assert base ** (index - 1) < value * (1 + 1e-12), (value, index)
        assert value <= base**index * (1 + 1e-12), (value, index)
    # 1 and the next power of two that is a bound are upper bounds, held by their bucket (bounds are inclusive).
    bound = 2.0 ** max(1, 2**-schema)
    assert bucket_index(1.0, schema) == 0
    assert bucket_index(bound, schema) == bucket_index(bound * (1 - 1e-9), schema)
    assert bucket_index(bound, schema) < bucket_index(bound * (1 + 1e-9), schema)


def _expected_counts(values: list[float], schema: int) -> tuple[Counter, Counter, int]:
    positive, negative, zero = Counter(), Counter(), 0
    for value in values:
        if value == 0:
            zero += 1
        else:
            (positive if value > 0 else negative)[bucket_index(abs(value), schema)] += 1
    return positive, negative, zero


def test_a_wide_spread_halves_the_resolution_and_keeps_every_count() -> None:
    tally = BucketTally()
    buckets = NativeBuckets(1.1, 20, tally)
    rng = random.Random(3)
    values = [rng.choice((-1, 1)) * math.exp(rng.uniform(-20, 20)) for _ in range(5000)] + [0.0] * 7
    for value in values:
        buckets.observe(value, 1)
    assert buckets.schema < 3
    assert buckets.held() <= 20
    assert tally.held == buckets.held()
    positive, negative, zero = _expected_counts(values, buckets.schema)
    assert (Counter(buckets.positive), Counter(buckets.negative), buckets.zero_count) == (
        positive,
        negative,
        zero,
    )


def test_a_hostile_spread_is_bounded_by_the_default_limit() -> None:
    buckets = NativeBuckets(1.005, 0, BucketTally())
    for exponent in range(-1000, 1000, 3):
        buckets.observe(2.0**exponent * 1.3, 1)
    buckets.observe(math.inf, 1)
    buckets.observe(-math.inf, 2)
    buckets.observe(math.nan, 1)
    assert buckets.held() <= DEFAULT_MAX_BUCKETS
    held = sum(buckets.positive.values()) + sum(buckets.negative.values()) + buckets.zero_count
    assert (
        held == len(range(-1000, 1000, 3)) + 3
    )  # all but NaN (values within 2**-128 of 0 in the zero bucket)
    assert buckets.zero_count == len(range(-1000, -128, 3))


def test_native_buckets_are_charged_as_they_are_made_and_given_back_on_expiry() -> None:
    options = parse_mapping_yaml(
        "defaults:\n  histogram_options:\n    native_histogram_bucket_factor: 1.1\n", "m.yml"
    ).defaults.histogram
    registry = Registry()
    series = registry.get("t", HISTOGRAM, {"a": "1"}, "", options, 1.0, 0.0)
    fixed = registry.memory
    for value in (1, 2, 4, 8):
        series.update(value, False, 1, 0.0)
    assert registry.memory > fixed
    assert registry.native_buckets.held == 4
    registry.expire(10.0)
    assert (registry.memory, registry.native_buckets.held) == (0, 0)


def test_mapping_options_follow_statsd_exporter_field_by_field() -> None:
    config = parse_mapping_yaml(
        """
defaults:
  histogram_options:
    native_histogram_bucket_factor: 1.1
    native_histogram_max_buckets: 100
mappings:
- match: a.*
  name: a
  observer_type: histogram
  histogram_options:
    buckets: [1, 2]
- match: b.*
  name: b
  observer_type: histogram
  histogram_options:
    native_histogram_bucket_factor: 1.5
- match: c.*
  name: c
  observer_type: histogram
  histogram_options:
    native_histogram_bucket_factor: 1
""",
        "m.yml",
    )
    a, b, c = (rule.histogram for rule in config.rules)
    assert (a.buckets, a.native_factor, a.native_max_buckets, a.native) == ((1.0, 2.0), 1.1, 100, True)
    assert (b.native_factor, b.native_max_buckets) == (1.5, 100)
    assert c.native is False  # a factor of at most 1 turns native buckets off, as in client_golang


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ("native_histogram_bucket_factor: -2", "native_histogram_bucket_factor must be a number above 1"),
        ("native_histogram_bucket_factor: .inf", "native_histogram_bucket_factor must be a number above 1"),
        ("native_histogram_bucket_factor: fast", "native_histogram_bucket_factor must be a number"),
        ("native_histogram_max_buckets: -1", "native_histogram_max_buckets must be a non-negative integer"),
        ("native_histogram_max_buckets: 1.5", "native_histogram_max_buckets must be a non-negative integer"),
    ],
)
def test_a_bad_native_option_is_rejected_with_its_line(options, reason) -> None:
    with pytest.raises(ConfigError) as error:
        parse_mapping_yaml(f"defaults:\n  histogram_options:\n    {options}\n", "m.yml")
    assert f"m.yml:3: {reason}" in str(error.value)


def test_the_preset_offers_native_histograms_for_its_timers() -> None:
    defaults = load_preset("airflow").defaults.histogram
    assert defaults.native and defaults.buckets == tuple(BUCKETS)


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        (PROMETHEUS_NATIVE_ACCEPT, Format.PROTOBUF),
        (PROMETHEUS_ACCEPT, Format.OPENMETRICS),
        ("text/plain;version=0.0.4", Format.TEXT),
        (None, Format.TEXT),
        ("application/json", Format.TEXT),
        (
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
            Format.TEXT,
        ),
        (
            "text/plain;q=0.9,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
            "encoding=delimited;q=0.3",
            Format.TEXT,
        ),
    ],
)
def test_the_scraper_gets_the_format_it_prefers(accept, fmt) -> None:
    assert negotiate(accept) is fmt


def _native_and_classic(prometheus_factory, port: int) -> tuple:
    """Two Prometheus servers scraping the bridge: one with native histograms on (it asks for protobuf),
    one without (it reads the classic buckets)."""
    scrape = scrape_config(port)
    return prometheus_factory(scrape, features=("native-histograms",)), prometheus_factory(scrape)


def _values(result: list[dict]) -> dict[tuple, float]:
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in result}


def _classic_bucket(value: float) -> tuple[float, float]:
    bounds = [0.0, *BUCKETS, math.inf]
    upper = next(i for i, bound in enumerate(bounds) if value <= bound)
    return bounds[upper - 1], bounds[upper]


@pytest.mark.slow
@pytest.mark.server
def test_prometheus_stores_one_series_per_native_histogram_and_its_quantile_agrees(
    bridge_factory, prometheus_factory
) -> None:
    bridge = bridge_factory("--airglow.deployment=fleet-a")
    native, classic = _native_and_classic(prometheus_factory, bridge.http_port)
    tasks = ("extract", "transform", "load")
    client = statsd.TCPStatsClient("127.0.0.1", bridge.statsd_port, prefix="airflow")
    for task in tasks:  # a first observation, so that rate() sees every later one as an increase
        client.timing(f"dag.etl.{task}.duration", 1000)
        client.incr(f"ti.finish.etl.{task}.success")
    native.wait_for_value("sum(histogram_count(airflow_task_duration_seconds))", 3)
    classic.wait_for_value("sum(airflow_task_duration_seconds_count)", 3)

    rng = random.Random(11)
    durations = [rng.lognormvariate(math.log(20_000), 0.6) for _ in range(300 * len(tasks))]
    for n, milliseconds in enumerate(durations):
        client.timing(f"dag.etl.{tasks[n % len(tasks)]}.duration", milliseconds)
        client.incr(f"ti.finish.etl.{tasks[n % len(tasks)]}.success")
    client.close()
    total = 3 + len(durations)
    native.wait_for_value("sum(histogram_count(airflow_task_duration_seconds))", total)
    classic.wait_for_value("sum(airflow_task_duration_seconds_count)", total)
    native.wait_for_value("sum(airflow_ti_finish_total)", total)

    # One series per native histogram; the classic scrape stores every bucket, _sum and _count.
    stored = 'count({__name__=~"airflow_task_duration_seconds.*"})'
    assert float(native.query(stored)[0]["value"][1]) == len(tasks)
    assert float(classic.query(stored)[0]["value"][1]) == len(tasks) * (len(BUCKETS) + 3)
    assert "histogram" in native.query("airflow_task_duration_seconds")[0]

    truth = sorted(durations)[math.ceil(0.95 * len(durations)) - 1] / 1000
    by_native = float(
        native.query("histogram_quantile(0.95, sum(rate(airflow_task_duration_seconds[1m])))")[0]["value"][1]
    )
    by_classic = float(
        classic.query(
            "histogram_quantile(0.95, sum by (le) (rate(airflow_task_duration_seconds_bucket[1m])))"
        )[0]["value"][1]
    )
    lower, upper = _classic_bucket(truth)
    print(
        f"p95 of {len(durations)} task durations: {truth:.2f} s; native {by_native:.2f} s, classic {by_classic:.2f} s"
    )
    assert lower < by_classic <= upper, (by_classic, truth)
    assert lower < by_native <= upper, (by_native, truth)
    assert abs(by_native - by_classic) <= upper - lower
    assert 1 / 1.1 <= by_native / truth <= 1.1, (by_native, truth)  # the native bucket's width

    # Counters, labels and the bridge's own metrics arrive intact through the protobuf format too.
    finished = 'airflow_ti_finish_total{deployment="fleet-a"}'
    assert _values(native.query(finished)) == _values(classic.query(finished))
    wait_until(lambda: native.query("statsd_exporter_tcp_connections_total"), 30, 0.25, what="self-metrics")


SUMMARY_MAPPING = """
mappings:
- match: app.queue.*
  name: app_queue_depth
  labels: {queue: $1}
- match: app.payload.*
  name: app_payload_bytes
  observer_type: summary
  labels: {endpoint: $1}
- match: app.latency.*
  name: app_latency_seconds
  observer_type: histogram
  histogram_options:
    buckets: [0.1, 1]
    native_histogram_bucket_factor: 2
  labels: {endpoint: $1}
"""


@pytest.mark.slow
@pytest.mark.server
def test_gauges_summaries_and_negative_observations_read_the_same_through_protobuf(
    bridge_factory, prometheus_factory, tmp_path
) -> None:
    (tmp_path / "mapping.yml").write_text(SUMMARY_MAPPING)
    bridge = bridge_factory(f"--statsd.mapping-config={tmp_path / 'mapping.yml'}")
    native, classic = _native_and_classic(prometheus_factory, bridge.http_port)
    client = statsd.TCPStatsClient("127.0.0.1", bridge.statsd_port, prefix="app")
    client.gauge("queue.default", -7.5)
    client.gauge("queue.high", 3)
    for size in (10, 20, 30, 40):
        client.timing("payload.upload", size)
    for milliseconds in (-50, 0, 300, 700, 2000):
        client.timing("latency.home", milliseconds)
    client.close()
    bridge.wait_for("app_latency_seconds_count", 5, endpoint="home")
    classic.wait_for_value("app_payload_bytes_count", 4)
    native.wait_for_value("app_payload_bytes_count", 4)
    query = '{__name__=~"app_queue_depth|app_payload_bytes.*"}'
    assert _values(native.query(query)) == _values(classic.query(query))
    assert len(_values(native.query(query))) == 2 + 3 + 2  # two gauges, three quantiles, sum and count
    native.wait_for_value("histogram_count(app_latency_seconds)", 5)
    observed_sum = float(native.query("histogram_sum(app_latency_seconds)")[0]["value"][1])
    assert math.isclose(observed_sum, 2.95, rel_tol=1e-9)
    # One observation below zero, one in the zero bucket, three above one: at schema 0 (factor 2),
    # 0.3 s lies in (0.25, 0.5], so the share at most 0.5 s is three in five.
    native.wait_for_value("histogram_fraction(-1, 0.5, app_latency_seconds)", 0.6)
