"""Prometheus's protobuf exposition: length-delimited ``io.prometheus.client.MetricFamily`` messages.

The one format that carries native histograms (Prometheus asks for it when native histograms are on).
Written by hand from client_model's metrics.proto, as the few messages need no protobuf runtime. A
family streamed in slices is sent as one message per slice, each with its name, help and type.
"""

from __future__ import annotations

import math
import struct

from airglow.bridge.native_buckets import BucketRun, NativeSnapshot
from airglow.bridge.registry import COUNTER, GAUGE, HISTOGRAM, SUMMARY, FamilySnapshot, Sample, SeriesSnapshot

CONTENT_TYPE = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
_TYPES = {COUNTER: 0, GAUGE: 1, SUMMARY: 2, HISTOGRAM: 4}
_UNTYPED = 3
_VARINT, _FIXED64, _BYTES = 0, 1, 2
_DOUBLE = struct.Struct("<d")


def encode_family(family: FamilySnapshot) -> bytes:
    """One MetricFamily message, prefixed by its length."""
    kind = _TYPES.get(family.kind, _UNTYPED)
    body = b"".join(
        (
            _text(1, family.name),
            _text(2, family.help),
            _key(3, _VARINT) + _varint(kind),
            *(_message(4, _metric(series, kind)) for series in family.series),
        )
    )
    return _varint(len(body)) + body


def _metric(series: SeriesSnapshot, kind: int) -> bytes:
    labels = b"".join(_message(1, _text(1, name) + _text(2, value)) for name, value in series.key)
    if kind == _TYPES[HISTOGRAM]:
        return labels + _message(7, _histogram(series.samples, series.native))
    if kind == _TYPES[SUMMARY]:
        return labels + _message(4, _summary(series.samples))
    field = {_TYPES[COUNTER]: 3, _TYPES[GAUGE]: 2}.get(kind, 5)  # Counter, Gauge, Untyped: {double value = 1}
    return labels + _message(field, _double(1, series.samples[0].value))


def _histogram(samples: list[Sample], native: NativeSnapshot | None) -> bytes:
    """Classic buckets (the +Inf bucket left implicit, as client_golang does), then the native part."""
    count, total, buckets = 0, 0.0, []
    for sample in samples:
        if sample.suffix == "_bucket" and sample.extra is not None and sample.extra[1] != math.inf:
            buckets.append(_message(3, _uint(1, int(sample.value)) + _double(2, sample.extra[1])))
        elif sample.suffix == "_sum":
            total = sample.value
        elif sample.suffix == "_count":
            count = int(sample.value)
    out = [_uint(1, count), _double(2, total), *buckets]
    if native is not None:
        out.append(_native(native))
    return b"".join(out)


def _native(native: NativeSnapshot) -> bytes:
    """Schema, zero bucket and both bucket sides; a histogram with no bucket yet carries the no-op span
    that tells a parser it is native."""
    out = [
        _key(5, _VARINT) + _varint(_zigzag(native.schema)),
        _double(6, native.zero_threshold),
        _uint(7, native.zero_count),
    ]
    out.extend(_side(9, 10, native.negative))
    positive = native.positive or ([BucketRun(0, [])] if not native.negative else [])
    out.extend(_side(12, 13, positive))
    return b"".join(out)


def _side(span_field: int, delta_field: int, runs: list[BucketRun]) -> list[bytes]:
    """Spans (offset, length) and the packed count deltas, each from the bucket before it."""
    out = [
        _message(span_field, _key(1, _VARINT) + _varint(_zigzag(run.offset)) + _uint(2, len(run.counts)))
        for run in runs
    ]
    deltas, previous = [], 0
    for run in runs:
        for count in run.counts:
            deltas.append(_varint(_zigzag(count - previous)))
            previous = count
    if deltas:
        out.append(_message(delta_field, b"".join(deltas)))
    return out


def _summary(samples: list[Sample]) -> bytes:
    count, total, quantiles = 0, 0.0, []
    for sample in samples:
        if sample.extra is not None:
            quantiles.append(_message(3, _double(1, sample.extra[1]) + _double(2, sample.value)))
        elif sample.suffix == "_sum":
            total = sample.value
        elif sample.suffix == "_count":
            count = int(sample.value)
    return b"".join((_uint(1, count), _double(2, total), *quantiles))


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _varint(value: int) -> bytes:
    value &= 0xFFFF_FFFF_FFFF_FFFF  # a negative int64 as its two's complement, as protobuf sends it
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _zigzag(value: int) -> int:
    return value << 1 if value >= 0 else (-value << 1) - 1


def _uint(field: int, value: int) -> bytes:
    return _key(field, _VARINT) + _varint(value)


def _double(field: int, value: float) -> bytes:
    return _key(field, _FIXED64) + _DOUBLE.pack(value)


def _text(field: int, value: str) -> bytes:
    return _message(field, value.encode("utf-8"))


def _message(field: int, body: bytes) -> bytes:
    return _key(field, _BYTES) + _varint(len(body)) + body
