"""The vocabulary of hostile statsd lines: forms that broke the exposition, mixed at random.

Shared by the property test (drawn by Hypothesis) and the end-to-end fuzz (a seeded million).
"""

from __future__ import annotations

import random

NAMES = [
    "",
    "_total",
    "x",
    "x_total",
    "y",
    "y_count",
    "y_sum",
    "y_bucket",
    "hist.a",
    "hh",
    "kept.a",
    "9lead",
    "a.b-c",
    "ünï",
    "statsd_exporter_events_total",
    "process_open_fds",
    "__name",
    "go_goroutines",
    "airglow_x",
    "ok",
]
TAGS = [
    "",
    "|#le:1",
    "|#quantile:0.5",
    "|#__name__:x",
    "|#__a:1",
    "|#a:1",
    "|#b-c:2",
    "|#a:1,a:2",
    "|#:x",
    '|#a:"\\',
]
NAME_TAGS = ["", ",k=v", ",le=1", "[k=v]", "#k=v", ",__name__=y"]
TYPES = ["c", "g", "ms", "h", "s", "d", "x"]
VALUES = ["1", "-1", "0.5", "NaN", "+Inf", "-Inf", "1e308", "x", ""]
RATES = ["", "|@1", "|@0.5", "|@0.0000001", "|@0.000001", "|@1e-300", "|@0", "|@x", "|@-1"]


def fuzz_lines(count: int, seed: int = 15) -> list[str]:
    pick = random.Random(seed).choice
    return [
        f"{pick(NAMES)}{pick(NAME_TAGS)}:{pick(VALUES)}|{pick(TYPES)}{pick(RATES)}{pick(TAGS)}"
        for _ in range(count)
    ]
