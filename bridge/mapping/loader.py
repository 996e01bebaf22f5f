"""The mapping the bridge runs: the user's file, then the selected built-in preset's rules."""

from __future__ import annotations

from importlib import resources

from airglow.bridge.mapping.config import MappingConfig, load_mapping_file, merge_configs, parse_mapping_yaml


def load_preset(name: str) -> MappingConfig:
    text = resources.files("airglow.bridge.presets").joinpath(f"{name}.yml").read_text(encoding="utf-8")
    return parse_mapping_yaml(text, f"<built-in preset {name}>")


def load_mapping(mapping_file: str, preset: str) -> MappingConfig:
    """``mapping_file`` (none when empty), then the preset's rules (none when empty): the file's rules come first."""
    configs = []
    if mapping_file:
        configs.append(load_mapping_file(mapping_file))
    if preset:
        configs.append(load_preset(preset))
    return merge_configs(configs) if configs else MappingConfig("<no mapping>")
