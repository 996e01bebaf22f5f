"""The per-line hot path: lines in, series updated, every line accounted for.

A line's cost after warm-up is a few dictionary look-ups: the line minus its value (name, type,
rate, tags) keys a cache of resolved series, so only the value is parsed per line. Anything the
cache cannot answer exactly (errors, multi-value lines, negative counters, unusual numbers) takes
the slow path, which parses and maps the line in full and counts every reason.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Container, Hashable
from typing import Any, cast

from airglow.bridge.fleet import NO_IDENTITY, FleetIdentity
from airglow.bridge.line import ParsedLine, ParserOptions, parse_line
from airglow.bridge.mapping import Mapper
from airglow.bridge.registry import (
    HISTOGRAM,
    SUMMARY,
    Registry,
    SeriesLimitExceeded,
    TypeConflict,
)
from airglow.bridge.resolve import DROP, EVENT_ERRORS, MAP, Resolution, resolve
from airglow.bridge.selfmetrics import SelfMetrics, Values
from airglow.bridge.twins import BARE, LEGACY, TwinRole, Twins

_COUNTER, _GAUGE, _HISTOGRAM, _SUMMARY, _DROP = range(5)
_KIND_CODES = {"counter": _COUNTER, "gauge": _GAUGE, HISTOGRAM: _HISTOGRAM, SUMMARY: _SUMMARY}
_EVENT_TYPE = {"counter": "counter", "gauge": "gauge", HISTOGRAM: "observer", SUMMARY: "observer"}
_VALUE_START = frozenset(b"0123456789.+-")
_VALUE_END = frozenset(b"0123456789.")
_NAN = float("nan")
# Metric names shown as label values of the drop and conflict self-metrics: bounded under a name explosion.
_NAMES_SHOWN = 1000
# The line cache is emptied when its keys pass this many bytes (long lines cannot make it grow unbounded).
LINE_CACHE_BYTES = 32 * 1024 * 1024
# Kinds of cached lines by the increments they make (see Pipeline._outcome): bounded against hostile senders.
MAX_OUTCOMES = 4096
# Waiting twins are settled at most this often from the hot path (UDP hands over one datagram at a time).
_SETTLE_EVERY = 0.1
# Where a waiting bare twin's update goes: its resolution, and its series once made ([series, registry epoch]).
TwinTarget = tuple[Resolution, list]
# A twin line's part of its cache entry: (pair number, its twin's pair number, family, role's fields,
# resolution, cached series of a bare form); see Pipeline._cached_twin.
CachedTwin = tuple[int | None, int | None, str, tuple[str, ...], Resolution | None, list | None]
# A waiting bare twin's update (target, value, relative gauge, repeat), applied when it counts.
Update = tuple[TwinTarget, float, bool, int]
# One self-metric increment: (name, labels, amount).
Increment = tuple[str, tuple[tuple[str, str], ...], int]
# What one more line of a cached shape does (the line cache's entry, keyed by the line minus its value): the
# kind code (_COUNTER, _GAUGE, _HISTOGRAM, _SUMMARY or _DROP), its series (None: dropped, or a twin's series
# not made yet), the divisor and the scale of its value, the observations it stands for, its outcome's shared
# hit counter (the self-metric increments one such line makes, see _outcome), and its twin part. A plain
# tuple, not a NamedTuple: the hot loop unpacks it per line, and only an exact tuple unpacks at full speed.
CachedLine = tuple[int, Any, float, float, int, list[int], CachedTwin | None]


class Pipeline:
    """Owns the registry's lock; listeners hand it batches of raw lines."""

    def __init__(
        self,
        options: ParserOptions,
        mapper: Mapper,
        registry: Registry,
        stats: SelfMetrics,
        identity: FleetIdentity = NO_IDENTITY,
        line_cache_size: int = 200_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options
        self.identity = identity
        self.mapper = mapper
        self.registry = registry
        self.stats = stats
        self.lock = threading.Lock()
        self.clock = clock
        self._cache: dict[bytes, CachedLine] = {}
        self._cache_limit = line_cache_size
        self._cache_bytes = 0
        self._pair_numbers: dict[tuple[str, str], int] = {}  # see _cached_twin
        self._pairs_forgotten = 0
        self._outcomes: dict[tuple, list[int]] = {}  # see _outcome
        self.lines = 0
        self.batches = 0
        self._dropped_names = ShownNames(_NAMES_SHOWN)
        self._conflict_names = ShownNames(_NAMES_SHOWN)
        self.twins: Twins[Update] = Twins(self._apply_twin)
        self._epoch = 0  # moves when series expire: a twin's cached series is then looked up again
        self._settle_at = 0.0
        self._warned_unknown_deployment = False

    def swap_mapper(self, mapper: Mapper) -> None:
        """Reload: one assignment, and forget every cached resolution of the old mapping."""
        with self.lock:
            self.mapper = mapper
            self._outcomes = {}  # whether the mapper caches is part of what a line increments
            self._forget_lines()

    def expire(self) -> int:
        """Apply twins whose window ended; drop expired series, and only the cached lines that pointed at them."""
        with self.lock:
            now = self.clock()
            self.settle_twins(now)
            removed = self.registry.expire(now)
            if removed:
                self._epoch += 1
                dead = {id(series) for series in removed}
                self._cache = {key: entry for key, entry in self._cache.items() if id(entry[1]) not in dead}
            return len(removed)

    def settle_twins(self, now: float) -> None:
        """Apply the held twin events whose window has ended (called under the lock)."""
        self._settle_at = now + _SETTLE_EVERY
        self.twins.settle(now)

    def self_metrics(self) -> Values:
        """The pipeline's counters and those of the parts it holds, read at once under its lock (twins
        whose window ended are settled first, so a scrape shows them)."""
        with self.lock:
            self.settle_twins(self.clock())
            return {
                **self.stats.totals(),
                ("statsd_exporter_lines_total", ()): float(self.lines),
                ("statsd_exporter_event_queue_flushed_total", ()): float(self.batches),
                **self.twins.self_metrics(),
                **self.registry.self_metrics(),
                **self.mapper.self_metrics(),
            }

    def process(self, lines: list[bytes], pod_deployment: str | None = None, sender: Hashable = None) -> None:
        """Apply a batch of lines from ``sender`` (its address: twins pair per sender); ``pod_deployment``
        is the sender pod's deployment, when looked up."""
        now = self.clock()
        # The sender's deployment changes what a line resolves to, so it is part of the cache key.
        source = pod_deployment.encode() + b"\0" if pod_deployment else b""
        with self.lock:
            self.lines += len(lines)
            self.batches += 1
            if now >= self._settle_at:
                self.settle_twins(now)
            cache = self._cache
            twins = self.twins
            offer = twins.offer
            # The hot loop pairs a sender's adjacent twins itself, except in families the pairing state holds
            # something of: busy (None until the first twin line of the batch claims the sender's state).
            # first, first_value: a counted first form whose twin may come next.
            busy: Container[str] | None = None
            first = first_value = claimed = None
            firsts = dropped = 0
            bare_paired: list[str] | None = None  # families of bare forms paired with the legacy form before
            for line in lines:
                colon = line.find(b":")
                bar = line.find(b"|", colon)
                key = None
                if colon > 0 and bar >= 0:
                    key = source + line[:colon] + line[bar:] if source else line[:colon] + line[bar:]
                    entry = cache.get(key)
                    if entry is not None:
                        text = line[colon + 1 : bar]
                        code, series, divisor, scale, repeat, hits, twin = entry
                        try:
                            value = float(text) / divisor * scale
                        except ValueError:
                            value = _NAN
                        if (
                            text
                            and text[0] in _VALUE_START
                            and text[-1] in _VALUE_END
                            and value - value == 0
                            and (value >= 0 or code != _COUNTER)
                        ):
                            if twin is not None:  # counted only if it is its event's first form
                                # The sender's pairing state, and its first form still waiting, once per batch
                                # (kept with its cached twin part, so a one-line datagram rebuilds nothing):
                                if busy is None:
                                    busy, claimed = twins.claim(sender)
                                    if claimed is not None:
                                        first_value = claimed[1]
                                        first = claimed[2] or self._cached_twin(claimed[0], None, None)
                                keyvalue = value if code <= _GAUGE else None
                                pair = twin[0]  # None for a bare form
                                if first is not None and first[1] == pair and first_value == keyvalue:
                                    first = None
                                    dropped += 1
                                    hits[0] += 1
                                    continue
                                if (
                                    pair is None
                                    and first is not None
                                    and first[2] == twin[2]
                                    and first[3][0]
                                    == LEGACY  # (its role) a bare form pairs with a legacy one
                                    and first_value == keyvalue
                                    and twin[2] not in busy
                                ):
                                    first = None
                                    dropped += 1
                                    if bare_paired is None:
                                        bare_paired = [twin[2]]
                                    else:
                                        bare_paired.append(twin[2])
                                    hits[0] += 1
                                    continue
                                if first is not None and pair is not None and twin[2] not in busy:
                                    # The first form's twin did not come next: from now on the pairing state
                                    # expects it.
                                    busy = twins.expect(sender, TwinRole._make(first[3]), first_value, now)
                                    first = None
                                if first is None and pair is not None and twin[2] not in busy:
                                    first, first_value = twin, keyvalue  # its twin may come next
                                    firsts += 1
                                else:  # the pairing state decides
                                    if firsts or dropped or first is not None:
                                        self._counted(
                                            sender,
                                            firsts,
                                            dropped,
                                            first,
                                            first_value,
                                            now,
                                            claimed,
                                            bare_paired,
                                        )
                                        bare_paired = None
                                    firsts = dropped = 0
                                    bare = pair is None
                                    update: Update | None = (
                                        (
                                            cast(TwinTarget, twin[4:]),  # a bare form's entry keeps both
                                            value,
                                            code == _GAUGE and text[0] in b"+-",
                                            repeat,
                                        )
                                        if bare
                                        else None
                                    )
                                    counts = offer(sender, TwinRole._make(twin[3]), keyvalue, update, now)
                                    busy = first = first_value = claimed = None  # claimed again when needed
                                    if not counts or bare:
                                        hits[0] += 1
                                        continue
                                if series is None:  # its series is made when the line first counts
                                    series = self._twin_series(key, entry, twin, now)
                                    if series is None:
                                        hits[0] += 1
                                        continue
                            if series is not None:  # None: a dropped line
                                series.update(value, code == _GAUGE and text[0] in b"+-", repeat, now)
                            hits[0] += 1
                            continue
                        key = None  # a cached line with an unusual value: the full path, not cached again
                # The full path pairs through the pairing state: bring it up to date first.
                if firsts or dropped or first is not None:
                    self._counted(sender, firsts, dropped, first, first_value, now, claimed, bare_paired)
                    bare_paired = None
                firsts = dropped = 0
                self._slow(line, key, now, pod_deployment, sender)
                busy = first = first_value = claimed = None  # claimed again when needed
            if firsts or dropped or first is not None:
                self._counted(sender, firsts, dropped, first, first_value, now, claimed, bare_paired)

    def _counted(
        self,
        sender: Hashable,
        firsts: int,
        dropped: int,
        first: CachedTwin | None,
        value: float | None,
        now: float,
        claimed: tuple | None,
        bare_paired: list[str] | None,
    ) -> None:
        """Tell the pairing state what the hot loop paired since it claimed the sender's state (``claimed``:
        handed back as it is when the first form is still the one claimed; ``bare_paired``: the families of the
        bare forms among the ``dropped``)."""
        if first is None:
            unpaired = None
        elif claimed is not None and claimed[2] is first and claimed[1] == value:
            unpaired = claimed
        else:
            unpaired = (first[3], value, first)  # the role's fields: no TwinRole made per line
        self.twins.counted(sender, firsts, dropped, unpaired, now, bare_paired or ())

    def _cached_twin(self, role: TwinRole, resolution: Resolution | None, series) -> CachedTwin:
        """A twin line's part of its cache entry. The two forms of an event get opposite pair numbers (a
        legacy form n, a tagged one -n), so the hot loop pairs them with one comparison of small integers.
        The role is kept as a plain tuple of strings, and the resolution only until the series exists: the
        cyclic GC then stops tracking the entry's twin part (a GC-tracked object per cached line costs
        every collection)."""
        fields = tuple(role)
        if role.form is BARE:  # a bare form waits for its legacy twin: it keeps where its update goes
            return None, None, role.family, fields, resolution, [None, -1]
        pair = self._pair_number(role.text, role.family)
        if role.form is not LEGACY:
            pair = -pair
        # Once its series exists, the line needs no resolution any more (see _twin_series).
        return pair, -pair, role.family, fields, resolution if series is None else None, None

    def _slow(
        self, line: bytes, key: bytes | None, now: float, pod_deployment: str | None, sender: Hashable
    ) -> None:
        parsed = parse_line(line, self.options)
        applied = [self._apply(event, now, pod_deployment, sender) for event in parsed.events]
        self.stats.add_all(line_increments(parsed, applied, self.mapper.caching))
        if key is None or parsed.errors or parsed.multi_sample or len(applied) != 1:
            return
        resolution, series, repeat, _, fate = applied[0]
        if fate in (DROPPED, COUNTED):
            self._remember(key, parsed, resolution, series, repeat)

    def _apply(self, event, now: float, pod_deployment: str | None, sender: Hashable) -> Applied:
        """Apply one event to the registry; what it did is counted by the caller (``line_increments``)."""
        mapper = self.mapper
        repeat = event.repeat  # statsd_exporter counts each observation a sampled timer stands for
        hits_before = mapper.cache_hits
        identified = self.identity.apply(event, pod_deployment)
        if not self._warned_unknown_deployment and self.identity.fell_back(event, identified):
            self._warned_unknown_deployment = True
            self.identity.warn_fallback()
        resolution = resolve(identified, mapper)
        cache_hit = mapper.cache_hits != hits_before
        if resolution.action == DROP:
            return (resolution, None, repeat, cache_hit, DROPPED)
        if resolution.error is not None:
            return (resolution, None, repeat, cache_hit, FAILED)
        if resolution.twin is not None and not self.registry.labels_fit(resolution.labels.items()):
            self._count_dropped("label_bytes", resolution.name)  # before pairing: it never holds such labels
            return (resolution, None, repeat, cache_hit, REFUSED)
        if resolution.twin is not None and not self._offer_twin(resolution, resolution.twin, sender, now):
            # Dropped as a twin, or a bare event waiting: no series now (bridge.twins decides).
            return (resolution, None, repeat, cache_hit, COUNTED)
        series = self._series(resolution, now)
        if series is None:
            return (resolution, None, repeat, cache_hit, REFUSED)
        series.update(resolution.value, resolution.relative, repeat, now)
        return (resolution, series, repeat, cache_hit, COUNTED)

    def _series(self, resolution: Resolution, now: float):
        """The resolution's series, or None when a type conflict or a series limit refuses it (counted)."""
        try:
            return self.registry.get(
                resolution.name,
                resolution.kind,
                resolution.labels,
                resolution.help,
                resolution.options,
                resolution.ttl,
                now,
            )
        except TypeConflict:
            self.stats.inc(
                "statsd_exporter_events_conflict_total",
                (
                    ("metric_name", self._conflict_names.shown(resolution.name)),
                    ("type", _EVENT_TYPE[resolution.kind]),
                ),
            )
        except SeriesLimitExceeded as exceeded:
            self._count_dropped(exceeded.scope, resolution.name)
        return None

    def _count_dropped(self, limit: str, name: str) -> None:
        self.stats.inc(
            "airglow_bridge_series_dropped_total",
            (("limit", limit), ("metric_name", self._dropped_names.shown(name))),
        )

    def _offer_twin(self, resolution: Resolution, role: TwinRole, sender: Hashable, now: float) -> bool:
        """Whether the twin counts now. Pairs on the value for counters and gauges (Airflow 2 sends zero
        counts too), not for timers; a bare twin that waits is applied by ``_apply_twin`` when it counts."""
        code = _KIND_CODES[resolution.kind]
        value = resolution.value
        update = ((resolution, [None, -1]), value, resolution.relative, 1) if role.form is BARE else None
        return self.twins.offer(sender, role, value if code <= _GAUGE else None, update, now)

    def _pair_number(self, text: str, family: str) -> int:
        """The number both forms of the event (text, family) share. The table is bounded like the line cache;
        starting it over is safe: numbers are never reused, so a pair split across it goes to the pairing state."""
        number = self._pair_numbers.get((text, family))
        if number is None:
            if len(self._pair_numbers) >= self._cache_limit:
                self._forget_pair_numbers()
            number = self._pair_numbers[(text, family)] = len(self._pair_numbers) + self._pairs_forgotten + 1
        return number

    def _forget_pair_numbers(self) -> None:
        self._pairs_forgotten += len(self._pair_numbers)
        self._pair_numbers = {}

    def _twin_series(self, key: bytes, entry: CachedLine, twin: CachedTwin, now: float):
        """A cached twin line counts for the first time: make its series and keep it in the line's entry (an
        entry without its series keeps the resolution to make it from; with it, the entry needs it no more)."""
        resolution = twin[4]
        series = self._series(resolution, now) if resolution is not None else None
        if series is not None:
            self._cache[key] = (entry[0], series, *entry[2:6], (*twin[:4], None, None))
        return series

    def _apply_twin(self, update: Update, now: float) -> None:
        """A waiting bare twin counts (bridge.twins calls this when its window ends)."""
        (resolution, cached), value, relative, repeat = update
        series, epoch = cached
        if epoch != self._epoch or series is None:
            series = self._series(resolution, now)
            cached[0], cached[1] = series, self._epoch
            if series is None:
                return
        series.update(value, relative, repeat, now)

    def _forget_lines(self) -> None:
        self._cache = {}
        self._cache_bytes = 0
        self._forget_pair_numbers()

    def _remember(self, key: bytes, parsed: ParsedLine, resolution: Resolution, series, repeat: int) -> None:
        """Cache the line's resolution, with the increments one more such line makes."""
        if len(self._cache) >= self._cache_limit or self._cache_bytes >= LINE_CACHE_BYTES:
            self._forget_lines()
        if parsed.divisor is None:
            return
        hits = self._outcome(parsed, resolution, repeat)
        if hits is None:
            return
        self._cache_bytes += len(key)
        code = _DROP if resolution.action == DROP else _KIND_CODES[resolution.kind]
        if resolution.twin is not None and series is None and resolution.twin.form is not BARE:
            # A dropped second form: its twin made the series.
            series = self.registry.find(resolution.name, resolution.kind, resolution.labels)
        twin = self._cached_twin(resolution.twin, resolution, series) if resolution.twin is not None else None
        self._cache[key] = (code, series, parsed.divisor, resolution.scale, repeat, hits, twin)

    def _outcome(self, parsed: ParsedLine, resolution: Resolution, repeat: int) -> list[int] | None:
        """The shared hit counter of lines that make the same increments (few kinds: looked up by a short key);
        None once MAX_OUTCOMES kinds are known (sample rates and tag errors are the sender's to vary: such a
        line is then not cached, and every one of it takes the full path)."""
        shape = (parsed.tags, parsed.tag_errors, resolution.action, resolution.kind, repeat)
        hits = self._outcomes.get(shape)
        if hits is None and len(self._outcomes) < MAX_OUTCOMES:
            increments = line_increments(
                parsed, [(resolution, None, repeat, True, _fate(resolution))], self.mapper.caching
            )
            hits = self._outcomes[shape] = self.stats.outcome(increments)
        return hits


# How an event on the full path ended, for the counters it increments (line_increments).
DROPPED, FAILED, REFUSED, COUNTED = "dropped", "failed", "refused", "counted"


# What one event did: (resolution, its series when it has one, the observations it stands for, whether the
# mapper's cache answered, how it ended: DROPPED by a rule, FAILED with the resolution's error, REFUSED by a
# conflict or a limit, or COUNTED). A plain tuple: the full path makes one per event.
Applied = tuple[Resolution, Any, int, bool, str]


def _fate(resolution: Resolution) -> str:
    return DROPPED if resolution.action == DROP else COUNTED


def line_increments(parsed: ParsedLine, applied: list[Applied], caching: bool) -> tuple[Increment, ...]:
    """The self-metric increments of one line: the one statement of what a line counts, for the full path
    (counted at once) and for a cached line (through its outcome's shared counter, as one more such line)."""
    out: list[Increment] = [
        ("statsd_exporter_sample_errors_total", (("reason", reason),), 1) for reason in parsed.errors
    ]
    if parsed.samples:
        out.append(("statsd_exporter_samples_total", (), parsed.samples))
    if parsed.tags:
        out.append(("statsd_exporter_tags_total", (), parsed.tags))
    if parsed.tag_errors:
        out.append(("statsd_exporter_tag_errors_total", (), parsed.tag_errors))
    for resolution, _, repeat, cache_hit, fate in applied:
        if caching:
            out.append(("statsd_metric_mapper_cache_gets_total", (), repeat))
            if cache_hit:
                out.append(("statsd_metric_mapper_cache_hits_total", (), repeat))
        if fate == DROPPED:
            out.append(("statsd_exporter_events_actions_total", (("action", DROP),), repeat))
            continue
        if fate == FAILED:
            error = resolution.error
            errors = (
                "statsd_exporter_events_error_total"
                if error in EVENT_ERRORS
                else "statsd_exporter_sample_errors_total"
            )
            out.append((errors, (("reason", str(error)),), 1))
            continue
        if resolution.action == MAP:
            out.append(("statsd_exporter_events_actions_total", (("action", MAP),), repeat))
        else:
            out.append(("statsd_exporter_events_unmapped_total", (), repeat))
        if fate == COUNTED:
            out.append(("statsd_exporter_events_total", (("type", _EVENT_TYPE[resolution.kind]),), repeat))
    return tuple(out)


class ShownNames:
    """Metric names used as self-metric label values: the first ``limit`` as they are, later ones as
    ``__other__``, so a flood of new names cannot grow the bridge's own metrics without bound."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._names: set[str] = set()

    def shown(self, name: str) -> str:
        if name in self._names or len(self._names) < self._limit:
            self._names.add(name)
            return name
        return "__other__"
