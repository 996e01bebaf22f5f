"""``airglow-bridge explain``: what the bridge would do with each statsd line, for debugging mappings."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable

from bridge.app import load_mapping
from bridge.errors import ConfigError
from bridge.line import parse_line
from bridge.mapping import Mapper
from bridge.registry import Registry, TypeConflict
from bridge.resolve import UNMAPPED, Resolution, resolve
from bridge.settings import Settings, build_parser, settings_from_args


def explain_line(line: str, settings: Settings, mapper: Mapper, registry: Registry) -> dict:
    """One JSON-ready object: the line, its samples after mapping, and the reasons it was rejected."""
    parsed = parse_line(line.encode("utf-8", "surrogateescape"), settings.parser)
    samples, errors = [], list(parsed.errors)
    for event in parsed.events:
        resolution = resolve(settings.identity.apply(event), mapper)
        if resolution.error:
            errors.append(resolution.error)
            continue
        if resolution.action != "drop":
            try:
                registry.get(
                    resolution.name,
                    resolution.kind,
                    resolution.labels,
                    resolution.help,
                    resolution.options,
                    0.0,
                    0.0,
                )
            except TypeConflict:
                errors.append("type_conflict")
                continue
        samples.append(_sample(resolution))
    return {"line": line, "samples": samples, "errors": errors}


def _sample(resolution: Resolution) -> dict:
    return {
        "name": resolution.name,
        "type": resolution.kind,
        "value": resolution.value,
        "labels": dict(sorted(resolution.labels.items())),
        "rule": resolution.rule.index if resolution.rule else None,
        "action": resolution.action if resolution.action != UNMAPPED else "unmapped",
    }


def describe(result: dict, mapper: Mapper) -> str:
    out = [result["line"]]
    for sample in result["samples"]:
        where = ""
        if sample["rule"] is not None:
            rule = mapper.config.rules[sample["rule"]]
            where = f"  [rule {rule.index}, {rule.source}:{rule.line}, match {rule.match!r}]"
        if sample["action"] == "drop":
            out.append(f"  dropped{where}")
            continue
        labels = ",".join(f'{k}="{v}"' for k, v in sample["labels"].items())
        out.append(
            f"  {sample['action']}: {sample['type']} {sample['name']}{{{labels}}} {sample['value']!r}{where}"
        )
    out.extend(f"  error: {reason}" for reason in result["errors"])
    if len(out) == 1:
        out.append("  (no samples)")
    return "\n".join(out)


def _lines(arguments: list[str]) -> Iterable[str]:
    if arguments:
        yield from arguments
    else:
        for line in sys.stdin:
            yield line.rstrip("\n")


def main(argv: list[str]) -> int:
    parser = build_parser("airglow-bridge explain")
    parser.description = "Print what the bridge would do with each statsd line (arguments, or stdin)."
    parser.add_argument("--json", action="store_true", help="one JSON object per input line")
    parser.add_argument("lines", nargs="*", help="statsd lines; read from stdin when none are given")
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
        mapper = Mapper(
            load_mapping(settings), settings.cache_size, settings.cache_type, settings.drop_unmapped
        )
    except ConfigError as exc:
        print(f"airglow-bridge explain: error: {exc}", file=sys.stderr)
        return 1
    registry = Registry()
    for line in _lines(args.lines):
        result = explain_line(line, settings, mapper, registry)
        print(json.dumps(result) if args.json else describe(result, mapper), flush=True)
    return 0
