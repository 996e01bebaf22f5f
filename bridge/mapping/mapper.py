"""From a statsd name and kind to the mapping rule, Prometheus name and labels.

Globs are tried first, then regexes in file order, as statsd_exporter does. Results, misses
included, are kept in a bounded cache (LRU or random replacement).
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from airglow.bridge.mapping.config import MappingConfig, Rule
from airglow.bridge.mapping.glob import GlobMatcher
from airglow.bridge.mapping.regex import compile_regex
from airglow.bridge.mapping.templates import expand_regex_template, glob_formatter

_MISS = object()


@dataclass(slots=True)  # not frozen, as Event
class MappingResult:
    rule: Rule
    name: str
    labels: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _GlobRule:
    rule: Rule
    name: Callable[[Sequence[str]], str]
    labels: tuple[tuple[str, Callable[[Sequence[str]], str]], ...]


class Mapper:
    def __init__(
        self,
        config: MappingConfig,
        cache_size: int = 1000,
        cache_type: str = "lru",
        drop_unmapped: bool = False,
    ) -> None:
        self.config = config
        self.drop_unmapped = drop_unmapped
        self._globs = GlobMatcher(ordering=not config.defaults.glob_disable_ordering)
        self._has_globs = False
        self._regexes = []
        for rule in config.rules:
            if rule.match_type == "glob":
                self._add_glob(rule)
            else:
                self._regexes.append((rule, compile_regex(rule.match)))
        self._cache = _make_cache(cache_size, cache_type)
        self.cache_gets = 0
        self.cache_hits = 0

    def _add_glob(self, rule: Rule) -> None:
        self._has_globs = True
        captures = rule.match.split(".").count("*")
        compiled = _GlobRule(
            rule,
            glob_formatter(rule.name, captures),
            tuple((key, glob_formatter(value, captures)) for key, value in rule.labels),
        )
        self._globs.add(rule.match, rule.match_metric_type, compiled, rule.index)

    @property
    def caching(self) -> bool:
        return self._cache is not None

    def self_metrics(self) -> dict[tuple[str, tuple], float]:
        out = {("statsd_exporter_loaded_mappings", ()): float(len(self.config.rules))}
        if self._cache is not None:
            out[("statsd_metric_mapper_cache_length", ())] = float(len(self._cache))
        return out

    def lookup(self, name: str, kind: str) -> MappingResult | None:
        if self._cache is None:
            return self._resolve(name, kind)
        key = (name, kind)
        self.cache_gets += 1
        cached = self._cache.get(key, _MISS)
        if cached is not _MISS:
            self.cache_hits += 1
            return cached
        result = self._resolve(name, kind)
        self._cache.put(key, result)
        return result

    def _resolve(self, name: str, kind: str) -> MappingResult | None:
        if self._has_globs:
            found = self._globs.match(name, kind)
            if found is not None:
                glob, captures = found
                return MappingResult(
                    glob.rule, glob.name(captures), tuple([(k, f(captures)) for k, f in glob.labels])
                )
            if not self._regexes:
                return None
        for rule, regex in self._regexes:
            match = regex.search(name)
            if match is None:
                continue
            if rule.match_metric_type and rule.match_metric_type != kind:
                continue
            groups = [match.group(i) for i in range(regex.groups + 1)]
            names = dict(regex.groupindex)
            return MappingResult(
                rule,
                expand_regex_template(rule.name, groups, names),
                tuple((k, expand_regex_template(v, groups, names)) for k, v in rule.labels),
            )
        return None


class _LRUCache:
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key, default):
        value = self._items.get(key, default)
        if value is not default:
            self._items.move_to_end(key)
        return value

    def put(self, key, value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)


class _RandomCache:
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: dict = {}
        self._keys: list = []

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key, default):
        return self._items.get(key, default)

    def put(self, key, value) -> None:
        if key not in self._items:
            if len(self._keys) >= self._size:
                victim = random.randrange(len(self._keys))
                del self._items[self._keys[victim]]
                self._keys[victim] = self._keys[-1]
                self._keys.pop()
            self._keys.append(key)
        self._items[key] = value


def _make_cache(size: int, kind: str) -> _LRUCache | _RandomCache | None:
    if size <= 0:
        return None
    return _LRUCache(size) if kind == "lru" else _RandomCache(size)
