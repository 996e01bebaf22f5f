"""Series state for mapped metrics: counters, gauges, histograms, summaries; TTL; type conflicts.

Each kind states how a sample changes it once, in its ``update`` (the hot path calls it for every cached
line); everything that needs the family (creation, conflicts, expiry, collection) goes through the Registry
under the bridge's lock.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from typing import NamedTuple

from airglow.bridge.mapping.config import HistogramOptions, SummaryOptions
from airglow.bridge.names import exposed_names
from airglow.bridge.native_buckets import BucketTally, NativeBuckets, NativeSnapshot

COUNTER, GAUGE, HISTOGRAM, SUMMARY = "counter", "gauge", "histogram", "summary"
SUMMARY_RESERVOIR = 2048
# Observations of one sampled timer line applied one by one; more are applied as one weighted observation.
EXACT_REPEAT = 100


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_labels(labels: tuple[tuple[str, str], ...]) -> str:
    return ",".join(f'{key}="{escape_label_value(value)}"' for key, value in labels)


def add_repeated(total: float, value: float, repeat: int) -> float:
    """``total`` plus ``repeat`` times ``value``: added one by one up to EXACT_REPEAT (the sums
    statsd_exporter makes), multiplied beyond, so a low sample rate costs no more than a high one."""
    if repeat > EXACT_REPEAT:
        return total + value * repeat
    for _ in range(repeat):
        total += value
    return total


class Series(ABC):
    __slots__ = ("key", "label_text", "last_seen", "ttl")

    def __init__(self, key: tuple[tuple[str, str], ...], ttl: float, now: float) -> None:
        self.key = key
        self.label_text = render_labels(key)
        self.ttl = ttl
        self.last_seen = now

    @abstractmethod
    def update(self, value: float, relative: bool, repeat: int, now: float) -> None:
        """One sample of ``value`` standing for ``repeat`` observations (``relative``: a gauge's +/- form)."""

    def buckets_held(self) -> int:
        """Classic histogram buckets the series keeps (part of its fixed memory cost)."""
        return 0

    def native_held(self) -> int:
        """Native histogram buckets the series holds (charged as they are made, beyond its fixed cost)."""
        return 0

    def native(self) -> NativeSnapshot | None:
        return None

    @abstractmethod
    def samples(self, now: float) -> list[Sample]:
        """The series' exposition lines."""


class ValueSeries(Series):
    """A counter or a gauge."""

    __slots__ = ("value",)

    def __init__(self, key, ttl, now) -> None:
        super().__init__(key, ttl, now)
        self.value = 0.0

    def samples(self, now: float) -> list[Sample]:
        return [Sample("", self.label_text, None, self.value)]


class CounterSeries(ValueSeries):
    __slots__ = ()

    def update(self, value: float, relative: bool, repeat: int, now: float) -> None:
        self.value += value  # a sampled counter's value is already scaled by its rate
        self.last_seen = now


class GaugeSeries(ValueSeries):
    __slots__ = ()

    def update(self, value: float, relative: bool, repeat: int, now: float) -> None:
        self.value = self.value + value if relative else value
        self.last_seen = now


class HistogramSeries(Series):
    __slots__ = ("bounds", "buckets", "count", "sum")

    def __init__(self, key, ttl, now, options: HistogramOptions) -> None:
        super().__init__(key, ttl, now)
        self.bounds = options.buckets
        self.buckets = [0] * (len(options.buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def update(self, value: float, relative: bool, repeat: int, now: float) -> None:
        """``repeat`` observations of ``value``: one by one up to EXACT_REPEAT (statsd_exporter's exact
        sums), as one weighted observation beyond, so a low sample rate costs no more than a high one."""
        self.buckets[bisect_left(self.bounds, value)] += repeat
        self.sum = add_repeated(self.sum, value, repeat) if repeat != 1 else self.sum + value
        self.count += repeat
        self.last_seen = now

    def buckets_held(self) -> int:
        return len(self.bounds)

    def samples(self, now: float) -> list[Sample]:
        labels, out, cumulative = self.label_text, [], 0
        for bound, count in zip((*self.bounds, math.inf), self.buckets, strict=True):
            cumulative += count
            out.append(Sample("_bucket", labels, ("le", bound), cumulative))
        return [*out, Sample("_sum", labels, None, self.sum), Sample("_count", labels, None, self.count)]


class NativeHistogramSeries(HistogramSeries):
    """A histogram with native (sparse exponential) buckets beside its classic ones, as client_golang
    keeps both: the protobuf exposition carries both, the text formats the classic ones."""

    __slots__ = ("sparse",)

    def __init__(self, key, ttl, now, options: HistogramOptions, tally: BucketTally) -> None:
        super().__init__(key, ttl, now, options)
        self.sparse = NativeBuckets(options.native_factor, options.native_max_buckets, tally)

    def update(self, value: float, relative: bool, repeat: int, now: float) -> None:
        super().update(value, relative, repeat, now)
        self.sparse.observe(value, repeat)

    def native_held(self) -> int:
        return self.sparse.held()

    def native(self) -> NativeSnapshot | None:
        return self.sparse.snapshot()


class SummarySeries(Series):
    """Quantiles over a sliding window of ``age_buckets`` slots spanning ``max_age``.

    Observations append to the current slot (the hot path does that inline); a slot that grows past
    twice the reservoir size is reduced to a uniform reservoir, so memory stays bounded however many
    observations arrive. Count and sum are cumulative, as in client_golang.
    """

    __slots__ = ("count", "current", "older", "quantiles", "seen", "slot_end", "slot_length", "slots", "sum")

    def __init__(self, key, ttl, now, options: SummaryOptions) -> None:
        super().__init__(key, ttl, now)
        self.quantiles = tuple(q for q, _ in options.quantiles)
        self.slot_length = options.max_age / max(options.age_buckets, 1)
        self.older = max(options.age_buckets, 1) - 1
        self.slots: list[list[float]] = []
        self.current: list[float] = []
        self.seen = 0
        self.slot_end = now + self.slot_length
        self.sum = 0.0
        self.count = 0

    def update(self, value: float, relative: bool, repeat: int, now: float) -> None:
        """``repeat`` observations: all count; the window keeps at most a reservoir's worth of copies."""
        if now >= self.slot_end:
            self.rotate(now)
        current = self.current
        if repeat == 1:
            current.append(value)
        else:
            current.extend([value] * min(repeat, SUMMARY_RESERVOIR))
        if len(current) > 2 * SUMMARY_RESERVOIR:
            self.compact()
        self.sum = add_repeated(self.sum, value, repeat) if repeat != 1 else self.sum + value
        self.count += repeat
        self.last_seen = now

    def compact(self) -> None:
        """Batch reservoir sampling: each observation of the slot is kept with equal probability."""
        current = self.current
        reservoir = current[:SUMMARY_RESERVOIR]
        seen = max(self.seen, SUMMARY_RESERVOIR)
        for value in current[SUMMARY_RESERVOIR:]:
            seen += 1
            index = random.randrange(seen)
            if index < SUMMARY_RESERVOIR:
                reservoir[index] = value
        self.seen = seen
        self.current = reservoir

    def rotate(self, now: float) -> None:
        """Start a new slot; slots older than the window (``age_buckets`` slots) are forgotten."""
        if len(self.current) > SUMMARY_RESERVOIR:
            self.compact()
        elapsed = int((now - self.slot_end) // self.slot_length) + 1
        older = self.older
        self.slots.append(self.current)
        self.slots.extend([] for _ in range(min(elapsed - 1, older)))
        if older:
            del self.slots[:-older]
        else:
            self.slots.clear()
        self.current, self.seen = [], 0
        self.slot_end += elapsed * self.slot_length

    def quantile_values(self, now: float) -> list[tuple[float, float]]:
        if now >= self.slot_end:
            self.rotate(now)
        samples = sorted(v for v in (*self.current, *(v for slot in self.slots for v in slot)) if v == v)
        if not samples:
            return [(q, math.nan) for q in self.quantiles]
        last = len(samples) - 1
        return [(q, samples[min(last, max(0, math.ceil(q * len(samples)) - 1))]) for q in self.quantiles]

    def samples(self, now: float) -> list[Sample]:
        labels = self.label_text
        return [
            *(Sample("", labels, ("quantile", q), v) for q, v in self.quantile_values(now)),
            Sample("_sum", labels, None, self.sum),
            Sample("_count", labels, None, self.count),
        ]


class Family:
    __slots__ = ("help", "kind", "label_sets", "name", "series")

    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name = name
        self.kind = kind
        self.help = help_text
        self.series: dict[tuple, Series] = {}
        self.label_sets: set[tuple[str, ...]] = set()


class Sample(NamedTuple):
    """One exposition line: name suffix, rendered labels, an extra ``le``/``quantile`` label, value."""

    suffix: str
    labels: str
    extra: tuple[str, float] | None
    value: float


class SeriesSnapshot(NamedTuple):
    """One series at a scrape: its label pairs, its exposition lines and, for a native histogram, its
    native buckets (which only the protobuf format carries)."""

    key: tuple[tuple[str, str], ...]
    samples: list[Sample]
    native: NativeSnapshot | None = None


@dataclass(frozen=True)
class FamilySnapshot:
    name: str
    kind: str
    help: str
    series: list[SeriesSnapshot]

    @property
    def samples(self) -> Iterator[Sample]:
        return chain.from_iterable(s.samples for s in self.series)


class TypeConflict(Exception):
    """A name is already registered with another type, or one of its exposed names is another family's
    (counted, never raised to a sender)."""


class SeriesLimitExceeded(Exception):
    """A new series would pass a limit; ``scope`` is "global", "per_metric", "label_bytes" or "memory"."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


@dataclass(frozen=True)
class Limits:
    """Series limits (0: none). Past one, new series are dropped and counted; existing ones update.

    ``label_bytes`` bounds one series' label names and values together; ``memory_bytes`` bounds the
    estimated memory of all series (``series_cost``), so a limit holds for long labels and histograms too.
    """

    global_series: int = 0
    per_metric: int = 0
    label_bytes: int = 0
    memory_bytes: int = 0


# Estimated bytes a series costs the bridge while held: its objects, the dictionary slots and line-cache
# entry that find it, and what a scrape holds for it; measured by bench/series_memory.py.
# Measured (100k series, Python 3.11; docs/memory.md): counters 959 B, gauges 966 B, histograms of 11
# buckets 1142 B, counters with 1 KB labels 3061 B; summaries are charged for a partly filled window.
SERIES_COST = {COUNTER: 1000, GAUGE: 1000, HISTOGRAM: 1000, SUMMARY: 8000}
BUCKET_COST = 24
# A native histogram bucket is a dictionary entry, charged as it is made (measured: 53 B each).
NATIVE_BUCKET_COST = 64
LABEL_BYTE_COST = 3


def series_cost(kind: str, key: tuple[tuple[str, str], ...], buckets: int = 0) -> int:
    return _cost(kind, label_bytes(key), buckets)


def _cost(kind: str, size: int, buckets: int) -> int:
    return SERIES_COST[kind] + BUCKET_COST * buckets + LABEL_BYTE_COST * size


def label_bytes(labels) -> int:
    """The bytes of label pairs (a dict's items or a series key)."""
    return sum(map(len, chain.from_iterable(labels)))


def expiry_scan_interval(shortest_ttl: float) -> float:
    """Seconds between two scans for expired series: a tenth of the shortest TTL, within 1 s and 60 s. Every
    scan visits every series, so with the preset's one-hour TTLs a scan each second cost about 0.4 µs per
    series each second, a constant load at fleet scale; a series now outlives its TTL by at most a tenth."""
    return min(max(shortest_ttl / 10, 1.0), 60.0)


class Registry:
    def __init__(self, limits: Limits = Limits()) -> None:
        self.families: dict[str, Family] = {}
        self.vectors_created = {COUNTER: 0, GAUGE: 0, HISTOGRAM: 0, SUMMARY: 0}
        self.limits = limits
        self.series_total = 0
        self.fixed_memory = 0  # estimated bytes of every series held, but for native buckets
        self.native_buckets = BucketTally()
        self._claims: dict[str, str] = {}  # exposed name -> the family that exposes it
        self._shortest_ttl = math.inf  # of every series given a TTL so far
        self._scan_at = -math.inf  # the next expiry scan is due then

    def get(
        self,
        name: str,
        kind: str,
        labels: dict[str, str],
        help_text: str,
        rule_options,
        ttl: float,
        now: float,
    ) -> Series:
        """The series for (name, labels), created if new; TypeConflict when the name is taken."""
        key = tuple(sorted(labels.items()))
        if ttl and ttl < self._shortest_ttl:
            self._shortest_ttl = ttl
            self._scan_at = min(self._scan_at, now + expiry_scan_interval(ttl))
        family = self.families.get(name)
        if family is not None and family.kind == kind:
            series = family.series.get(key)
            if series is not None:
                series.ttl = ttl
                series.last_seen = now
                return series
        elif family is not None or any(claimed in self._claims for claimed in exposed_names(name, kind)):
            raise TypeConflict(name)
        size = label_bytes(key)
        cost = _cost(kind, size, len(rule_options.buckets) if kind == HISTOGRAM else 0)
        self._check_limits(family, size, cost)
        if family is None:
            family = self.families[name] = Family(name, kind, help_text)
            self._claims.update(dict.fromkeys(exposed_names(name, kind), name))
        names = tuple(k for k, _ in key)
        if names not in family.label_sets:
            family.label_sets.add(names)
            self.vectors_created[kind] += 1
        series = self._new_series(kind, key, ttl, now, rule_options)
        family.series[key] = series
        self.series_total += 1
        self.fixed_memory += cost
        return series

    @property
    def memory(self) -> int:
        """Estimated bytes of every series held."""
        return self.fixed_memory + NATIVE_BUCKET_COST * self.native_buckets.held

    def _new_series(self, kind: str, key: tuple, ttl: float, now: float, options) -> Series:
        if kind == HISTOGRAM:
            if options.native:
                return NativeHistogramSeries(key, ttl, now, options, self.native_buckets)
            return HistogramSeries(key, ttl, now, options)
        if kind == SUMMARY:
            return SummarySeries(key, ttl, now, options)
        return CounterSeries(key, ttl, now) if kind == COUNTER else GaugeSeries(key, ttl, now)

    def find(self, name: str, kind: str, labels: dict[str, str]) -> Series | None:
        """The series for (name, labels) if it exists as ``kind``; nothing is made or refreshed."""
        family = self.families.get(name)
        if family is None or family.kind != kind:
            return None
        return family.series.get(tuple(sorted(labels.items())))

    def _check_limits(self, family: Family | None, size: int, cost: int) -> None:
        limits = self.limits
        if limits.global_series and self.series_total >= limits.global_series:
            raise SeriesLimitExceeded("global")
        if limits.per_metric and family is not None and len(family.series) >= limits.per_metric:
            raise SeriesLimitExceeded("per_metric")
        if limits.label_bytes and size > limits.label_bytes:
            raise SeriesLimitExceeded("label_bytes")
        if limits.memory_bytes and self.memory + cost > limits.memory_bytes:
            raise SeriesLimitExceeded("memory")

    def labels_fit(self, labels) -> bool:
        """Whether label pairs (a dict's items or a series key) are within the label-bytes limit."""
        limit = self.limits.label_bytes
        return not limit or label_bytes(labels) <= limit

    def expire(self, now: float) -> list[Series]:
        """Drop series whose TTL has passed, and metrics left with none; returns the dropped series.

        Forgetting an emptied metric keeps memory bounded when ids churn through metric names
        (statsd_exporter keeps the name registered, so there the first type would still win). Scans only
        when one is due (``expiry_scan_interval``).
        """
        removed: list[Series] = []
        if now < self._scan_at:
            return removed
        self._scan_at = now + expiry_scan_interval(self._shortest_ttl)
        for name, family in list(self.families.items()):
            stale = [k for k, s in family.series.items() if s.ttl and s.last_seen + s.ttl < now]
            for key in stale:
                series = family.series.pop(key)
                removed.append(series)
                self.fixed_memory -= _cost_of(family.kind, series)
                self.native_buckets.held -= series.native_held()
            if stale and not family.series:
                del self.families[name]
                for claimed in exposed_names(name, family.kind):
                    self._claims.pop(claimed, None)
        self.series_total -= len(removed)
        return removed

    def collect(self, now: float) -> list[FamilySnapshot]:
        return [_snapshot(f, sorted(f.series), now) for f in self.families.values() if f.series]

    def self_metrics(self) -> dict[tuple[str, tuple], float]:
        """Series held, their estimated memory, the limits, and vectors made by type."""
        limits = self.limits
        out: dict[tuple[str, tuple], float] = {
            ("airglow_bridge_series", ()): float(self.series_total),
            ("airglow_bridge_series_memory_bytes", ()): float(self.memory),
        }
        for scope, limit in (
            ("global", limits.global_series),
            ("per_metric", limits.per_metric),
            ("label_bytes", limits.label_bytes),
            ("memory_bytes", limits.memory_bytes),
        ):
            out[("airglow_bridge_series_limit", (("scope", scope),))] = float(limit)
        for kind, created in self.vectors_created.items():
            if created:
                out[("statsd_exporter_metrics_total", (("type", kind),))] = float(created)
        return out

    def series_keys(self, name: str) -> list[tuple]:
        family = self.families.get(name)
        return sorted(family.series) if family is not None else []

    def snapshot(self, name: str, keys: list[tuple], now: float) -> FamilySnapshot | None:
        """The samples of the given series of one family (those still held), for a scrape in slices."""
        family = self.families.get(name)
        return _snapshot(family, keys, now) if family is not None else None


def _cost_of(kind: str, series: Series) -> int:
    return series_cost(kind, series.key, series.buckets_held())


def _snapshot(family: Family, keys: list[tuple], now: float) -> FamilySnapshot:
    held = family.series
    found = [s for s in map(held.get, keys) if s is not None]
    series = [SeriesSnapshot(s.key, s.samples(now), s.native()) for s in found]
    return FamilySnapshot(family.name, family.kind, family.help, series)
