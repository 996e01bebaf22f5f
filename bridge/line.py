"""The statsd line protocol, parsed exactly as statsd_exporter 0.30 parses it.

Pure: a line in, events and the reasons for every rejected sample out. The bridge counts those
reasons under ``statsd_exporter_sample_errors_total{reason}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from airglow.bridge.gofloat import parse_float
from airglow.bridge.names import escape_metric_name

COUNTER = "counter"
GAUGE = "gauge"
OBSERVER = "observer"

# A timer sampled at rate r stands for int(1 / r) observations, as in statsd_exporter; a rate below
# 1 / MAX_SAMPLE_REPEAT is rejected (sample_rate_too_low) so that no packet can ask for unbounded work.
MAX_SAMPLE_REPEAT = 1_000_000
# Divisors to Prometheus base units; statsd_exporter divides milliseconds by 1000 (not * 0.001).
_OBSERVER_UNITS = {"ms": 1000.0, "h": 1.0, "d": 1.0}
_EXTENDED_AGGREGATE_TYPES = frozenset(_OBSERVER_UNITS)


@dataclass(frozen=True)
class ParserOptions:
    """Which tag styles in metric names and suffixes are parsed (all on by default)."""

    dogstatsd: bool = True
    influxdb: bool = True
    librato: bool = True
    signalfx: bool = True


@dataclass(slots=True)  # not frozen: a frozen dataclass sets each field through object.__setattr__, slowly
class Event:
    """One sample after parsing: statsd name, kind, value in Prometheus units, tag labels."""

    kind: str
    name: str
    value: float
    labels: dict[str, str]
    relative: bool = False
    tag_style: str = ""  # "dogstatsd", "name" (InfluxDB, Librato, SignalFx) or "" when the sender set no tags
    repeat: int = 1  # observations this sample stands for (a timer's 1 / sample rate)


@dataclass(slots=True)  # not frozen, as Event
class ParsedLine:
    """Everything one line produced, so that every sample is accounted for."""

    events: list[Event] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    samples: int = 0
    tags: int = 0
    tag_errors: int = 0
    multi_sample: bool = False
    # What the line's value was divided by (counter rate, timer unit), so a cached line can repeat it;
    # None when that took more than one division (several @rates), which the cache cannot repeat exactly.
    divisor: float | None = 1.0


def parse_line(raw: bytes | str, options: ParserOptions) -> ParsedLine:
    """Parse one statsd line (no trailing newline)."""
    result = ParsedLine()
    if not raw:
        return result
    if isinstance(raw, bytes):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            result.errors.append("malformed_line")
            return result
    else:
        line = raw
    name_part, sep, rest = line.partition(":")
    if not sep or not name_part:
        result.errors.append("malformed_line")
        return result
    labels: dict[str, str] = {}
    name = _parse_name_and_tags(name_part, labels, result, options)
    style = "name" if labels else ""
    dogstatsd = "|#" in rest
    if dogstatsd and labels:
        result.errors.append("mixed_tagging_styles")
        return result
    samples = _split_samples(rest, dogstatsd, result)
    if samples is None:
        return result
    result.multi_sample = len(samples) > 1
    for sample in samples:
        _parse_sample(sample, name, labels, style, result, options)
    return result


def _split_samples(rest: str, dogstatsd: bool, result: ParsedLine) -> list[str] | None:
    parts = rest.split("|", 2)
    if len(parts) < 2:
        result.errors.append("not_enough_parts_after_colon")
        return None
    if ":" in parts[0]:
        if parts[1] not in _EXTENDED_AGGREGATE_TYPES:
            result.errors.append("invalid_extended_aggregate_type")
            return None
        suffix = rest.partition("|")[2]
        return [f"{value}|{suffix}" for value in parts[0].split(":")]
    if dogstatsd:
        return [rest]
    return rest.split(":")


def _parse_sample(
    sample: str, name: str, labels: dict[str, str], style: str, result: ParsedLine, options: ParserOptions
) -> None:
    result.samples += 1
    components = sample.split("|")
    if not 2 <= len(components) <= 6:
        result.errors.append("malformed_component")
        return
    value_text, stat_type = components[0], components[1]
    relative = value_text[:1] in ("+", "-")
    try:
        value = parse_float(value_text)
    except ValueError:
        result.errors.append("malformed_value")
        return
    extra = components[2:]
    if any(not component for component in extra):
        result.errors.append("malformed_component")
        return
    repeat = 1
    divisor: float | None = _OBSERVER_UNITS.get(stat_type, 1.0)
    for component in extra:
        head = component[0]
        if head == "@":
            rate = _parse_rate(component[1:], result)
            if stat_type == "g":
                continue
            if stat_type == "c":
                value /= rate
                divisor = rate if divisor == 1.0 else None
            elif stat_type in _OBSERVER_UNITS:
                repeat = _repeat_count(rate)
                if repeat > MAX_SAMPLE_REPEAT:
                    result.errors.append("sample_rate_too_low")
                    return
        elif head == "#":
            if options.dogstatsd:
                _parse_tag_list(component[1:], ":", labels, result, strip_hash=True)
                style = "dogstatsd"
        elif head == "c":
            if not (component.startswith("c:") and len(component) > 2):
                result.errors.append("malformed_container_id")
                return
            labels["container_id"] = component[2:]
        elif head != "T":
            result.errors.append("invalid_sample_factor")
            return
    if labels:
        result.tags += 1
    result.divisor = divisor
    if not repeat:
        return
    event = _build_event(stat_type, name, value, relative, labels, style if labels else "", repeat)
    if event is None:
        result.errors.append("illegal_event")
    else:
        result.events.append(event)


def _parse_rate(text: str, result: ParsedLine) -> float:
    """A bad rate is counted and then treated as 1, as statsd_exporter does."""
    try:
        rate = parse_float(text)
    except ValueError:
        result.errors.append("invalid_sample_factor")
        rate = _go_error_value(text)
    return rate if rate != 0 else 1.0


def _go_error_value(text: str) -> float:
    """Go's ParseFloat returns ±Inf with its range error, 0 with a syntax error."""
    try:
        return float(text) if text.strip() == text and text.isascii() else 0.0
    except ValueError:
        return 0.0


