"""Settings that name Airglow 0.1's module paths keep working for one release.

Airglow 0.1 installed ``log_handlers`` as a top-level package, so Airflow settings name it
(``logging_config_class = log_handlers.logging_config.LOGGING_CONFIG``, handler classes in a custom logging
config). Such a path now imports the module's new home under ``airglow.log_handlers`` (``MOVED``: Airflow's
adapters are in ``airflow/`` now) with a FutureWarning naming the new path. The
build installs ``airglow-legacy-paths.pth``, which runs this module at interpreter start-up. A real
``log_handlers`` module of the user's (in a DAG folder on sys.path) always wins.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType

OLD, NEW = "log_handlers", "airglow.log_handlers"
# Modules that moved since 0.1 (Airflow's adapters into airflow/), by their name under the package.
MOVED = {
    "logging_config": "airflow.logging_config",
    "remote_io": "airflow.objectstore_remote_io",
    "task_handler": "airflow.objectstore_task_handler",
    "provider_info": "airflow.provider_info",
    "structlog_files": "airflow.structlog_files",
    "cli": "objectstore.cli",
    "elasticsearch.remote_io": "airflow.es_remote_io",
    "elasticsearch.task_handler": "airflow.es_task_handler",
    "elasticsearch.log_id": "try_identity",
}


def new_name(old: str) -> str:
    """The module an 0.1 path names now: ``log_handlers.logging_config`` is
    ``airglow.log_handlers.airflow.logging_config``."""
    rest = old[len(OLD) + 1 :]
    return f"{NEW}.{MOVED.get(rest, rest)}" if rest else NEW


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``log_handlers[.x]`` as the module ``airglow.log_handlers[.x]`` itself (one module, two names)."""

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec | None] = {}

    def find_spec(self, name: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        if name == OLD:
            if importlib.machinery.PathFinder.find_spec(name, path) is not None:
                return None  # the user's own log_handlers
        elif not name.startswith(OLD + ".") or sys.modules.get(OLD) is not sys.modules.get(NEW):
            return None
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(new_name(spec.name))
        if spec.name == OLD:  # once: every old path goes through the package first
            warnings.warn(
                f"'{OLD}' is Airglow 0.1's module path; use '{NEW}' (for example "
                f"logging_config_class = {NEW}.airflow.logging_config.LOGGING_CONFIG): the old path stops working in the "
                "next release",
                FutureWarning,
                stacklevel=2,
            )
        self._specs[spec.name] = module.__spec__  # the import system overwrites it with the alias's spec
        return module

    def exec_module(self, module: ModuleType) -> None:
        spec = module.__spec__
        if spec is not None:
            module.__spec__ = self._specs.pop(spec.name, spec)


def install() -> None:
    """First in line, so that ``log_handlers.x`` is the module ``airglow.log_handlers.x`` (not a second copy
    of its file); ``find_spec`` itself steps aside for a real ``log_handlers``."""
    if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Alias())


install()
