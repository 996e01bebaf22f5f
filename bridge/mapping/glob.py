"""Glob matching as statsd_exporter's state machine does it.

A glob is split on ``.``; ``*`` matches one whole segment and captures it. With ordering (the
default) the matching rule that comes first in the file wins; without it the most specific one
does, exact segments being preferred over ``*`` from left to right.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_KINDS = ("counter", "gauge", "observer")
_NONE = float("inf")


class _State:
    __slots__ = ("best", "max_left", "min_left", "priority", "result", "transitions")

    def __init__(self, left: int) -> None:
        self.transitions: dict[str, _State] = {}
        self.min_left = left
        self.max_left = left
        self.result: Any = None
        self.priority = 0
        self.best = _NONE  # the lowest priority of any result at or below this state

    def fits(self, left: int) -> bool:
        return self.min_left <= left <= self.max_left


class GlobMatcher:
    def __init__(self, ordering: bool = True) -> None:
        self._roots = {kind: _State(0) for kind in _KINDS}
        self._ordering = ordering

    def add(self, pattern: str, kind: str, result: Any, priority: int) -> None:
        """Add a rule for one metric kind ('' for all); an identical earlier glob keeps precedence."""
        fields = pattern.split(".")
        for root in self._roots_for(kind):
            state = root
            path = [root]
            for position, field in enumerate(fields):
                left = len(fields) - position - 1
                child = state.transitions.get(field)
                if child is None:
                    child = state.transitions[field] = _State(left)
                else:
                    child.min_left = min(child.min_left, left)
                    child.max_left = max(child.max_left, left)
                state = child
                path.append(state)
            if state.result is None:
                state.result, state.priority = result, priority
                for visited in path:
                    visited.best = min(visited.best, priority)

    def _roots_for(self, kind: str) -> Iterable[_State]:
        return [self._roots[kind]] if kind else self._roots.values()

    def match(self, name: str, kind: str) -> tuple[Any, list[str]] | None:
        fields = name.split(".")
        found: list[tuple[int, Any, list[str]]] = []  # the best match so far, at most one
        self._search(self._roots[kind], fields, 0, [], found)
        if not found:
            return None
        _, result, captures = found[0]
        return result, captures

    def _search(
        self, state: _State, fields: list[str], position: int, captures: list[str], found: list
    ) -> bool:
        """Depth-first over exact then ``*`` transitions; True once the match is final.

        Without ordering the first match found is final. With ordering, the earliest rule wins: a
        subtree whose best priority is no better than the match in hand is not searched."""
        left = len(fields) - position - 1
        field = fields[position]
        for key, capture in ((field, False), ("*", True)):
            child = state.transitions.get(key)
            if child is None or not child.fits(left) or (capture and key == field):
                continue
            if found and child.best >= found[0][0]:
                continue
            if capture:
                captures.append(field)
            if left == 0:
                if child.result is not None:
                    found[:] = [(child.priority, child.result, list(captures))]
                    if not self._ordering:
                        return True
            elif self._search(child, fields, position + 1, captures, found):
                return True
            if capture:
                captures.pop()
        return False
