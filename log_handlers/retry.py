"""Retrying a store that may be unreachable: exponential backoff, and retry-until-deadline at task end."""

from __future__ import annotations

import time
from collections.abc import Callable


def backoff_delay(failures: int, initial: float, maximum: float) -> float:
    """Seconds to wait after ``failures`` failures in a row: ``initial``, doubled each time, at most ``maximum``."""
    return min(maximum, initial * 2 ** max(0, failures - 1))


def retry_until(
    attempt: Callable[[], bool],
    timeout: float,
    delay: Callable[[int], float],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> bool:
    """Call ``attempt`` until it succeeds (True) or ``timeout`` seconds have passed (False), waiting
    ``delay(failures)`` after each failure and never past the deadline."""
    deadline = clock() + timeout
    failures = 0
    while not attempt():
        failures += 1
        wait = min(delay(failures), deadline - clock())
        if wait <= 0:
            return False
        sleep(wait)
    return True
