"""Metric and label name escaping, as statsd_exporter's ``EscapeMetricName``."""

from __future__ import annotations

import re

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
