"""Prometheus text format 0.0.4, OpenMetrics 1.0 and the protobuf format, written as client_golang writes them."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from airglow.bridge import protobuf_exposition
from airglow.bridge.gofloat import format_float, format_openmetrics_float
from airglow.bridge.registry import COUNTER, FamilySnapshot, Sample


class Format(Enum):
    """The exposition formats, by the Content-Type each is served with."""

    TEXT = "text/plain; version=0.0.4; charset=utf-8"
    OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
    PROTOBUF = protobuf_exposition.CONTENT_TYPE


def negotiate(accept: str | None) -> Format:
    """The format the scraper prefers (highest q, then first listed), as client_golang negotiates;
    the text format when it lists none the bridge serves."""
    best, best_q = Format.TEXT, 0.0
    for item in (accept or "").split(","):
        media_type, *params = (part.strip() for part in item.split(";"))
        values = dict(p.partition("=")[::2] for p in params)
        try:
            q = float(values.get("q", "1"))
        except ValueError:
            continue
        offered = _offered(media_type.lower(), values)
        if offered is not None and q > best_q:
            best, best_q = offered, q
    return best


def _offered(media_type: str, params: dict[str, str]) -> Format | None:
    if media_type == "application/openmetrics-text":
        return Format.OPENMETRICS
    if media_type == "application/vnd.google.protobuf":
        delimited = params.get("encoding") == "delimited"
        return (
            Format.PROTOBUF
            if delimited and params.get("proto") == "io.prometheus.client.MetricFamily"
            else None
        )
    return Format.TEXT if media_type in ("text/plain", "*/*", "text/*") else None


def render(families: Iterable[FamilySnapshot], fmt: Format) -> bytes:
    ordered = sorted(families, key=lambda f: f.name)
    return b"".join(render_family(family, fmt) for family in ordered) + trailer(fmt)


def trailer(fmt: Format) -> bytes:
    return b"# EOF\n" if fmt is Format.OPENMETRICS else b""


def render_family(family: FamilySnapshot, fmt: Format, header: bool = True) -> bytes:
    """One family's exposition; ``header=False`` for a later slice of a family that is streamed in parts
    (a protobuf slice is a message of its own, so it always names its family)."""
    if fmt is Format.PROTOBUF:
        return protobuf_exposition.encode_family(family)
    lines: list[str] = []
    if fmt is Format.OPENMETRICS:
        _write_openmetrics_family(family, lines, header)
    else:
        _write_text_family(family, lines, header)
    return "".join(lines).encode("utf-8")


def _write_text_family(family: FamilySnapshot, lines: list[str], header: bool) -> None:
    if header:
        help_text = family.help.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"# HELP {family.name} {help_text}\n# TYPE {family.name} {family.kind}\n")
    for sample in family.samples:
        lines.append(_sample_line(family.name + sample.suffix, sample, format_float))


def _write_openmetrics_family(family: FamilySnapshot, lines: list[str], header: bool) -> None:
    """OpenMetrics requires counter samples to end in ``_total``.

    statsd_exporter names counters without that suffix and only ever serves the text format, so
    renaming them here would rename the series Prometheus stores. A counter whose name already ends
    in ``_total`` is typed counter; any other counter is typed unknown and keeps its exact name.
    """
    name, kind, sample_suffix = family.name, family.kind, ""
    if kind == COUNTER:
        if name.endswith("_total"):
            name, sample_suffix = name[: -len("_total")], "_total"
        else:
            kind = "unknown"
    if header:
        help_text = family.help.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        lines.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
    skip_count = False
    for sample in family.samples:
        if _negative_in_openmetrics(sample):
            skip_count = sample.suffix == "_sum"
            continue
        if skip_count and sample.suffix == "_count":
            skip_count = False
            continue
        lines.append(_sample_line(name + (sample.suffix or sample_suffix), sample, format_openmetrics_float))


def _negative_in_openmetrics(sample: Sample) -> bool:
    """A negative (or NaN) sum or quantile, which OpenMetrics does not allow.

    Negative statsd timings are legal, and the text format shows them as statsd_exporter does. In
    OpenMetrics a quantile is optional and so are sum and count together, so such a series shows its
    buckets (whose +Inf bucket is the count) without them."""
    if sample.suffix != "_sum" and (sample.extra is None or sample.extra[0] != "quantile"):
        return False
    return not sample.value >= 0


def _sample_line(name: str, sample: Sample, number) -> str:
    labels = sample.labels
    if sample.extra is not None:
        extra = f'{sample.extra[0]}="{number(sample.extra[1])}"'
        labels = f"{labels},{extra}" if labels else extra
    if labels:
        return f"{name}{{{labels}}} {number(sample.value)}\n"
    return f"{name} {number(sample.value)}\n"
