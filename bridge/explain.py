"""``airglow-bridge explain``: what the bridge would do with each statsd line, for debugging mappings."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from importlib import resources

from airglow.bridge.commandline import ExitCode, fail
from airglow.bridge.errors import ConfigError
from airglow.bridge.line import parse_line
from airglow.bridge.mapping import Mapper
from airglow.bridge.mapping.loader import load_mapping
from airglow.bridge.registry import Registry, TypeConflict
from airglow.bridge.resolve import UNMAPPED, Resolution, resolve
from airglow.bridge.settings import Settings, build_parser, settings_from_args
from airglow.bridge.twins import FIRST, PAIRED, TwinRole, Twins


class TwinExplainer:
    """Pairs twin lines as the bridge does, as if every explained line came from one sender, in order."""

    def __init__(self) -> None:
        self.applied: list[int] = []
        self.twins: Twins[int] = Twins(lambda line, _: self.applied.append(line))
        self.lines = 0

    def decide(self, role: TwinRole, resolution: Resolution) -> dict:
        self.lines += 1
        before = dict(self.twins.decisions)
        value = resolution.value if resolution.kind in ("counter", "gauge") else None
        self.applied.clear()
        counts = self.twins.offer(None, role, value, self.lines, 0.0) or bool(self.applied)
        decided = next((d for d, n in self.twins.decisions.items() if n != before[d]), "")
        return {"form": role.form, "family": role.family, "decision": self._say(decided, counts)}

    def _say(self, decided: str, counts: bool) -> str:
        if decided == FIRST:
            return "counted: the first form of its event; its twin will be dropped"
        if decided == PAIRED and counts:
            return "counted for both: its bare twin (no ids) came first and waited for it"
        if decided == PAIRED:
            return "dropped: its twin came first and was counted"
        window = self.twins.window
        return (
            f"waits {window:g} to {2 * window:g} s for its legacy twin (the one with the ids), which then "
            "counts for both; counted alone if none comes"
        )


def explain_line(
    line: str, settings: Settings, mapper: Mapper, registry: Registry, twins: TwinExplainer | None = None
) -> dict:
    """One JSON-ready object: the line, its samples after mapping, and the reasons it was rejected."""
    parsed = parse_line(line.encode("utf-8", "surrogateescape"), settings.parser)
    samples, errors = [], list(parsed.errors)
    for event in parsed.events:
        resolution = resolve(settings.identity.apply(event), mapper)
        if resolution.error:
            errors.append(resolution.error)
            continue
        if resolution.action != "drop" and resolution.twin is None:
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
        sample = _sample(resolution)
        if resolution.twin is not None:
            sample["twin"] = (twins or TwinExplainer()).decide(resolution.twin, resolution)
        samples.append(sample)
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
        if "twin" in sample:
            twin = sample["twin"]
            out.append(f"  twin ({twin['form']} form of {twin['family']}): {twin['decision']}")
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


def migration(as_json: bool) -> str:
    """The official chart mapping's rules and where the built-in preset puts the same lines."""
    text = (
        resources.files("airglow.bridge.presets").joinpath("chart_migration.json").read_text(encoding="utf-8")
    )
    if as_json:
        return text.rstrip("\n")
    out = ["chart rule -> preset metric {labels}   (example line)"]
    for row in json.loads(text):
        preset = f"{row['preset_name']}{{{','.join(row['preset_labels'])}}}" if row["preset_name"] else "-"
        chart = f"{row['chart_name']}{{{','.join(row['chart_labels'])}}}"
        example = f"{row['note']}: {row['example']}" if row["note"] else row["example"]
        out.append(f"{row['chart_match']} ({chart}) -> {preset}   ({example})")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    parser = build_parser("airglow-bridge explain")
    parser.description = (
        "Print what the bridge would do with each statsd line (arguments, or stdin), the lines taken as sent "
        "by one sender in order, so that twins pair as in the bridge."
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per input line")
    parser.add_argument(
        "--migration",
        action="store_true",
        help="print where the built-in preset puts what the official Airflow chart's statsd_exporter mapping "
        "matched, and exit",
    )
    parser.add_argument("lines", nargs="*", help="statsd lines; read from stdin when none are given")
    args = parser.parse_args(argv)
    if args.migration:
        print(migration(args.json))
        return 0
    try:
        settings = settings_from_args(args)
        mapper = Mapper(
            load_mapping(settings.mapping_config, settings.preset),
            settings.cache_size,
            settings.cache_type,
            settings.drop_unmapped,
        )
    except ConfigError as exc:
        return fail("airglow-bridge explain", f"error: {exc}", ExitCode.USAGE)
    registry = Registry()
    twins = TwinExplainer()
    for line in _lines(args.lines):
        result = explain_line(line, settings, mapper, registry, twins)
        print(json.dumps(result) if args.json else describe(result, mapper), flush=True)
    return 0
