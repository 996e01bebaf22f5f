"""The distribution: one import package, ``airglow``, built from the repository's top-level folders."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import tomllib
from support.common import ROOT, venv_with

PARTS = ("bridge", "dashboards", "log_handlers")


def test_every_folder_with_code_is_a_listed_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = sorted(
        "airglow." + ".".join(init.parent.relative_to(ROOT).parts)
        for part in PARTS
        for init in (ROOT / part).rglob("__init__.py")
    )
    assert sorted(config["packages"]) == folders
    assert config["package-dir"] == {f"airglow.{part}": part for part in PARTS}


@pytest.mark.slow
def test_a_fresh_install_has_only_the_airglow_package_and_keeps_the_old_path_for_one_release(
    tmp_path,
) -> None:
    bin_dir = venv_with(tmp_path / "venv", str(ROOT))
    python = str(bin_dir / "python")
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    installed = {path.name for path in Path(site).iterdir()}
    assert "airglow" in installed and "airglow-legacy-paths.pth" in installed
    assert not installed & set(PARTS), "no top-level bridge, dashboards or log_handlers"

    imported = subprocess.run(
        [
            python,
            "-c",
            "import airglow.bridge, airglow.log_handlers, airglow.dashboards; print(airglow.bridge.__version__)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert imported.returncode == 0, imported.stderr
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert imported.stdout.strip() == version

    old = subprocess.run(
        [
            python,
            "-c",
            "import log_handlers.errors as old, airglow.log_handlers.errors as new;"
            "import log_handlers.elasticsearch.log_id as moved, airglow.log_handlers.try_identity as home;"
            "print(old is new, moved is home)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert old.stdout.strip() == "True True", old.stderr  # a module that moved since 0.1 is found too
    assert "FutureWarning: 'log_handlers' is Airglow 0.1's module path" in old.stderr

    shutil.rmtree(Path(site, "airglow", "log_handlers"))  # half uninstalled, or an editable checkout moved
    started = subprocess.run([python, "-c", "print('started')"], capture_output=True, text=True, cwd=tmp_path)
    assert (started.stdout, started.stderr) == ("started\n", ""), "the start-up line never prints a traceback"
