"""Twin events: Airflow sends one event under two names; the bridge counts it once.

With ``[metrics] legacy_names_on`` (the default) Airflow emits every metric that has a legacy name twice,
from the same client socket, one right after the other: ``ti.finish.<dag>.<task>.<state>`` (ids in the name)
and ``ti.finish`` (ids as tags, or no tags at all with plain statsd). No static rule can pick one form: which
carries the ids depends on the sender's settings. Pairing does, per sender (source address and port: one
Airflow process, one socket), by a key both forms compute: the legacy name text, with ``__`` read as ``.``
so that Airflow 3.3's escaped dots, Airflow 2's raw dots and a tagged event's rendered template agree;
counters and gauges add the value (Airflow 2 initialises ``ti.finish`` with zero counts per state), timers do
not (a dual timer measures twice). A bare form (no tags) pairs with any legacy event of its family.

The legacy and the tagged form of an event land on the same series (the preset reads ids from the name as the
tags give them), so the first of the two to arrive counts at once, and leaves an *expectation* that absorbs
its twin when it comes, however late within ``memory`` seconds (up to twice that: tables expire a
generation at a time). The expectation first waits in a slot of its sender, where the twin that comes right
after it (as Airflow sends it) meets it in a few comparisons; any other event of that sender moves it to
tables keyed by the event. Nothing waits, except a bare form that arrives before its legacy twin: it carries no
ids, so it waits ``window`` seconds (up to twice that) for the legacy form, which then counts for both. A lost
twin leaves an expectation that expires unused; a late or out-of-order twin is absorbed: no count is lost or
doubled. A bare form that keeps finding no legacy twin (legacy names off) stops waiting once learned.
Every table is bounded: a full generation is turned over early, and what it held is applied, counted.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar, cast

LEGACY, TAGGED, BARE = "legacy", "tagged", "bare"

# Decisions, as counted in airglow_bridge_twin_events_total{decision}.
FIRST = "counted_first"  # the first form of an event: counted at once, its twin expected
PAIRED = "twin_dropped"  # the second form of a pair: absorbed by its twin's expectation
WAITED = "counted_after_window"  # a bare form whose legacy twin did not come within the window
EVICTED = "counted_early_at_bound"  # a bare form pushed out of a full table before its window ended
DECISIONS = (FIRST, PAIRED, WAITED, EVICTED)

# Bare events of a family that found no twin this many times in a row: the sender sends only that form.
_SOLO_STREAK = 3

P = TypeVar("P")
_NO_FAMILIES: dict[str, int] = {}  # never written


class TwinRole(NamedTuple):
    """What a mapped event is in a pair: its form, the legacy text it stands for, and its family.

    ``text`` is the canonical legacy name (empty for a bare form); ``family`` is the tagged name. A tuple of
    strings, which the cyclic GC stops tracking: every cached twin line keeps one.
    """

    form: str
    text: str
    family: str


def is_twin(first: tuple, first_value: float | None, role: TwinRole, value: float | None) -> bool:
    """Whether ``role`` (with ``value``) is the twin of the counted first form ``first`` (a TwinRole or its
    fields as a plain tuple): the other form of the same event (a bare form pairs with a legacy one of its
    family, never with a tagged one)."""
    form, text, family = first
    if first_value != value or family != role.family or form is role.form:
        return False
    if role.form is BARE:
        return form is LEGACY
    return form is not BARE and text == role.text


def canonical(legacy_text: str) -> str:
    """Airflow 3.3 escapes dots in ids as ``__`` in legacy names; Airflow 2 and tags keep the dots."""
    return legacy_text.replace("__", ".")


def render_legacy(template: str, tags: dict[str, str]) -> str | None:
    """The legacy name a tagged event stands for, or None when a tag the template needs is missing."""
    try:
        return canonical(template.format_map(tags))
    except (KeyError, ValueError, IndexError):
        return None


class _Generations(Generic[P]):
    """Values under keys in two dicts, expiring a generation at a time.

    Values go into the current dict; every ``span`` seconds the previous dict expires as a whole and the
    current one becomes the previous, so a value lives between ``span`` and ``2 * span`` seconds for a couple
    of dictionary operations. A current generation of ``limit`` values is turned over early, so at most
    ``2 * limit`` are ever held. Keys are flat tuples, counts ints: nothing for the cyclic GC to walk.
    """

    def __init__(
        self, span: float, limit: int, senders: dict[Hashable, dict[str, int]] | None = None
    ) -> None:
        self.span = span
        self.limit = limit
        self.current: dict[Hashable, P] = {}
        self.previous: dict[Hashable, P] = {}
        self.added = 0
        self.turn_at: float | None = None
        # Entries per sender and family (a key's first two elements), shared by the tables of one Twins: see
        # Twins.claim.
        self.senders = senders

    def _counted(self, key: tuple, change: int) -> None:
        senders = self.senders
        if senders is None:
            return
        sender, family = key[0], key[1]
        families = senders.get(sender)
        if families is None:
            families = senders[sender] = {}
        count = families.get(family, 0) + change
        if count > 0:
            families[family] = count
            return
        families.pop(family, None)
        if not families:
            del senders[sender]

    def start(self, now: float) -> dict[Hashable, P] | None:
        """Make room for one more value; returns a generation a full table turned over early."""
        pushed = self.turn() if self.added >= self.limit else None
        if self.turn_at is None:
            self.turn_at = now + self.span
        self.added += 1
        return pushed

    def turn(self) -> dict[Hashable, P]:
        """Make the current generation the previous one; returns the generation that ended."""
        ended, self.previous, self.current = self.previous, self.current, {}
        self.added = 0
        if self.senders is not None:
            for key, value in ended.items():
                self._counted(cast(tuple, key), -self._entries(value))  # keyed by (sender, family, ...)
        return ended

    @staticmethod
    def _entries(value) -> int:
        return 1

    def expired(self, now: float) -> list[tuple[dict[Hashable, P], float]]:
        """The generations that have ended by ``now``, with the time each ended."""
        out = []
        while self.turn_at is not None and now >= self.turn_at:
            ended = self.turn_at
            self.turn_at = ended + self.span if self.current or self.previous else None
            out.append((self.turn(), ended))
        return out


class _Expected(_Generations[int]):
    """Expectations of one kind: how many twins are expected under a key."""

    def add(self, key: tuple, now: float) -> None:
        self.start(now)
        current = self.current
        current[key] = current.get(key, 0) + 1
        self._counted(key, 1)

    @staticmethod
    def _entries(value: int) -> int:
        return value

    def take(self, key: tuple) -> bool:
        if self.turn_at is None:
            return False
        for generation in (self.previous, self.current):
            count = generation.get(key)
            if count:
                if count == 1:
                    del generation[key]
                else:
                    generation[key] = count - 1
                self._counted(key, -1)
                return True
        return False

    @property
    def size(self) -> int:
        return sum(self.current.values()) + sum(self.previous.values())


class _Waiting(_Generations[list]):
    """Bare events waiting for their legacy twin, oldest first under each key."""

    def add(self, key: tuple, payload, now: float) -> dict | None:
        pushed = self.start(now)
        waiting = self.current.get(key)
        if waiting is None:
            self.current[key] = [payload]
        else:
            waiting.append(payload)
        self._counted(key, 1)
        return pushed

    @staticmethod
    def _entries(value: list) -> int:
        return len(value)

    def take(self, key: tuple):
        if self.turn_at is None:
            return None
        for generation in (self.previous, self.current):
            waiting = generation.get(key)
            if waiting:
                payload = waiting.pop(0)
                if not waiting:
                    del generation[key]
                self._counted(key, -1)
                return payload
        return None

    @property
    def size(self) -> int:
        return sum(len(v) for g in (self.current, self.previous) for v in g.values())


@dataclass(slots=True)
class _Learned:
    """How often in a row (and since when) a bare event of one family from one sender found no twin."""

    alone_streak: int = 0
    alone_since: float = 0.0

    def alone(self, now: float) -> None:
        if not self.alone_streak:
            self.alone_since = now
        self.alone_streak += 1


class Twins(Generic[P]):
    """The pairing state of every sender. Not thread-safe: the pipeline calls it under its lock.

    ``apply(payload, now)`` is called for every event that counts, when its pairing decides; a payload is the
    caller's (a series and a value). ``max_held`` and ``max_expected`` bound each generation of each table:
    at most 2 * (max_held + 5 * max_expected) small flat entries in all (about 30 MB at the defaults, for
    a hostile sender; Airflow's traffic keeps them nearly empty), plus ``max_learned`` learning records.
    Keys: ``(sender, family, text, value)`` for a legacy or tagged event, ``(sender, family, value)`` for any
    legacy event of a family (what a bare form pairs with).
    """

    def __init__(
        self,
        apply: Callable[[P, float], None],
        window: float = 1.0,
        memory: float = 30.0,
        max_held: int = 20_000,
        max_expected: int = 20_000,
        max_learned: int = 20_000,
    ) -> None:
        self.window = window
        self.memory = memory
        self._apply = apply
        # entries per sender and family in the tables below
        self._senders: dict[Hashable, dict[str, int]] = {}
        self._bare: _Waiting = _Waiting(window, max_held, self._senders)
        # The first form each sender counted last, until its twin comes (Airflow sends them back to back);
        # on any other event from that sender it moves to the expectation tables below.
        self._last: _Generations[tuple] = _Generations(memory, max_expected)
        # What a counted first form expects: its tagged twin, a bare twin, or its legacy twin (exact or any).
        self._expect_tagged = _Expected(memory, max_expected, self._senders)
        self._expect_bare = _Expected(memory, max_expected, self._senders)
        self._expect_legacy = _Expected(memory, max_expected, self._senders)
        self._expect_legacy_of_family = _Expected(memory, max_expected, self._senders)
        self._expectations = (
            self._expect_tagged,
            self._expect_bare,
            self._expect_legacy,
            self._expect_legacy_of_family,
        )
        self._learned: dict[tuple[Hashable, str], _Learned] = {}
        self._max_learned = max_learned
        self.decisions = dict.fromkeys(DECISIONS, 0)

    def self_metrics(self) -> dict[tuple[str, tuple], float]:
        """What was decided, and what is held (airglow_bridge_twin_* self-metrics)."""
        out: dict[tuple[str, tuple], float] = {
            ("airglow_bridge_twin_events_total", (("decision", decision),)): float(count)
            for decision, count in self.decisions.items()
        }
        out[("airglow_bridge_twins_held", ())] = float(self.held)
        out[("airglow_bridge_twins_expected", ())] = float(self.expected)
        return out

    @property
    def held(self) -> int:
        return self._bare.size

    @property
    def expected(self) -> int:
        pending = len(self._last.current) + len(self._last.previous)
        return sum(table.size for table in self._expectations) + pending

    @property
    def learned(self) -> int:
        return len(self._learned)

    def offer(
        self, sender: Hashable, role: TwinRole, value: float | None, payload: P | None, now: float
    ) -> bool:
        """One twin-capable event: True when it counts now (the caller applies it), False when it is dropped
        as a twin; a bare event always answers False, and ``apply`` gets its ``payload`` (None for the other
        forms) when it counts. ``value`` is part of the key for counters and gauges, None for timers."""
        form, family, text = role.form, role.family, role.text
        last = self._last
        pending = last.current.pop(sender, None)
        if pending is None and last.previous:
            pending = last.previous.pop(sender, None)
        if pending is not None:
            if is_twin(pending[0], pending[1], role, value):
                self._paired_with_last(sender, form, family)
                return False
            self._expect(sender, pending, now)
        if form is BARE:
            if payload is None:
                raise ValueError(f"a bare twin of {family} needs the update to apply when it counts")
            return self._offer_bare(sender, family, (sender, family, value), payload, now)
        maybe_second = self._maybe_second_tagged if form is TAGGED else self._maybe_second_legacy
        if maybe_second(sender, family, text, value):
            absorbed = self._absorbed(sender, form, family, text, value)
            if absorbed is not None:
                return absorbed
        self.decisions[FIRST] += 1
        self._remember(sender, (role, value, None), now)
        return True

    def claim(self, sender: Hashable) -> tuple[Container[str], tuple | None]:
        """For a caller that pairs a sender's adjacent lines itself: the families that have waiting or expected
        events of the sender (an event of those goes through ``offer``; one of any other family is a first form
        or the twin of the one before it), and the sender's counted first form still waiting for its twin, taken
        out of its slot: (role, value, the caller's token for it or None). The caller reports back with
        ``counted`` before it calls anything else."""
        last = self._last
        pending = last.current.pop(sender, None)
        if pending is None and last.previous:
            pending = last.previous.pop(sender, None)
        return self._senders.get(sender, _NO_FAMILIES), pending

    def counted(
        self,
        sender: Hashable,
        first: int,
        dropped: int,
        unpaired: tuple | None,
        now: float,
        bare_paired: Iterable[str] = (),
    ) -> None:
        """What a caller paired by itself after ``claim(sender)``: ``first`` forms counted, ``dropped`` twins
        (among them bare forms of the families ``bare_paired``, each paired with the legacy form before it),
        and the last first form still ``unpaired`` (role or its fields, value, the caller's token), whose twin is now
        expected."""
        if first:
            self.decisions[FIRST] += first
        if dropped:
            self.decisions[PAIRED] += dropped
        for family in bare_paired:
            learned = self._learned.get((sender, family))
            if learned is not None:
                learned.alone_streak = 0
        if unpaired is not None:
            last = self._last
            if last.added < last.limit and last.turn_at is not None:  # the common case, inline
                last.added += 1
                last.current[sender] = unpaired
            else:
                self._remember(sender, unpaired, now)

    def expect(self, sender: Hashable, role: TwinRole, value: float | None, now: float) -> Container[str]:
        """A caller's counted first form whose twin did not come next: expect the twin under its keys. Returns
        the sender's families with waiting or expected events, as ``claim`` does."""
        self._expect(sender, (role, value, None), now)
        return self._senders.get(sender, _NO_FAMILIES)

    def _remember(self, sender: Hashable, first: tuple, now: float) -> None:
        last = self._last
        if last.added >= last.limit:
            for sender_key, stale in last.turn().items():
                self._expect(sender_key, stale, now)
        if last.turn_at is None:
            last.turn_at = now + last.span
        last.added += 1
        last.current[sender] = first

    def _maybe_second_tagged(self, sender: Hashable, family: str, text: str, value: float | None) -> bool:
        expected = self._expect_tagged
        if expected.turn_at is None:
            return False
        exact = (sender, family, text, value)
        return exact in expected.current or exact in expected.previous

    def _maybe_second_legacy(self, sender: Hashable, family: str, text: str, value: float | None) -> bool:
        """A cheap first look, by membership only: is a legacy twin expected, or a bare twin waiting?"""
        key = (sender, family, value)
        for table in (self._expect_legacy_of_family, self._bare):
            if table.turn_at is not None and (key in table.current or key in table.previous):
                return True
        expected = self._expect_legacy
        if expected.turn_at is None:
            return False
        exact = (sender, family, text, value)
        return exact in expected.current or exact in expected.previous

    def _paired_with_last(self, sender: Hashable, form: str, family: str) -> None:
        if form is BARE:
            self._bare_paired(sender, family)
        else:
            self.decisions[PAIRED] += 1

    def _expect(self, sender: Hashable, pending: tuple, now: float) -> None:
        """A counted first form whose twin did not come next: expect it under its keys."""
        (form, text, family), value = pending[0], pending[1]
        if form is LEGACY:
            self._expect_tagged.add((sender, family, text, value), now)
            self._expect_bare.add((sender, family, value), now)
        else:
            self._expect_legacy.add((sender, family, text, value), now)

    def _absorbed(
        self, sender: Hashable, form: str, family: str, text: str, value: float | None
    ) -> bool | None:
        """For the second form of a pair whose first was counted: False (dropped); for a legacy event whose bare
        twin waits for it: True (it counts, for both); else None (a first form)."""
        exact = (sender, family, text, value)
        if form is TAGGED:
            if self._expect_tagged.take(exact):
                self.decisions[PAIRED] += 1
                return False
            return None
        key = (sender, family, value)
        if self._expect_legacy.take(exact) or self._expect_legacy_of_family.take(key):
            self.decisions[PAIRED] += 1
            return False
        if self._bare.take(key) is not None:  # its bare twin came first and waited for it
            self._bare_paired(sender, family)
            return True
        return None

    def _offer_bare(self, sender: Hashable, family: str, key: tuple, payload: P, now: float) -> bool:
        if self._expect_bare.take(key):
            self._bare_paired(sender, family)
            return False
        learned = self._learned.get((sender, family))
        if learned is not None and self._one_form(learned, now):  # legacy names off: nothing to wait for
            self.decisions[FIRST] += 1
            self._expect_legacy_of_family.add(key, now)
            self._apply(payload, now)
            return False
        pushed = self._bare.add(key, payload, now)  # no ids: wait for the legacy twin that has them
        if pushed:
            self._count_bare(pushed, now, EVICTED, now)
        return False

    def settle(self, now: float) -> None:
        """Count the bare events whose window has ended; forget expired expectations."""
        for ended, at in self._bare.expired(now):
            self._count_bare(ended, now, WAITED, at)
        for table in self._expectations:
            table.expired(now)
        self._last.expired(now)  # a first form whose twin never came: nothing more to expect

    def _count_bare(self, ended: dict, now: float, decision: str, at: float) -> None:
        for key, waiting in ended.items():
            for payload in waiting:
                self._learn(key[0], key[1]).alone(at)
                self.decisions[decision] += 1
                if now - at < self.memory:  # else settled so late that a twin could no longer be told apart
                    self._expect_legacy_of_family.add(key, now)
                self._apply(payload, now)

    def _bare_paired(self, sender: Hashable, family: str) -> None:
        self.decisions[PAIRED] += 1
        learned = self._learned.get((sender, family))
        if learned is not None:
            learned.alone_streak = 0

    def _one_form(self, learned: _Learned, now: float) -> bool:
        """Only the bare form of the family seems to come from this sender: several events alone, for longer
        than a late twin is expected. Only waiting depends on it; expectations keep the counts exact."""
        return learned.alone_streak >= _SOLO_STREAK and now - learned.alone_since >= 2 * self.memory

    def _learn(self, sender: Hashable, family: str) -> _Learned:
        key = (sender, family)
        learned = self._learned.get(key)
        if learned is None:
            if len(self._learned) >= self._max_learned:
                # Oldest first: what is forgotten is learned again (its bare events wait once more).
                for stale in list(self._learned)[: self._max_learned // 2]:
                    del self._learned[stale]
            learned = self._learned[key] = _Learned()
        return learned
