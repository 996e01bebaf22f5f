"""Typed errors that carry where and why."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration file or flag was rejected: file, line (1-based, 0 if unknown) and reason."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {reason}")
