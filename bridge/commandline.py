"""The convention every Airglow command follows: exit codes, and short errors that name the fix.

Exit codes (docs/cli.md):
    0  done
    1  the command ran, and what it was asked for is not there (no such log)
    2  usage or configuration: a flag, a value, a file, a missing extra; nothing was done
    3  something the command needs is unavailable: an address in use, a server or store unreachable
An interrupted command (Ctrl-C) exits 130, as a shell reports it.

Every command's parser is a ``CommandParser``: a mistyped flag or subcommand gets one line with the closest
valid spellings instead of the whole usage.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from enum import IntEnum
from types import ModuleType
from typing import NoReturn


class ExitCode(IntEnum):
    OK = 0
    NOT_FOUND = 1
    USAGE = 2
    UNAVAILABLE = 3
    INTERRUPTED = 130


class CommandParser(argparse.ArgumentParser):
    """argparse with did-you-mean for flags and subcommands, and a two-line error instead of the usage."""

    def error(self, message: str) -> NoReturn:
        hint = self._suggestion(message)
        self.exit(
            ExitCode.USAGE,
            f"{self.prog}: error: {message}{hint}\nRun '{self.prog} --help' for the options.\n",
        )

    def _suggestion(self, message: str) -> str:
        if message.startswith("unrecognized arguments: "):
            unknown = [word for word in message.split(": ", 1)[1].split() if word.startswith("-")]
            close = [
                match
                for word in unknown
                for match in difflib.get_close_matches(word.split("=", 1)[0], self._option_strings(), n=1)
            ]
        elif "invalid choice: '" in message:
            word = message.split("invalid choice: '", 1)[1].split("'", 1)[0]
            close = difflib.get_close_matches(word, self._choices(), n=1)
        else:
            return ""
        return f"; did you mean {' or '.join(close)}?" if close else ""

    def _parsers(self) -> list[argparse.ArgumentParser]:
        found: list[argparse.ArgumentParser] = [self]
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    found += sub._parsers() if isinstance(sub, CommandParser) else [sub]
        return found

    def _option_strings(self) -> list[str]:
        return [option for parser in self._parsers() for option in parser._option_string_actions]

    def _choices(self) -> list[str]:
        return [
            str(choice)
            for parser in self._parsers()
            for action in parser._actions
            if action.choices is not None
            for choice in action.choices
        ]


def shared_default(value: object, on_subcommand: bool) -> object:
    """The default of an option a command accepts both before and after its subcommand: on the subcommand
    it is left unset, so that a value given before the subcommand is kept."""
    return argparse.SUPPRESS if on_subcommand else value


def fail(prog: str, message: str, code: ExitCode) -> int:
    """Print ``prog: message`` on stderr; returns the exit code for ``main`` to return."""
    print(f"{prog}: {message}", file=sys.stderr)
    return int(code)


class MissingExtra(Exception):
    """A command needs an optional dependency that is not installed; the message names the pip install."""


def import_extra(module: str, extra: str) -> ModuleType:
    """Import ``module``, which needs the ``extra`` of the airglow distribution."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtra(f"{error.msg}: pip install 'airglow[{extra}]'") from None
