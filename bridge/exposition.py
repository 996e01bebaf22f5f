"""Prometheus text format 0.0.4 and OpenMetrics 1.0, written as client_golang writes them."""

from __future__ import annotations

from collections.abc import Iterable

from airglow.bridge.gofloat import format_float, format_openmetrics_float
from airglow.bridge.registry import COUNTER, FamilySnapshot, Sample

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def wants_openmetrics(accept: str | None) -> bool:
    """client_golang negotiates OpenMetrics only when the scraper lists it in Accept."""
    return accept is not None and "application/openmetrics-text" in accept


def render(families: Iterable[FamilySnapshot], openmetrics: bool) -> bytes:
    text = "".join(render_family(family, openmetrics) for family in sorted(families, key=lambda f: f.name))
    return (text + "# EOF\n" if openmetrics else text).encode("utf-8")


def render_family(family: FamilySnapshot, openmetrics: bool, header: bool = True) -> str:
    """One family's lines; ``header=False`` for a later slice of a family that is streamed in parts."""
    lines: list[str] = []
    if openmetrics:
        _write_openmetrics_family(family, lines, header)
    else:
        _write_text_family(family, lines, header)
    return "".join(lines)


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
