"""Glob matching as statsd_exporter's state machine does it.

A glob is split on ``.``; ``*`` matches one whole segment and captures it. With ordering (the
default) the matching rule that comes first in the file wins; without it the most specific one
does, exact segments being preferred over ``*`` from left to right.

A segment that no glob spells out can only ever match ``*``, so names that differ only in such segments
(the ids in Airflow's legacy names: ``airflow.ti.finish.<dag>.<task>.<state>``) take the same path. The
path is searched once per *shape* (the name with those segments blanked) and kept in a bounded table;
every later name of that shape is a split and a look-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_KINDS = ("counter", "gauge", "observer")
_NONE = float("inf")
# Stands for a segment no glob spells out; a pattern that spells it out turns shapes off.
_ANY = "\x00"
# Shapes remembered before the table starts over (each entry is a few small tuples).
SHAPES_LIMIT = 10_000


class _State:
    __slots__ = ("best", "max_left", "min_left", "priority", "result", "transitions")

    def __init__(self, left: int) -> None:
        self.transitions: dict[str, _State] = {}
        self.min_left = left
        self.max_left = left
        self.result: Any = None
        self.priority = 0
        self.best = _NONE  # the lowest priority of any result at or below this state


class GlobMatcher:
    def __init__(self, ordering: bool = True, shapes_limit: int = SHAPES_LIMIT) -> None:
        self._roots = {kind: _State(0) for kind in _KINDS}
        self._ordering = ordering
        self._literals: set[str] = {"*"}  # every segment some glob spells out
        self._shapes: dict[tuple[str, tuple[str, ...]], tuple[Any, tuple[int, ...]] | None] = {}
        self._shapes_limit = shapes_limit

    def add(self, pattern: str, kind: str, result: Any, priority: int) -> None:
        """Add a rule for one metric kind ('' for all); an identical earlier glob keeps precedence."""
        fields = pattern.split(".")
        self._literals.update(fields)
        self._shapes.clear()
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
        """The winning rule's result and its ``*`` captures, or None."""
        fields = name.split(".")
        literals = self._literals
        if _ANY in literals:
            found = self._find(kind, fields)
        else:
            shape = (kind, tuple([field if field in literals else _ANY for field in fields]))
            try:
                found = self._shapes[shape]
            except KeyError:
                found = self._find(kind, list(shape[1]))
                if len(self._shapes) >= self._shapes_limit:
                    self._shapes.clear()
                self._shapes[shape] = found
        if found is None:
            return None
        result, positions = found
        return result, [fields[position] for position in positions]

    def _find(self, kind: str, fields: list[str]) -> tuple[Any, tuple[int, ...]] | None:
        """The winning rule's result and the positions of the segments its ``*`` captured."""
        found: list[tuple[int, Any, tuple[int, ...]]] = []  # the best match so far, at most one
        self._search(self._roots[kind], fields, 0, [], found)
        if not found:
            return None
        _, result, positions = found[0]
        return result, positions

    def _search(
        self, state: _State, fields: list[str], position: int, captures: list[int], found: list
    ) -> bool:
        """Depth-first over exact then ``*`` transitions; True once the match is final.

        Without ordering the first match found is final. With ordering, the earliest rule wins: a
        subtree whose best priority is no better than the match in hand is not searched."""
        left = len(fields) - position - 1
        field = fields[position]
        transitions = state.transitions
        for key in (field, "*") if field != "*" else (field,):
            child = transitions.get(key)
            if child is None or not child.min_left <= left <= child.max_left:
                continue
            if found and child.best >= found[0][0]:
                continue
            capture = key is not field
            if capture:
                captures.append(position)
            if left == 0:
                if child.result is not None:
                    found[:] = [(child.priority, child.result, tuple(captures))]
                    if not self._ordering:
                        return True
            elif self._search(child, fields, position + 1, captures, found):
                return True
            if capture:
                captures.pop()
        return False
