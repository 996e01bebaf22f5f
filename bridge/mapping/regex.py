"""Regular expressions with RE2 syntax and semantics (Go's regexp is RE2), via google-re2."""

from __future__ import annotations

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


def compile_regex(pattern: str) -> re2._Regexp:
    """Compile with RE2; ValueError names what RE2 rejects (lookarounds, backreferences, ...)."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(detail) from exc
