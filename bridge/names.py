"""Metric and label name escaping, as statsd_exporter's ``EscapeMetricName``."""

from __future__ import annotations

import re

_VALID = re.compile(r"[A-Za-z0-9_]*\Z", re.ASCII)


def escape_metric_name(name: str) -> str:
    """Replace characters Prometheus does not allow in names with ``_``.

    A leading digit gains a ``_`` prefix; a run of dashes collapses to one ``_`` (statsd_exporter
    allows ``--`` in mappings and escapes it the same way here).
    """
    if not name:
        return ""
    if _VALID.match(name) and not name[0].isdigit():
        return name
    out = ["_"] if "0" <= name[0] <= "9" else []
    previous = ""
    for char in name:
        if char.isascii() and (char.isalnum() or char == "_"):
            out.append(char)
        elif char == "-" and previous == "-":
            continue
        else:
            out.append("_")
        previous = char
    return "".join(out)
