"""The build step that installs ``airglow-legacy-paths.pth`` beside the packages (see ``legacy_paths``).

Named in pyproject.toml (``[tool.setuptools] cmdclass``); used by wheel, sdist and editable builds, never at
run time.
"""

from __future__ import annotations

from pathlib import Path

from setuptools.command.build_py import build_py

PTH_NAME = "airglow-legacy-paths.pth"
# One line, run by site.py at start-up. It must never print a traceback: not when Airglow is half uninstalled,
# nor when an editable install's checkout has moved (site.py reports any exception of a .pth line).
PTH_LINE = (
    'import sys; exec("try:\\n import airglow.log_handlers.legacy_paths\\nexcept ImportError:\\n pass")\n'
)


class BuildWithLegacyPaths(build_py):
    def run(self) -> None:
        super().run()
        # An editable build installs from its unpacked wheel, a regular one from build_lib.
        folder = (
            self.distribution.get_command_obj("install").install_lib if self.editable_mode else self.build_lib
        )
        Path(folder, PTH_NAME).write_text(PTH_LINE)
