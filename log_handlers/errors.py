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
    """The object store failed an operation; ``location`` never contains credentials.

    ``configuration`` (permanent): the store answered that the bucket is missing or the credentials are
    refused or lack a permission; retrying cannot help until someone changes the settings. Anything else
    (unreachable, throttled, 5xx) is transient."""

    def __init__(self, operation: str, location: str, cause: BaseException) -> None:
        super().__init__(f"{operation} {location} failed: {_cause_text(cause)}")
        self.operation = operation
        self.location = location
        self.missing = isinstance(cause, FileNotFoundError)  # for a read: the object is gone
        # An object gone under a read (expired, consolidated) says nothing of the settings.
        self.configuration = is_permanent(cause) and not (self.missing and operation == "read")


def is_permanent(cause: BaseException) -> bool:
    """Whether a store's answer means the configuration is wrong (fsspec maps missing buckets to
    FileNotFoundError and refusals to PermissionError; Azure's and Google's clients carry an HTTP status)."""
    return isinstance(cause, FileNotFoundError) or is_refusal(cause) or _status(cause) == 404


def is_refusal(cause: BaseException) -> bool:
    """Whether the store refused the credentials or the permission (it is there, and answered)."""
    return isinstance(cause, PermissionError) or _status(cause) in (401, 403)


def _status(cause: BaseException) -> object:
    return getattr(cause, "status_code", None) or getattr(cause, "code", None)


def _cause_text(cause: BaseException) -> str:
    """The cause in one line: Azure's errors carry the whole response (request id, XML body) after it."""
    text = redact(str(cause)).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"


def exit_code(error: LogHandlerError) -> ExitCode:
    """How the log commands report an error (docs/cli.md): a setting or a path is the user's to fix (2);
    anything else is the store or the cluster failing (3)."""
    return ExitCode.USAGE if error.configuration else ExitCode.UNAVAILABLE
