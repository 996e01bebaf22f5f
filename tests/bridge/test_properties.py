"""Property tests: no input makes the bridge raise, and every line is accounted for."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.hostile_lines import NAME_TAGS, NAMES, RATES, TAGS, TYPES, VALUES
from support.metrics_proto import METRIC_TYPES, as_samples, decode_delimited
from support.pipelines import make_pipeline, preset_pipeline

from airglow.bridge.exposition import Format, render
from airglow.bridge.pipeline import Pipeline
from airglow.bridge.selfmetrics import families

VALID = [
    b"airflow.ti.finish.dag.task.success:1|c",
    b"airflow.pool.open_slots.default:3|g",
    b"t:12.5|ms|@0.5|#a:b",
    b"foo,tag=v:1|c",
    b"foo#tag=v:2|g",
    b"foo.[tag=v]bar:3|h",
    b"x:1:2:3|d|#k:v",
    b"g:-4|g",
    b"c:1|c|c:abc|T123",
]
MAPPING = (
    "defaults:\n  observer_type: histogram\nmappings:\n- match: airflow.ti.finish.*.*.*\n  name: ti\n"
    "  labels:\n    dag_id: $1\n- match: 't(.*)'\n  match_type: regex\n  name: tee$1\n"
)


@st.composite
def mutated_lines(draw) -> bytes:
    line = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 4))):
        position = draw(st.integers(0, len(line)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = draw(st.sampled_from(list(b":|@#,=[]+-.eE_\xff\x00 ")) | st.integers(0, 255))
        if action == "insert":
            line.insert(position, byte)
        elif line and position < len(line):
            if action == "delete":
                del line[position]
            else:
                line[position] = byte
    return bytes(line)


LINES = st.lists(st.binary(max_size=60) | mutated_lines(), min_size=1, max_size=20)


def _accounted(pipeline) -> float:
    totals = pipeline.stats.totals()
    return sum(
        v
        for (name, _), v in totals.items()
        if name in ("statsd_exporter_samples_total", "statsd_exporter_sample_errors_total")
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LINES)
def test_never_raises_and_accounts_for_every_line(lines: list[bytes]) -> None:
    pipeline = make_pipeline(MAPPING)
    for raw in lines:
        for line in raw.split(b"\n"):
            before = _accounted(pipeline)
            pipeline.process([line])
            if line:
                assert _accounted(pipeline) > before, line
    render(pipeline.registry.collect(0.0), Format.OPENMETRICS)
    render(pipeline.registry.collect(0.0), Format.TEXT)


def assert_cache_changes_nothing(make: Callable[[], Pipeline], lines: list[bytes]) -> None:
    """Every line twice through one pipeline, and one by one through another with its cache cleared."""
    cached, fresh = make(), make()
    flat = [line for raw in lines for line in raw.split(b"\n")] * 2
    cached.process(flat)
    for line in flat:
        fresh._cache = {}
        fresh.process([line])
    assert render(cached.registry.collect(0.0), Format.TEXT) == render(
        fresh.registry.collect(0.0), Format.TEXT
    )
    assert cached.stats.totals() == fresh.stats.totals()


@settings(max_examples=200, deadline=None)
@given(LINES)
def test_line_cache_never_changes_the_outcome(lines: list[bytes]) -> None:
    assert_cache_changes_nothing(lambda: make_pipeline(MAPPING), lines)


AIRFLOW_LINES = [
    b"airflow.ti.finish.d.t.success:1|c",
    b"airflow.ti.finish:1|c|#dag_id:d,task_id:t,state:failed",
    b"prod.dag.d.grp.t.duration:1500|ms",
    b"airflow.scheduler.scheduler_loop_duration:0.2|ms|#deployment:x",
    b"airflow.pool.open_slots,pool_name=p:3|g",
    b"airflow.executor.open_slots.K8s:+2|g",
    b"airflow.unknown.thing:1|c",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(AIRFLOW_LINES) | mutated_lines(), min_size=1, max_size=20))
def test_line_cache_never_changes_the_outcome_with_the_airflow_preset(lines: list[bytes]) -> None:
    assert_cache_changes_nothing(preset_pipeline, lines)


@st.composite
def hostile_lines(draw) -> bytes:
    parts = [draw(st.sampled_from(choices)) for choices in (NAMES, NAME_TAGS, VALUES, TYPES, RATES, TAGS)]
    return "{}{}:{}|{}{}{}".format(*parts).encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_lines(), min_size=1, max_size=30), st.sampled_from(["summary", "histogram"]))
def test_whatever_arrives_both_exposition_formats_parse_strictly(lines: list[bytes], observer: str) -> None:
    """client_python's parsers reject duplicate families, reserved labels, bad names and (OpenMetrics)
    NaN counters and sums: the bridge's exposition must pass both, with its own metrics beside the mapped ones."""
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
    from prometheus_client.parser import text_string_to_metric_families as parse_text

    pipeline = make_pipeline(
        f"defaults:\n  observer_type: {observer}\nmappings:\n- match: hist.*\n  name: hist\n"
    )
    pipeline.process(lines)
    for openmetrics, parse in ((False, parse_text), (True, parse_openmetrics)):
        exposed = pipeline.registry.collect(0.0) + families(pipeline.self_metrics(), 0.0)
        text = render(exposed, Format.OPENMETRICS if openmetrics else Format.TEXT).decode()
        parsed = list(parse(text))
        names = [family.name for family in parsed]
        assert len(names) == len(set(names)), text
        sample_names = [(s.name, tuple(sorted(s.labels.items()))) for f in parsed for s in f.samples]
        assert len(sample_names) == len(set(sample_names)), text


