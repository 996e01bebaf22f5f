"""Numbers as Go's strconv reads and writes them.

statsd_exporter parses sample values with ``strconv.ParseFloat`` and client_golang writes sample
values with ``strconv.AppendFloat(f, 'g', -1, 64)``; matching both keeps values and exposition
byte-identical to a Go exporter.
"""

from __future__ import annotations

import math
import re

_DECIMAL = re.compile(
    r"[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?\Z", re.ASCII
)
_HEX_DIGITS = r"[0-9a-fA-F](?:_?[0-9a-fA-F])*"
_HEX = re.compile(
    rf"[+-]?0[xX]_?(?:{_HEX_DIGITS}(?:\.(?:{_HEX_DIGITS})?)?|\.{_HEX_DIGITS})[pP][+-]?\d(?:_?\d)*\Z",
    re.ASCII,
)
_SPECIAL = {
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
    "nan": math.nan,
}


def parse_float(text: str) -> float:
    """Parse like Go's ``strconv.ParseFloat(text, 64)``; raise ValueError where Go errors.

    Go accepts ``1_000``, ``Inf``, ``NaN`` and hex floats, rejects surrounding spaces, and reports
    overflow (``1e400``) as an error rather than returning infinity.
    """
    special = _SPECIAL.get(text.lower())
    if special is not None:
        return special
    if _DECIMAL.match(text):
        value = float(text)
    elif _HEX.match(text):
        value = _parse_hex(text.replace("_", ""))
    else:
        raise ValueError(f"invalid syntax: {text!r}")
    if math.isinf(value):
        raise ValueError(f"value out of range: {text!r}")
    return value


def _parse_hex(text: str) -> float:
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    try:
        return sign * float.fromhex(body)
    except OverflowError as exc:
        raise ValueError(f"value out of range: {text!r}") from exc


def format_float(value: float) -> str:
    """Format like Go's ``strconv.FormatFloat(value, 'g', -1, 64)`` (Prometheus text format)."""
    value = float(value)
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    if value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    if 1e-4 <= abs(value) < 1e6:
        return repr(value)
    return _format_exponent(value)


def _format_exponent(value: float) -> str:
    short = f"{value:.{_shortest_precision(value)}e}"
    mantissa, _, exponent = short.partition("e")
    sign = exponent[0]
    exp_digits = exponent[1:].lstrip("0").rjust(2, "0")
    return f"{mantissa}e{sign}{exp_digits}"


def _shortest_precision(value: float) -> int:
    for precision in range(17):
        if float(f"{value:.{precision}e}") == value:
            return precision
    return 17


def format_openmetrics_float(value: float) -> str:
    """Format as client_golang's OpenMetrics writer does: integers keep a ``.0``."""
    text = format_float(value)
    if text in ("NaN", "+Inf", "-Inf") or "e" in text or "." in text:
        return text
    return text + ".0"
