"""What a query returned and how a value is coloured: shared by the preview's drawing and its tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]


def step_color(value: float, steps: Sequence[Mapping[str, Any]]) -> str:
    """The colour of the highest threshold step at or below ``value`` (the first step is the base)."""
    chosen = steps[0]["color"] if steps else "green"
    for step in steps[1:]:
        if value >= step["value"]:
            chosen = step["color"]
    return chosen
