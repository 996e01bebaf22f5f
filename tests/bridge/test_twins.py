"""Twin pairing (bridge/twins.py): every decision by itself, and random interleavings of twin pairs from many
senders (either order, delays within and beyond the window, one twin lost) that must keep every count exact
with bounded state."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airglow.bridge.twins import (
    BARE,
    EVICTED,
    FIRST,
    LEGACY,
    PAIRED,
    TAGGED,
    WAITED,
    TwinRole,
    Twins,
    canonical,
    render_legacy,
)

FAMILY = "airflow.ti.finish"
TEMPLATE = "airflow.ti.finish.{dag_id}.{task_id}.{state}"


class Pairing:
    """A Twins table whose applications are collected: ``offer``/``due`` return what counted just then."""

    def __init__(self, **options) -> None:
        self.applied: list = []
        self.twins: Twins = Twins(lambda payload, _: self.applied.append(payload), **options)

    def offer(self, sender, role, value, payload, now) -> list:
        self.applied.clear()
        if self.twins.offer(sender, role, value, payload, now):
            self.applied.append(payload)  # counts now: the caller applies it
        return list(self.applied)

    def due(self, now: float) -> list:
        self.applied.clear()
        self.twins.settle(now)
        return list(self.applied)

    def __getattr__(self, name: str):
        return getattr(self.twins, name)


def roles(task: str) -> dict[str, TwinRole]:
    text = canonical(f"{FAMILY}.dag.{task}.success")
    return {
        LEGACY: TwinRole(LEGACY, text, FAMILY),
        TAGGED: TwinRole(TAGGED, text, FAMILY),
        BARE: TwinRole(BARE, "", FAMILY),
    }


def test_the_first_form_counts_at_once_and_its_twin_is_dropped() -> None:
    twins = Pairing()
    r = roles("t")
    assert twins.offer("s", r[LEGACY], 1.0, "legacy", 0.0) == ["legacy"]
    assert twins.offer("s", r[TAGGED], 1.0, "tagged", 0.001) == []
    assert twins.decisions[FIRST] == 1 and twins.decisions[PAIRED] == 1 and twins.held == 0


def test_either_order_counts_once() -> None:
    twins = Pairing()
    r = roles("t")
    assert twins.offer("s", r[TAGGED], 1.0, "tagged", 0.0) == ["tagged"]
    assert twins.offer("s", r[LEGACY], 1.0, "legacy", 0.1) == []


def test_with_plain_statsd_the_legacy_twin_counts_and_the_bare_one_is_dropped() -> None:
    twins = Pairing()
    r = roles("t")
    assert twins.offer("s", r[LEGACY], 1.0, "legacy", 0.0) == ["legacy"]
    assert twins.offer("s", r[BARE], 1.0, "bare", 0.0) == []
    assert twins.held == 0


def test_a_bare_twin_that_comes_first_waits_for_the_legacy_twin_with_the_ids() -> None:
    twins = Pairing()
    r = roles("t")
    assert twins.offer("s", r[BARE], 1.0, "bare", 0.0) == []
    assert twins.held == 1
    assert twins.offer("s", r[LEGACY], 1.0, "legacy", 0.5) == ["legacy"]
    assert twins.held == 0 and twins.decisions[PAIRED] == 1


def test_a_lost_twin_costs_no_count_and_a_late_one_none_twice() -> None:
    twins = Pairing(window=1.0, memory=30.0)
    r = roles("t")
    assert twins.offer("s", r[LEGACY], 1.0, "legacy", 0.0) == ["legacy"]  # its tagged twin is lost
    assert twins.offer("s", roles("u")[TAGGED], 1.0, "other", 1.0) == ["other"]
    assert twins.offer("s", r[TAGGED], 1.0, "late tagged", 29.0) == []  # late, within memory
    assert twins.offer("s", r[BARE], 1.0, "bare", 29.5) == []  # the legacy form expected either twin
    assert twins.due(200.0) == [] and twins.expected == 0


def test_a_bare_twin_alone_counts_when_its_window_ends() -> None:
    twins = Pairing(window=1.0)
    r = roles("t")
    assert twins.offer("s", r[BARE], 1.0, "bare", 0.0) == []
    assert twins.due(1.9) == []
    assert twins.due(2.0) == ["bare"]  # waits one to two windows
    assert twins.decisions[WAITED] == 1
    assert twins.offer("s", r[LEGACY], 1.0, "late legacy", 5.0) == []  # expected by the bare form


def test_twins_pair_per_sender_and_by_value() -> None:
    twins = Pairing()
    r = roles("t")
    assert twins.offer("a", r[LEGACY], 1.0, "a-legacy", 0.0) == ["a-legacy"]
    assert twins.offer("a", r[LEGACY], 0.0, "a-zero", 0.0) == ["a-zero"]  # Airflow 2's zero count per state
    assert twins.offer("b", r[TAGGED], 1.0, "b-tagged", 0.0) == ["b-tagged"]  # another sender
    assert twins.offer("a", r[TAGGED], 1.0, "a-tagged", 0.0) == []
    assert twins.offer("a", r[TAGGED], 0.0, "a-zero-tagged", 0.0) == []


def test_dotted_ids_pair_whichever_way_airflow_wrote_them() -> None:
    rendered = render_legacy(TEMPLATE, {"dag_id": "d", "task_id": "grp.sub.task", "state": "success"})
    assert rendered == canonical("airflow.ti.finish.d.grp__sub__task.success")  # Airflow 3.3 escapes dots
    assert rendered == canonical("airflow.ti.finish.d.grp.sub.task.success")  # Airflow 2 keeps them
    assert render_legacy(TEMPLATE, {"dag_id": "d", "task_id": "t"}) is None  # no state tag: a bare form


def test_nothing_waits_but_a_bare_form_that_comes_first() -> None:
    twins = Pairing()
    for n in range(300):
        r = roles(f"t{n}")
        assert twins.offer("s", r[TAGGED], 1.0, f"tagged{n}", float(n)) == [f"tagged{n}"]
        assert twins.offer("l", r[LEGACY], 1.0, f"legacy{n}", float(n)) == [f"legacy{n}"]
        twins.due(float(n))
        assert twins.held == 0
        assert twins.expected <= 3 * 61  # what the last minute expects, nothing older


def test_a_sender_without_legacy_names_stops_waiting_with_plain_statsd() -> None:
    twins = Pairing(window=1.0, memory=30.0)
    now, n = 0.0, 0
    while twins.offer("s", roles(f"t{n}")[BARE], 1.0, f"bare{n}", now) == []:
        now += 3.0
        assert twins.due(now) == [f"bare{n}"]
        n += 1
    assert 60.0 <= now <= 66.0  # learned once a late twin could no longer come
    # ...while another sender still waits for its legacy twin
    assert twins.offer("other", roles("t")[BARE], 1.0, "held", now) == []


def test_a_bare_form_its_caller_paired_unlearns_that_the_sender_sends_it_alone() -> None:
    """The pipeline's hot loop pairs a bare form with the legacy form just before it by itself, and says so
    in ``counted``: the sender does send legacy names, so its next lone bare form waits for its twin again."""
    twins = Pairing(window=1.0, memory=30.0)
    now, n = 0.0, 0
    while twins.offer("s", roles(f"t{n}")[BARE], 1.0, f"bare{n}", now) == []:
        now += 3.0
        twins.due(now)
        n += 1
    assert twins.offer("s", roles("learned")[BARE], 1.0, "at once", now) == ["at once"]
    twins.counted("s", 1, 1, None, now, [FAMILY])
    assert twins.offer("s", roles("again")[BARE], 1.0, "waits", now) == []
    assert twins.decisions[PAIRED] == 1


def test_a_full_table_counts_its_oldest_waiting_events_early() -> None:
    twins = Pairing(max_held=2)
    out = [twins.offer("s", TwinRole(BARE, "", f"family{n}"), 1.0, f"bare{n}", 0.0) for n in range(7)]
    assert out == [[], [], [], [], ["bare0", "bare1"], [], ["bare2", "bare3"]]
    assert twins.held == 3 and twins.decisions[EVICTED] == 4


# ---- properties -------------------------------------------------------------------------------------------

WINDOW, MEMORY = 1.0, 30.0
PREFERRED = {TAGGED: 0, LEGACY: 1, BARE: 2}


@dataclass(frozen=True)
class Twin:
    """One form of one event as it reaches the bridge (``at`` None: lost on the way)."""

    event: int
    sender: int
    task: str
    form: str
    at: float | None


def _series(twin: Twin) -> tuple:
    """Where a form counts: the tagged and legacy forms under the event's ids, a bare one without them."""
    return (twin.sender, None if twin.form == BARE else twin.task)


