"""The real-Airflow venvs the tests need, built one after the other in a background thread from the start of
the session: each takes one to five minutes to install, and the tests before the first one that needs it run
meanwhile. ``AIRGLOW_TEST_*_VENV=DIR`` keeps a venv in DIR and reuses it on later runs."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from support.airflow_deployment import AIRFLOW, AIRFLOW2, STOCK_HANDLERS, airflow_venv, with_airglow

# Fixture name -> (the variable that names a venv to reuse, the pip steps that make it).
VENVS: dict[str, tuple[str, Callable[[], tuple[tuple[str, ...], ...]]]] = {
    # Real Airflow 3.3.2 with this checkout of Airglow.
    "airflow_bin": ("AIRGLOW_TEST_AIRFLOW_VENV", lambda: (with_airglow(AIRFLOW),)),
    # Real Airflow 3.3.2 with its Amazon, Google and Azure providers and without Airglow: Airflow's own
    # remote-log handlers.
    "stock_handlers_bin": ("AIRGLOW_TEST_PROVIDERS_VENV", lambda: STOCK_HANDLERS),
    # Real Airflow 2.11.2 with this checkout of Airglow.
    "airflow2_bin": ("AIRGLOW_TEST_AIRFLOW2_VENV", lambda: (with_airglow(AIRFLOW2),)),
}


class VenvBuilds:
    """Builds each venv once, in the order asked, one pip at a time; ``get`` waits for one."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="venv-build")
        self._builds: dict[str, Future[Path]] = {}
        self._folder: Path | None = None

    def start(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self._builds:
                self._builds[name] = self._pool.submit(self._build, name)

    def get(self, name: str) -> Path:
        self.start([name])
        return self._builds[name].result()

    def close(self) -> None:
        """Wait for a build under way (its files are being written), then remove the fresh venvs."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def _build(self, name: str) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="airglow-test-venvs-"))
        variable, steps = VENVS[name]
        return airflow_venv(variable, self._folder / name, *steps())
