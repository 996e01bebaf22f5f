"""How statsd_exporter expands ``$1``/``${1}`` in a mapping's name and labels.

Globs use statsd_exporter's own formatter; regexes use Go's ``regexp.Expand``. They differ at the
edges (``$1$2`` is one unknown reference for a glob), and mapping files depend on those edges.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from operator import itemgetter

_GLOB_REFERENCE = re.compile(r"\$\{?([a-zA-Z0-9_$]+)\}?")
_NAME_CHAR = re.compile(r"[\w]", re.UNICODE)


def glob_formatter(template: str, capture_count: int) -> Callable[[Sequence[str]], str]:
    """A function from the glob's captures to the expanded template."""
    pieces: list[str | int] = []
    position = 0
    for match in _GLOB_REFERENCE.finditer(template):
        pieces.append(template[position : match.start()])
        reference = match.group(1)
        index = int(reference) if reference.isascii() and reference.isdigit() else 0
        if 1 <= index <= capture_count:
            pieces.append(index - 1)
        position = match.end()
    pieces.append(template[position:])
    if len(pieces) == 1:
        constant = template
        return lambda captures: constant
    if len(pieces) == 3 and pieces[0] == pieces[2] == "":  # "$1": the capture itself
        return itemgetter(pieces[1])
    # Expanded by str.format, in C: literal braces doubled, each reference a positional field.
    spec = "".join(
        f"{{{piece}}}" if isinstance(piece, int) else piece.replace("{", "{{").replace("}", "}}")
        for piece in pieces
    )
    return lambda captures: spec.format(*captures)


def expand_regex_template(template: str, groups: Sequence[str | None], names: dict[str, int]) -> str:
    """Go's ``Regexp.ExpandString``: ``$name``/``${name}``; unknown or unmatched groups are empty."""
    out: list[str] = []
    rest = template
    while True:
        before, dollar, rest = rest.partition("$")
        out.append(before)
        if not dollar:
            return "".join(out)
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        parsed = _extract_reference(rest)
        if parsed is None:
            out.append("$")
            continue
        name, rest = parsed
        index = _group_index(name, names)
        group = groups[index] if index is not None and index < len(groups) else None
        if group is not None:
            out.append(group)


def _extract_reference(text: str) -> tuple[str, str] | None:
    braced = text.startswith("{")
    body = text[1:] if braced else text
    length = 0
    while length < len(body) and (body[length] == "_" or body[length].isalnum()):
        length += 1
    if length == 0:
        return None
    name = body[:length]
    if braced:
        if body[length : length + 1] != "}":
            return None
        return name, body[length + 1 :]
    return name, body[length:]


def _group_index(name: str, names: dict[str, int]) -> int | None:
    if name.isascii() and name.isdigit():
        number = int(name)
        return number if number < 100_000_000 else None
    return names.get(name)