@st.composite
def traffic(draw, lost: bool = False, within_window: bool = False) -> list[Twin]:
    """Events from several senders; each sender uses one Airflow setting: DogStatsD or InfluxDB (legacy +
    tagged), plain statsd (legacy + bare), or legacy names off (tagged only, or bare only).

    Without loss, ids repeat (distinct events share keys). With loss, what arrives must still tell events
    apart, as it does in Airflow: ids are unique, and a plain sender's events are further apart than the
    bridge's memory, because a bare twin carries no ids (two events that each lost a different twin look
    exactly like one event that lost nothing).
    """
    senders = draw(st.integers(1, 6))
    setting = [draw(st.sampled_from(["tags", "plain", "tagged only", "bare only"])) for _ in range(senders)]
    twins: list[Twin] = []
    clock = [0.0] * senders
    for event in range(draw(st.integers(1, 60))):
        sender = draw(st.integers(0, senders - 1))
        forms = {
            "tags": [LEGACY, TAGGED],
            "plain": [LEGACY, BARE],
            "tagged only": [TAGGED],
            "bare only": [BARE],
        }[setting[sender]]
        task = f"t{event}" if lost else draw(st.sampled_from(["a", "b", "grp.c"]))
        if lost and BARE in forms:
            clock[sender] += MEMORY * 3
            start = clock[sender]
        else:
            start = draw(st.floats(0, 30, allow_nan=False))
        if len(forms) == 2 and draw(st.booleans()):
            forms.reverse()  # out of order
        gap = draw(st.floats(0, WINDOW * 0.9) if within_window else st.floats(0, MEMORY * 0.9))
        missing = draw(st.sampled_from([None, 0, 1])) if lost and len(forms) == 2 else None
        for index, form in enumerate(forms):
            at = None if index == missing else start + (gap if index else 0.0)
            twins.append(Twin(event, sender, task, form, at))
    return twins


