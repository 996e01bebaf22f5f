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


class ListenError(Exception):
    """A listener could not be opened: which flag, which address, and why."""

    def __init__(self, flag: str, address: str, reason: str) -> None:
        self.flag = flag
        self.address = address
        self.reason = reason
        super().__init__(f"cannot listen on {address} ({flag}): {reason}")
