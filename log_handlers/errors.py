"""Typed errors of the log handlers; each carries what a user needs to act on it."""

from __future__ import annotations

from airglow.bridge.commandline import ExitCode
from airglow.log_handlers.redact import redact


class LogHandlerError(Exception):
    """Base class of every error the log handlers raise on purpose. ``configuration``: the user's settings
    are at fault (retrying cannot help), not the store."""

    configuration = False


class LogConfigError(LogHandlerError):
    """A remote-logging setting is missing or invalid; raised once, when the handler is built."""

    configuration = True

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"{setting}: {reason}")
        self.setting = setting
        self.reason = reason


class UnsafeLogPath(LogHandlerError):
    """A log path would leave the configured prefix; never written or read."""

    configuration = True

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"refusing log path {path!r}: {reason}")
        self.path = path
        self.reason = reason


class StoreError(LogHandlerError):
    """The object store failed an operation; ``location`` never contains credentials."""

    def __init__(self, operation: str, location: str, cause: BaseException) -> None:
        super().__init__(f"{operation} {location} failed: {type(cause).__name__}: {redact(str(cause))}")
        self.operation = operation
        self.location = location


def exit_code(error: LogHandlerError) -> ExitCode:
    """How the log commands report an error (docs/cli.md): a setting or a path is the user's to fix (2);
    anything else is the store or the cluster failing (3)."""
    return ExitCode.USAGE if error.configuration else ExitCode.UNAVAILABLE
