"""How long the UDP listener lets one-line datagrams gather before it drains the socket: long enough that a
batch carries many lines, never so long that the kernel's receive buffer could overflow."""

from __future__ import annotations

import pytest

from airglow.bridge.listeners import (
    BATCH_BYTES,
    BATCH_DATAGRAMS,
    BURST_RATE,
    DATAGRAM_CHARGE,
    MAX_GATHER_SECONDS,
    gather_pause,
)

MIB = 1 << 20


def test_a_full_batch_is_followed_by_no_pause() -> None:
    """A backlog: the socket is drained again at once, by count or by bytes."""
    assert gather_pause(BATCH_DATAGRAMS, BATCH_DATAGRAMS * 40, 0.01, 4 * MIB) == 0.0
    assert gather_pause(20, BATCH_BYTES, 0.01, 4 * MIB) == 0.0


def test_steady_one_line_datagrams_gather_half_a_batch() -> None:
    """20,000 datagrams of 40 bytes a second, with the 8 MiB buffer asked by default: half a batch is 12.8 ms
    of traffic."""
    pause = gather_pause(200, 200 * 40, 0.01, 8 * MIB)
    assert pause == pytest.approx(BATCH_DATAGRAMS / 2 / 20_000)


def test_a_quiet_sender_waits_at_most_the_longest_pause() -> None:
    """One datagram after ten idle seconds: the gather is capped, whatever the rate says."""
    assert gather_pause(1, 40, 10.0, 8 * MIB) == MAX_GATHER_SECONDS


@pytest.mark.parametrize("buffer", [212_992 // 2, MIB, 4 * MIB, 8 * MIB])
def test_after_a_quiet_spell_the_buffer_holds_a_burst_through_the_pause(buffer: int) -> None:
    """The rate measured after a quiet spell says nothing of what follows: a burst at BURST_RATE through the
    whole pause still fits the buffer (with the kernel's default buffer, the pause is a fraction of a ms)."""
    size = 40
    pause = gather_pause(1, size, 10.0, buffer)
    assert 0 < pause <= MAX_GATHER_SECONDS
    assert BURST_RATE * pause * (size + DATAGRAM_CHARGE) <= buffer + 1e-6


@pytest.mark.parametrize("buffer", [64 * 1024, 212_992 // 2, MIB])
def test_a_small_receive_buffer_shortens_the_pause(buffer: int) -> None:
    """What arrives during the pause, charged as the kernel charges it, fills at most a quarter of the buffer."""
    rate, size = 50_000, 60
    pause = gather_pause(500, 500 * size, 500 / rate, buffer)
    assert 0 < pause < MAX_GATHER_SECONDS
    assert rate * pause * (size + DATAGRAM_CHARGE) <= buffer / 4 + 1e-6


def test_a_faster_rate_never_gets_a_longer_pause() -> None:
    pauses = [gather_pause(100, 100 * 50, 100 / rate, 4 * MIB) for rate in (100, 1_000, 10_000, 100_000)]
    assert pauses == sorted(pauses, reverse=True)
