"""Metric and label name escaping, as statsd_exporter's ``EscapeMetricName``."""

from __future__ import annotations

import re
from functools import lru_cache

_VALID = re.compile(r"[A-Za-z0-9_]*\Z", re.ASCII)


_INVALID = re.compile(r"[^A-Za-z0-9_]")
_DASH_RUN = re.compile(r"--+")


def escape_metric_name(name: str) -> str:
    """Replace characters Prometheus does not allow in names with ``_``.

    A leading digit gains a ``_`` prefix; a run of dashes becomes one ``_`` (statsd_exporter allows
    ``--`` in mappings and escapes it the same way).
    """
    if _VALID.match(name) and not name[:1].isdigit():
        return name
    escaped = _INVALID.sub("_", _DASH_RUN.sub("-", name))
    return "_" + escaped if name[0].isdigit() and name[0].isascii() else escaped


# The bridge's own metric families (and what Prometheus clients conventionally export): statsd input may
# never create a family under one of these prefixes, so self-metrics and alerts on them cannot be forged.
RESERVED_PREFIXES = (
    "statsd_exporter_",
    "statsd_metric_mapper_",
    "airglow_",
    "process_",
    "go_",
    "python_",
    "promhttp_",
    "__",
)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z", re.ASCII)
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z", re.ASCII)
# Sample suffixes each type exposes, in text 0.0.4 and OpenMetrics (a counter's OpenMetrics family drops _total).
_SUFFIXES = {"histogram": ("", "_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}
# The labels histograms and summaries add to their samples: on any other family Prometheus' linter flags
# them, so they are reserved everywhere.
_SAMPLE_LABELS = frozenset({"le", "quantile"})


def exposed_names(name: str, kind: str) -> tuple[str, ...]:
    """Every name a family of this type puts in either exposition format: samples and family names.

    Two families whose sets meet would make an exposition that Prometheus rejects (``x`` beside
    ``x_total``, a histogram ``x`` beside a counter ``x_count``), so the registry treats it as a conflict.
    """
    if kind == "counter":
        return (name, name[: -len("_total")]) if name.endswith("_total") else (name,)
    return tuple(name + suffix for suffix in _SUFFIXES.get(kind, ("",)))


def metric_name_error(name: str, kind: str) -> str | None:
    """Why a family of this name and type cannot be exposed (a sample error reason), or None."""
    return _cached_name_error(name, kind) if len(name) <= _CACHED_BYTES else _name_error(name, kind)


def label_names_error(labels: dict[str, str]) -> str | None:
    """Why these label names cannot be exposed (a sample error reason), or None."""
    names = tuple(labels)
    return _cached_labels_error(names) if sum(map(len, names)) <= _CACHED_BYTES else _labels_error(names)


def _name_error(name: str, kind: str) -> str | None:
    if not name:
        return "empty_metric_name"
    names = exposed_names(name, kind)
    if not all(_METRIC_NAME.match(exposed) for exposed in names):
        return "invalid_metric_name"
    if any(exposed.startswith(RESERVED_PREFIXES) for exposed in names):
        return "reserved_metric_name"
    return None


def _labels_error(names: tuple[str, ...]) -> str | None:
    for key in names:
        if not _LABEL_NAME.match(key):
            return "invalid_label_name"
        if key.startswith("__") or key in _SAMPLE_LABELS:
            return "reserved_label_name"
    return None


# Every new series of a known metric asks again: short names are answered from a cache (long ones, which
# only a hostile sender makes, are checked each time rather than kept).
_CACHED_BYTES = 256
_cached_name_error = lru_cache(maxsize=4096)(_name_error)
_cached_labels_error = lru_cache(maxsize=4096)(_labels_error)