def replay(twins: list[Twin], **limits: int) -> tuple[list[Twin], Pairing]:
    """Feed the arrivals in time order, settling the window as time passes; returns what was applied."""
    pairing = Pairing(window=WINDOW, memory=MEMORY, **limits)
    applied: list[Twin] = []
    arrivals = sorted((t for t in twins if t.at is not None), key=lambda t: t.at)
    for twin in arrivals:
        applied += pairing.due(twin.at)
        role = roles(twin.task)[twin.form]
        applied += pairing.offer(twin.sender, role, 1.0, twin, twin.at)
        # one table of waiting events and four of expectations, each of two generations
        assert pairing.held <= 2 * limits.get("max_held", 20_000)
        assert pairing.expected <= 10 * limits.get("max_expected", 20_000)  # four tables and the slots
    applied += pairing.due(float("inf"))
    return applied, pairing


def events_per_sender(twins: list[Twin]) -> Counter:
    """How many events had at least one form reach the bridge, per sender."""
    return Counter(sender for _, sender in {(t.event, t.sender) for t in twins if t.at is not None})


@settings(max_examples=300, deadline=None)
@given(traffic())
def test_any_order_and_any_delay_count_every_event_once(twins: list[Twin]) -> None:
    applied, pairing = replay(twins)
    assert Counter(t.sender for t in applied) == events_per_sender(twins)
    assert pairing.held == 0


@settings(max_examples=300, deadline=None)
@given(traffic(lost=True))
def test_a_lost_twin_costs_no_count(twins: list[Twin]) -> None:
    applied, _ = replay(twins)
    assert Counter(t.sender for t in applied) == events_per_sender(twins)
    assert len({t.event for t in applied}) == len(applied)  # no event twice


@settings(max_examples=300, deadline=None)
@given(traffic(within_window=True))
def test_twins_within_the_window_count_once_under_the_form_with_the_ids(twins: list[Twin]) -> None:
    applied, _ = replay(twins)
    best: dict[int, Twin] = {}
    for twin in twins:
        if twin.event not in best or PREFERRED[twin.form] < PREFERRED[best[twin.event].form]:
            best[twin.event] = twin
    assert Counter(map(_series, applied)) == Counter(map(_series, best.values()))


