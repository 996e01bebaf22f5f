"""Twin events: Airflow sends one event under two names; the bridge counts it once.

With ``[metrics] legacy_names_on`` (the default) Airflow emits every metric that has a legacy name twice,
from the same client socket, legacy form first: ``ti.finish.<dag>.<task>.<state>`` (ids in the name, only
the remaining tags) and then ``ti.finish`` (ids as tags, or no tags at all with plain statsd). Which of the
two carries the ids depends on the sender's settings, so no static rule can pick one:

- a *tagged* form whose tags hold every id of the legacy template (DogStatsD, InfluxDB) is the richest;
- a *legacy* form carries the ids in its name;
- a *bare* tagged form (plain statsd, tags dropped) carries nothing but the count.

Pairing: events are matched per sender (source address and port: one Airflow process, one socket) by a key
both forms can compute: the legacy name text, with ``__`` read as ``.`` so that Airflow 3.3's escaped dots,
Airflow 2's raw dots and a tagged event's rendered template agree; counters and gauges add the value (Airflow
2 initialises ``ti.finish`` with zero counts per state), timers do not (a dual timer measures twice). A bare
form pairs with any legacy event of its family.

Only legacy events wait, because Airflow sends them first: a legacy event is held for ``window`` seconds; its
tagged twin arriving in time is applied and the legacy one dropped (a bare twin is dropped and the legacy one
applied); when the window ends the legacy event is applied alone. Tagged events never wait: with no held
partner they are applied at once. Whatever was applied alone leaves a *tombstone* for ``memory`` seconds that
absorbs one late twin of the other form, so a twin that is lost, late or out of order never counts twice or
not at all. What a sender does is learned per metric family: once its events of a family repeatedly find no twin
(legacy names off, or a metric without a tagged twin in that Airflow version), they stop waiting.
Every table is bounded; what a bound pushes out is applied early (never lost) and counted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

LEGACY, TAGGED, BARE = "legacy", "tagged", "bare"

# Decisions, as counted in airglow_bridge_twin_events_total{decision}.
PAIRED = "paired"  # both forms seen: one applied, the other dropped (counted once per pair)
LATE_TWIN = "late_twin_dropped"  # a twin that arrived after its partner had been applied alone
WAITED = "applied_after_window"  # a legacy event whose twin did not come within the window
AT_ONCE = "applied_at_once"  # a tagged event with no waiting partner, or a learned legacy-only sender
EVICTED = "applied_early_at_bound"  # pushed out of a full table before its window ended
DECISIONS = (PAIRED, LATE_TWIN, WAITED, AT_ONCE, EVICTED)

# Events of a family that found no twin this many times in a row: the sender sends only one form of it.
_SOLO_STREAK = 3

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class TwinRole:
    """What a mapped event is in a pair: its form, the legacy text it stands for, and its family.

    ``text`` is the canonical legacy name (empty for a bare form); ``family`` is the tagged name.
    """

    form: str
    text: str
    family: str


def canonical(legacy_text: str) -> str:
    """Airflow 3.3 escapes dots in ids as ``__`` in legacy names; Airflow 2 and tags keep the dots."""
    return legacy_text.replace("__", ".")


def render_legacy(template: str, tags: dict[str, str]) -> str | None:
    """The legacy name a tagged event stands for, or None when a tag the template needs is missing."""
    try:
        return canonical(template.format_map(tags))
    except (KeyError, ValueError, IndexError):
        return None


class _Entry(Generic[P]):
    __slots__ = ("deadline", "keys", "live", "payload")

    def __init__(self, keys: tuple[Hashable, ...], deadline: float, payload: P) -> None:
        self.keys = keys
        self.deadline = deadline
        self.payload = payload
        self.live = True


class _ExpiringTable(Generic[P]):
    """Entries under one or more keys, taken once by any key, expiring in insertion order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._order: deque[_Entry[P]] = deque()
        self._index: dict[Hashable, deque[_Entry[P]]] = {}

    def add(self, keys: tuple[Hashable, ...], deadline: float, payload: P) -> _Entry[P] | None:
        """Add an entry; returns the oldest live entry when the table was full (no longer in it)."""
        evicted = self._pop_oldest() if self.size >= self.limit else None
        if len(self._order) >= 2 * self.limit:
            self._compact()
        entry = _Entry(keys, deadline, payload)
        self._order.append(entry)
        for key in keys:
            self._index.setdefault(key, deque()).append(entry)
        self.size += 1
        return evicted

    def take(self, key: Hashable) -> _Entry[P] | None:
        entries = self._index.get(key)
        while entries:
            entry = entries.popleft()
            if entry.live:
                if not entries:
                    del self._index[key]
                self._kill(entry)
                return entry
        if entries is not None:
            del self._index[key]
        return None

    def expired(self, now: float) -> Iterator[_Entry[P]]:
        order = self._order
        while order and (not order[0].live or order[0].deadline <= now):
            entry = order.popleft()
            if entry.live:
                self._kill(entry)
                yield entry
            self._forget(entry)

    def _pop_oldest(self) -> _Entry[P] | None:
        while self._order:
            entry = self._order.popleft()
            live = entry.live
            if live:
                self._kill(entry)
            self._forget(entry)
            if live:
                return entry
        return None

    def _compact(self) -> None:
        """Entries taken by key stay queued until they reach the front; keep that bounded too."""
        self._order = deque(entry for entry in self._order if entry.live)
        self._index = {}
        for entry in self._order:
            for key in entry.keys:
                self._index.setdefault(key, deque()).append(entry)

    def _kill(self, entry: _Entry[P]) -> None:
        entry.live = False
        self.size -= 1

    def _forget(self, entry: _Entry[P]) -> None:
        """Drop dead entries at the front of the entry's key queues (it is the oldest of each)."""
        for key in entry.keys:
            entries = self._index.get(key)
            while entries and not entries[0].live:
                entries.popleft()
            if entries is not None and not entries:
                del self._index[key]