def _repeat_count(rate: float) -> int:
    """Go's ``int(1 / rate)``: truncation toward zero, never below zero events."""
    try:
        count = 1.0 / rate
    except ZeroDivisionError:
        return 1
    if count != count or count == float("-inf"):
        return 0
    if count == float("inf"):
        return MAX_SAMPLE_REPEAT + 1
    return max(int(count), 0)


def _build_event(
    stat_type: str, name: str, value: float, relative: bool, labels: dict, style: str, repeat: int
) -> Event | None:
    if stat_type == "c":
        return Event(COUNTER, name, value, labels, tag_style=style)
    if stat_type == "g":
        return Event(GAUGE, name, value, labels, relative, style)
    unit = _OBSERVER_UNITS.get(stat_type)
    if unit is None:
        return None
    return Event(OBSERVER, name, value / unit, labels, tag_style=style, repeat=repeat)


def _parse_name_and_tags(
    name: str, labels: dict[str, str], result: ParsedLine, options: ParserOptions
) -> str:
    if options.signalfx:
        start, end = name.find("["), name.find("]")
        if start != -1 and end != -1:
            _parse_tag_list(name[start + 1 : end], "=", labels, result)
            return name[:start] + name[end + 1 :]
        if (start != -1) != (end != -1):
            result.tag_errors += 1
            return name
    starts = [
        name.find(mark) for mark, enabled in (("#", options.librato), (",", options.influxdb)) if enabled
    ]
    index = min((i for i in starts if i >= 0), default=-1)
    if index < 0:
        return name
    _parse_tag_list(name[index + 1 :], "=", labels, result)
    return name[:index]


def _parse_tag_list(
    text: str, separator: str, labels: dict[str, str], result: ParsedLine, strip_hash: bool = False
) -> None:
    """Comma-separated ``key<sep>value`` tags; a trailing comma adds no empty tag."""
    tags = text.split(",")
    if tags and tags[-1] == "":
        tags.pop()
    for tag in tags:
        if strip_hash and tag.startswith("#"):
            tag = tag[1:]
        _parse_tag(tag, separator, labels, result)


def _parse_tag(tag: str, separator: str, labels: dict[str, str], result: ParsedLine) -> None:
    key, sep, value = tag.partition(separator)
    if not sep or not key or not value:
        result.tag_errors += 1
        return
    labels[escape_metric_name(key)] = value