@settings(max_examples=100, deadline=None)
@given(traffic(lost=True))
def test_pairing_state_stays_within_its_bounds(twins: list[Twin]) -> None:
    _, pairing = replay(twins, max_held=4, max_expected=8, max_learned=3)
    assert pairing.held == 0 and pairing.learned <= 3


@pytest.mark.parametrize("senders", [1, 50])
def test_many_pairs_leave_nothing_behind(senders: int) -> None:
    pairing = Pairing()
    applied = []
    for n in range(20_000):
        r = roles(f"t{n % 97}")
        sender = n % senders
        applied += pairing.offer(sender, r[LEGACY], 1.0, n, n * 1e-4)
        applied += pairing.offer(sender, r[TAGGED], 1.0, -n, n * 1e-4)
    assert applied == list(range(20_000))  # the first form of each pair, once
    assert pairing.held == 0 and pairing.learned == 0
    pairing.due(1_000.0)
    assert pairing.expected == 0


# ---- the same properties through the bridge's pipeline, with real lines in random batches -------------------


def _line(twin: Twin) -> bytes:
    """What Airflow sends for that form, from a deployment named after its sender (the statsd prefix)."""
    prefix, task = f"s{twin.sender}", twin.task
    if twin.form == LEGACY:
        return f"{prefix}.ti.finish.dag.{task.replace('.', '__')}.success:1|c".encode()
    if twin.form == TAGGED:
        return f"{prefix}.ti.finish:1|c|#dag_id:dag,task_id:{task},state:success".encode()
    return f"{prefix}.ti.finish:1|c".encode()


@settings(max_examples=150, deadline=None)
@given(traffic(lost=True), st.randoms(use_true_random=False), st.sampled_from([200_000, 3]))
def test_the_pipeline_counts_every_event_once_whatever_the_batches(
    twins: list[Twin], rng, cache: int
) -> None:
    """Also with a line cache of 3 lines: the cache, and the pair numbers the hot loop pairs by, start over
    all the time, so pairs are split across that."""
    from test_airflow_preset import preset_pipeline
    from test_exporter import Clock, samples

    clock = Clock()
    pipeline = preset_pipeline(clock, line_cache_size=cache)
    arrivals = sorted((t for t in twins if t.at is not None), key=lambda t: t.at)
    while arrivals:  # consecutive lines of one sender that arrive together, in batches of random size
        sender, size, at = arrivals[0].sender, rng.randint(1, 4), arrivals[0].at
        batch = []
        while arrivals and arrivals[0].sender == sender and arrivals[0].at - at < 0.1 and len(batch) < size:
            batch.append(arrivals.pop(0))
        clock.now = 1000.0 + batch[0].at
        pipeline.process([_line(t) for t in batch], None, ("127.0.0.1", 1000 + sender))
    with pipeline.lock:  # settle what waits; no TTL expiry (a run may span more than the series' hour)
        pipeline.settle_twins(clock.now + 1000.0)
    counted: Counter = Counter()
    for (name, labels), value in samples(pipeline).items():
        if name == "airflow_ti_finish_total":
            counted[int(dict(labels)["deployment"][1:])] += value
    assert counted == events_per_sender(twins)


def test_a_flood_of_events_that_never_pair_keeps_the_state_bounded() -> None:
    """A hostile sender: 200,000 first forms with unique ids from ever new senders, no twin ever."""
    pairing = Pairing(max_held=1_000, max_expected=1_000, max_learned=1_000)
    peak = 0
    for n in range(200_000):
        form = (LEGACY, TAGGED, BARE)[n % 3]
        role = TwinRole(form, "" if form == BARE else f"airflow.ti.finish.d.t{n}.success", FAMILY)
        pairing.offer(("10.0.0.1", n), role, 1.0, n, n * 1e-3)
        if n % 997 == 0:
            peak = max(peak, pairing.held + pairing.expected)
            assert pairing.learned <= 1_000
    assert 0 < peak <= 2 * (1_000 + 5 * 1_000)