def _comparable(samples: dict[tuple[str, tuple], float]) -> dict[tuple[str, tuple], str]:
    """``le`` and ``quantile`` read as numbers and every value as its repr, so NaN equals NaN."""

    def label(name: str, value) -> tuple[str, object]:
        return (name, float(value)) if name in ("le", "quantile") else (name, value)

    return {
        (name, tuple(label(*pair) for pair in labels)): repr(float(value))
        for (name, labels), value in samples.items()
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_lines(), min_size=1, max_size=30), st.sampled_from(["summary", "histogram"]))
def test_the_protobuf_exposition_says_what_the_text_one_says(lines: list[bytes], observer: str) -> None:
    """Decoded by Google's protobuf runtime, every family, label and value of the protobuf exposition is the
    text exposition's (read by client_python), and each native histogram holds every observation but NaN."""
    from prometheus_client.parser import text_string_to_metric_families as parse_text

    pipeline = make_pipeline(
        f"defaults:\n  observer_type: {observer}\n  histogram_options:\n"
        "    native_histogram_bucket_factor: 1.1\n    native_histogram_max_buckets: 8\n"
        "mappings:\n- match: hist.*\n  name: hist\n"
    )
    pipeline.process(lines)
    exposed = pipeline.registry.collect(0.0) + families(pipeline.self_metrics(), 0.0)
    text = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parse_text(render(exposed, Format.TEXT).decode())
        for s in family.samples
    }
    decoded = decode_delimited(render(exposed, Format.PROTOBUF))
    for family in decoded:  # client_python's text parser names every counter sample ..._total
        if family.type == METRIC_TYPES["COUNTER"] and not family.name.endswith("_total"):
            family.name += "_total"
    assert _comparable(as_samples(decoded)) == _comparable(text)
    for family in decoded:
        for metric in family.metric if family.type == METRIC_TYPES["HISTOGRAM"] else ():
            native = metric.histogram
            held = (
                _bucket_total(native.positive_delta)
                + _bucket_total(native.negative_delta)
                + native.zero_count
            )
            # A span on either side is what marks a histogram native to Prometheus's parser (a histogram
            # with no bucket yet carries the no-op positive span).
            assert held <= native.sample_count
            assert len(native.positive_span) + len(native.negative_span) >= 1


def _bucket_total(deltas) -> int:
    total, count = 0, 0
    for delta in deltas:
        count += delta
        total += count
    return total
