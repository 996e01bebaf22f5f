"""statsd_exporter's mapping YAML: configuration, glob and regex matching, the mapper with its cache."""

from airglow.bridge.mapping.config import (
    MappingConfig,
    Rule,
    load_mapping_file,
    merge_configs,
    parse_mapping_yaml,
)
from airglow.bridge.mapping.mapper import Mapper, MappingResult

__all__ = [
    "Mapper",
    "MappingConfig",
    "MappingResult",
    "Rule",
    "load_mapping_file",
    "merge_configs",
    "parse_mapping_yaml",
]
