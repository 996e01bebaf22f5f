"""Sparse exponential buckets of a native histogram, as Prometheus defines them.

At schema ``s`` the bucket with index ``i`` holds the values in (base**(i-1), base**i], base = 2**(2**-s);
values within ZERO_THRESHOLD of zero go to the zero bucket, negative values to the mirrored negative
buckets. Buckets exist only once populated. When a histogram holds more than its bucket limit, its
resolution is halved (schema - 1, each pair of neighbouring buckets merged) until it fits: the strategy
client_golang falls back to, and one that never resets a count.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import NamedTuple

MIN_SCHEMA, MAX_SCHEMA = -4, 8
# client_golang's default zero bucket: 2**-128.
ZERO_THRESHOLD = 2.0**-128
# The bucket limit when the mapping sets none: client_golang would let one series grow buckets without
# bound, and a sender choosing its values would choose this bridge's memory.
DEFAULT_MAX_BUCKETS = 160
_LARGEST = 1.7976931348623157e308
# For schema s > 0, the 2**s bucket bounds of the fractions frexp returns, in [0.5, 1).
_FRACTION_BOUNDS = {s: [2.0 ** (j / 2**s - 1) for j in range(2**s)] for s in range(1, MAX_SCHEMA + 1)}


def schema_for(factor: float) -> int:
    """The finest schema whose bucket growth factor is at most ``factor`` (> 1), within [-4, 8]."""
    return max(MIN_SCHEMA, min(MAX_SCHEMA, -math.floor(math.log2(math.log2(factor)))))


def bucket_index(value: float, schema: int) -> int:
    """The index of the bucket holding ``value`` (> 0, finite) at ``schema``."""
    fraction, exponent = math.frexp(value)
    if schema > 0:
        bounds = _FRACTION_BOUNDS[schema]
        return bisect_left(bounds, fraction) + (exponent - 1) * len(bounds)
    index = exponent - 1 if fraction == 0.5 else exponent
    return (index + (1 << -schema) - 1) >> -schema


class BucketRun(NamedTuple):
    """Consecutive populated buckets: ``offset`` from the end of the previous run (or the first index)."""

    offset: int
    counts: list[int]


class NativeSnapshot(NamedTuple):
    schema: int
    zero_threshold: float
    zero_count: int
    positive: list[BucketRun]
    negative: list[BucketRun]


class NativeBuckets:
    """The native part of one histogram series; ``tally`` is the registry's count of every bucket held."""

    __slots__ = ("max_buckets", "negative", "positive", "schema", "tally", "zero_count")

    def __init__(self, factor: float, max_buckets: int, tally: BucketTally) -> None:
        self.schema = schema_for(factor)
        self.max_buckets = max_buckets or DEFAULT_MAX_BUCKETS
        self.positive: dict[int, int] = {}
        self.negative: dict[int, int] = {}
        self.zero_count = 0
        self.tally = tally

    def observe(self, value: float, repeat: int) -> None:
        """``repeat`` observations of ``value``; NaN has no bucket (it still counts in count and sum)."""
        magnitude = abs(value)
        if magnitude <= ZERO_THRESHOLD:
            self.zero_count += repeat
            return
        if magnitude != magnitude:
            return
        buckets = self.positive if value > 0 else self.negative
        index = bucket_index(min(magnitude, _LARGEST), self.schema)
        held = buckets.get(index)
        if held is not None:
            buckets[index] = held + repeat
            return
        buckets[index] = repeat
        self.tally.held += 1
        if len(self.positive) + len(self.negative) > self.max_buckets:
            self._fit()

    def _fit(self) -> None:
        """Halve the resolution until the buckets fit their limit (or the schema is the coarsest)."""
        before = len(self.positive) + len(self.negative)
        while len(self.positive) + len(self.negative) > self.max_buckets and self.schema > MIN_SCHEMA:
            self.schema -= 1
            self.positive = _halved(self.positive)
            self.negative = _halved(self.negative)
        self.tally.held -= before - len(self.positive) - len(self.negative)

    def held(self) -> int:
        return len(self.positive) + len(self.negative)

    def snapshot(self) -> NativeSnapshot:
        return NativeSnapshot(
            self.schema, ZERO_THRESHOLD, self.zero_count, _runs(self.positive), _runs(self.negative)
        )


class BucketTally:
    """Native buckets held by every series of a registry, kept as they are made and merged."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held = 0


def _halved(buckets: dict[int, int]) -> dict[int, int]:
    """Bucket i of schema s lies in bucket ceil(i / 2) of schema s - 1."""
    merged: dict[int, int] = {}
    for index, count in buckets.items():
        coarse = (index + 1) >> 1
        merged[coarse] = merged.get(coarse, 0) + count
    return merged


def _runs(buckets: dict[int, int]) -> list[BucketRun]:
    runs: list[BucketRun] = []
    previous_end = 0
    for index in sorted(buckets):
        if runs and index == previous_end:
            runs[-1].counts.append(buckets[index])
        else:
            runs.append(BucketRun(index - previous_end, [buckets[index]]))
        previous_end = index + 1
    return runs
