"""The steps of a ``check`` subcommand (``airglow-logs check``, ``airglow-es-logs check``): each needs the
one before, so the first failure is reported with what it probably means and the check stops."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from airglow.bridge.commandline import ExitCode
from airglow.log_handlers.errors import LogHandlerError, exit_code


@dataclass(frozen=True)
class Step:
    """One thing the configuration must allow; ``meaning``: what a refusal of it says about the settings."""

    name: str
    action: Callable[[], object]
    meaning: str


def run_steps(subject: str, steps: Sequence[Step], out: TextIO) -> int:
    """Print one line per step; exit 0 when all pass, 2 for a setting to fix, 3 for an unreachable store."""
    out.write(f"checking {subject}\n")
    for step in steps:
        try:
            step.action()
        except LogHandlerError as err:
            out.write(f"  {step.name}: FAILED\n    {err}\n")
            if err.configuration:
                out.write(f"    probably: {step.meaning}\n")
            out.flush()
            return exit_code(err)
        out.write(f"  {step.name}: ok\n")
    out.write(f"{subject} works for Airglow's task logs\n")
    return ExitCode.OK
