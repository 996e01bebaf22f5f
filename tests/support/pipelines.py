"""The bridge's pipeline in process, on a clock the test moves: with a mapping of the test's, or with the
built-in Airflow preset as the bridge loads it by default."""

from __future__ import annotations

from airglow.bridge.exposition import Format, render
from airglow.bridge.fleet import FleetIdentity
from airglow.bridge.line import ParserOptions
from airglow.bridge.mapping import Mapper, parse_mapping_yaml
from airglow.bridge.mapping.loader import load_mapping
from airglow.bridge.pipeline import Pipeline
from airglow.bridge.registry import Registry
from airglow.bridge.selfmetrics import SelfMetrics, families
from airglow.bridge.settings import build_parser, settings_from_args
from support.common import parse_exposition

PRESET = load_mapping("", settings_from_args(build_parser().parse_args([])).preset)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def make_pipeline(
    mapping: str = "", clock: Clock | None = None, options: ParserOptions | None = None
) -> Pipeline:
    return Pipeline(
        options or ParserOptions(),
        Mapper(parse_mapping_yaml(mapping or "mappings: []")),
        Registry(),
        SelfMetrics(),
        clock=clock or Clock(),
    )


def preset_pipeline(clock: Clock | None = None, line_cache_size: int = 200_000) -> Pipeline:
    return Pipeline(
        ParserOptions(),
        Mapper(PRESET),
        Registry(),
        SelfMetrics(),
        FleetIdentity(from_prefix=True),
        line_cache_size=line_cache_size,
        clock=clock or Clock(),
    )


def scrape(pipeline: Pipeline, openmetrics: bool = False) -> str:
    exposed = pipeline.registry.collect(pipeline.clock()) + families(pipeline.self_metrics(), 0.0)
    return render(exposed, Format.OPENMETRICS if openmetrics else Format.TEXT).decode()


def samples(pipeline: Pipeline) -> dict[tuple[str, tuple], float]:
    return parse_exposition(scrape(pipeline))


def send(pipeline: Pipeline, *lines: str) -> None:
    pipeline.process([line.encode() for line in lines])


def stat(pipeline: Pipeline, name: str, **labels: str) -> float:
    return pipeline.stats.totals().get((name, tuple(sorted(labels.items()))), 0.0)
