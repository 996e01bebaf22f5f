"""Prometheus's ``io.prometheus.client`` messages for the real protobuf runtime, built from a descriptor
(client_model's metrics.proto, proto2), so tests decode the bridge's protobuf exposition with Google's parser."""

from __future__ import annotations

import math

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_MESSAGES = {
    "LabelPair": [("name", 1, _F.TYPE_STRING, ""), ("value", 2, _F.TYPE_STRING, "")],
    "Gauge": [("value", 1, _F.TYPE_DOUBLE, "")],
    "Counter": [("value", 1, _F.TYPE_DOUBLE, "")],
    "Untyped": [("value", 1, _F.TYPE_DOUBLE, "")],
    "Quantile": [("quantile", 1, _F.TYPE_DOUBLE, ""), ("value", 2, _F.TYPE_DOUBLE, "")],
    "Summary": [
        ("sample_count", 1, _F.TYPE_UINT64, ""),
        ("sample_sum", 2, _F.TYPE_DOUBLE, ""),
        ("quantile", 3, _F.TYPE_MESSAGE, "*Quantile"),
    ],
    "Bucket": [
        ("cumulative_count", 1, _F.TYPE_UINT64, ""),
        ("upper_bound", 2, _F.TYPE_DOUBLE, ""),
        ("cumulative_count_float", 4, _F.TYPE_DOUBLE, ""),
    ],
    "BucketSpan": [("offset", 1, _F.TYPE_SINT32, ""), ("length", 2, _F.TYPE_UINT32, "")],
    "Histogram": [
        ("sample_count", 1, _F.TYPE_UINT64, ""),
        ("sample_sum", 2, _F.TYPE_DOUBLE, ""),
        ("bucket", 3, _F.TYPE_MESSAGE, "*Bucket"),
        ("sample_count_float", 4, _F.TYPE_DOUBLE, ""),
        ("schema", 5, _F.TYPE_SINT32, ""),
        ("zero_threshold", 6, _F.TYPE_DOUBLE, ""),
        ("zero_count", 7, _F.TYPE_UINT64, ""),
        ("zero_count_float", 8, _F.TYPE_DOUBLE, ""),
        ("negative_span", 9, _F.TYPE_MESSAGE, "*BucketSpan"),
        ("negative_delta", 10, _F.TYPE_SINT64, "*"),
        ("negative_count", 11, _F.TYPE_DOUBLE, "*"),
        ("positive_span", 12, _F.TYPE_MESSAGE, "*BucketSpan"),
        ("positive_delta", 13, _F.TYPE_SINT64, "*"),
        ("positive_count", 14, _F.TYPE_DOUBLE, "*"),
    ],
    "Metric": [
        ("label", 1, _F.TYPE_MESSAGE, "*LabelPair"),
        ("gauge", 2, _F.TYPE_MESSAGE, "Gauge"),
        ("counter", 3, _F.TYPE_MESSAGE, "Counter"),
        ("summary", 4, _F.TYPE_MESSAGE, "Summary"),
        ("untyped", 5, _F.TYPE_MESSAGE, "Untyped"),
        ("timestamp_ms", 6, _F.TYPE_INT64, ""),
        ("histogram", 7, _F.TYPE_MESSAGE, "Histogram"),
    ],
    "MetricFamily": [
        ("name", 1, _F.TYPE_STRING, ""),
        ("help", 2, _F.TYPE_STRING, ""),
        ("type", 3, _F.TYPE_ENUM, "MetricType"),
        ("metric", 4, _F.TYPE_MESSAGE, "*Metric"),
    ],
}
METRIC_TYPES = {"COUNTER": 0, "GAUGE": 1, "SUMMARY": 2, "UNTYPED": 3, "HISTOGRAM": 4, "GAUGE_HISTOGRAM": 5}


def _file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="airglow_test_metrics.proto", package="io.prometheus.client"
    )
    file.syntax = "proto2"
    enum = file.enum_type.add(name="MetricType")
    for name, number in METRIC_TYPES.items():
        enum.value.add(name=name, number=number)
    for message, fields in _MESSAGES.items():
        described = file.message_type.add(name=message)
        for name, number, kind, reference in fields:
            repeated = reference.startswith("*")
            field = described.field.add(
                name=name,
                number=number,
                type=kind,
                label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL,
            )
            if reference.strip("*"):
                field.type_name = f".io.prometheus.client.{reference.strip('*')}"
    return file


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_file())
MetricFamily = message_factory.GetMessageClass(
    _POOL.FindMessageTypeByName("io.prometheus.client.MetricFamily")
)


def decode_delimited(body: bytes) -> list:
    """The MetricFamily messages of a length-delimited stream."""
    families, position = [], 0
    while position < len(body):
        length, shift = 0, 0
        while True:
            byte = body[position]
            position += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        families.append(MetricFamily.FromString(body[position : position + length]))
        position += length
    return families


def as_samples(families: list) -> dict[tuple[str, tuple], float]:
    """The samples the text format would show for these families, keyed as ``support.common.parse_exposition``
    keys them, with ``le`` and ``quantile`` as floats."""
    out: dict[tuple[str, tuple], float] = {}
    for family in families:
        for metric in family.metric:
            labels = tuple((pair.name, pair.value) for pair in metric.label)
            for suffix, extra, value in _metric_samples(family.type, metric):
                out[(family.name + suffix, tuple(sorted(labels + extra)))] = value
    return out


def _metric_samples(kind: int, metric) -> list[tuple[str, tuple, float]]:
    if kind == METRIC_TYPES["HISTOGRAM"]:
        histogram = metric.histogram
        buckets = [("_bucket", (("le", b.upper_bound),), float(b.cumulative_count)) for b in histogram.bucket]
        return [
            *buckets,
            ("_bucket", (("le", math.inf),), float(histogram.sample_count)),
            ("_sum", (), histogram.sample_sum),
            ("_count", (), float(histogram.sample_count)),
        ]
    if kind == METRIC_TYPES["SUMMARY"]:
        summary = metric.summary
        quantiles = [("", (("quantile", q.quantile),), q.value) for q in summary.quantile]
        return [*quantiles, ("_sum", (), summary.sample_sum), ("_count", (), float(summary.sample_count))]
    held = {METRIC_TYPES["COUNTER"]: metric.counter, METRIC_TYPES["GAUGE"]: metric.gauge}.get(
        kind, metric.untyped
    )
    return [("", (), held.value)]