@dataclass(slots=True)
class _Learned:
    """What one sender does with one family: whether it sends the legacy form, and how often in a row an
    event of the family found no twin."""

    sends_legacy: bool = False
    alone_streak: int = 0


class Twins(Generic[P]):
    """The pairing state of every sender. Not thread-safe: the pipeline calls it under its lock.

    ``offer`` and ``due`` return the payloads to apply now; a payload is the caller's (a series and a value).
    Keys are ``(form, (sender, text or family, value))``: a form only ever takes an entry of another form.
    """

    def __init__(
        self,
        window: float = 2.0,
        memory: float = 60.0,
        max_held: int = 100_000,
        max_tombstones: int = 100_000,
        max_learned: int = 100_000,
    ) -> None:
        self.window = window
        self.memory = memory
        self._held: _ExpiringTable[P] = _ExpiringTable(max_held)
        self._tombstones: _ExpiringTable[None] = _ExpiringTable(max_tombstones)
        self._learned: dict[tuple[Hashable, str], _Learned] = {}
        self._max_learned = max_learned
        self.decisions = dict.fromkeys(DECISIONS, 0)

    @property
    def held(self) -> int:
        return self._held.size

    @property
    def tombstones(self) -> int:
        return self._tombstones.size

    @property
    def learned(self) -> int:
        return len(self._learned)

    def offer(self, sender: Hashable, role: TwinRole, value: float | None, payload: P, now: float) -> list[P]:
        """One twin-capable event; ``value`` is part of the key for counters and gauges, None for timers."""
        learned = self._learn(sender, role.family)
        exact = (sender, role.text, value)
        family = (sender, role.family, value)
        if role.form == LEGACY:
            learned.sends_legacy = True
            if self._held.take((BARE, family)) is not None:
                return self._paired(learned, payload)
            if self._tombstones.take((TAGGED, exact)) or self._tombstones.take((BARE, family)):
                return self._late(learned)
            if learned.alone_streak >= _SOLO_STREAK:  # this sender sends no tagged twin of this family
                return self._alone(AT_ONCE, ((LEGACY, exact), (LEGACY, family)), payload, now)
            return self._hold(((LEGACY, exact), (LEGACY, family)), payload, now)
        partner = (LEGACY, exact) if role.form == TAGGED else (LEGACY, family)
        held = self._held.take(partner)
        if held is not None:
            return self._paired(learned, payload if role.form == TAGGED else held.payload)
        if self._tombstones.take(partner):
            return self._late(learned)
        own = (TAGGED, exact) if role.form == TAGGED else (BARE, family)
        still_learning = learned.sends_legacy or learned.alone_streak < _SOLO_STREAK
        if role.form == BARE and still_learning:
            return self._hold((own,), payload, now)  # its legacy twin (the one with the ids) may be behind it
        if not still_learning:  # legacy_names_on = False: nothing to pair, nothing to remember
            self.decisions[AT_ONCE] += 1
            return [payload]
        learned.alone_streak += 1
        return self._alone(AT_ONCE, (own,), payload, now)

    def due(self, now: float) -> list[P]:
        """Held events whose window has ended, applied alone; forgets expired tombstones."""
        out = []
        for entry in self._held.expired(now):
            _, (sender, family, _) = entry.keys[-1]
            self._learn(sender, family).alone_streak += 1
            out += self._alone(WAITED, entry.keys, entry.payload, now)
        for _ in self._tombstones.expired(now):
            pass
        return out

    def _paired(self, learned: _Learned, payload: P) -> list[P]:
        learned.alone_streak = 0
        self.decisions[PAIRED] += 1
        return [payload]

    def _late(self, learned: _Learned) -> list[P]:
        learned.alone_streak = 0
        self.decisions[LATE_TWIN] += 1
        return []

    def _hold(self, keys: tuple, payload: P, now: float) -> list[P]:
        evicted = self._held.add(keys, now + self.window, payload)
        if evicted is None:
            return []
        return self._alone(EVICTED, evicted.keys, evicted.payload, now)

    def _alone(self, decision: str, keys: tuple, payload: P, now: float) -> list[P]:
        """Apply an event without its twin; its tombstone absorbs one late twin of the other form."""
        self.decisions[decision] += 1
        self._tombstones.add(keys, now + self.memory, None)
        return [payload]

    def _learn(self, sender: Hashable, family: str) -> _Learned:
        key = (sender, family)
        learned = self._learned.get(key)
        if learned is None:
            if len(self._learned) >= self._max_learned:
                # Oldest first: what is forgotten is learned again (its events wait once more).
                for stale in list(self._learned)[: self._max_learned // 2]:
                    del self._learned[stale]
            learned = self._learned[key] = _Learned()
        return learned
