"""The distribution: one import package, ``airglow``, built from the repository's top-level folders."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import tomllib
from support.common import ROOT, venv_with

PARTS = ("bridge", "dashboards", "log_handlers")
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


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


def _source_copy(into: Path) -> Path:
    """The working tree as a clone has it (tracked and new files, nothing ignored), outside the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    for relative in filter(None, listed):
        source = ROOT / relative
        if source.is_file() and not relative.startswith(".ci/node_modules/"):
            (into / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / relative)
    return into


def _run(command: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


@pytest.mark.slow
def test_the_release_artifacts_build_check_and_every_console_script_runs_from_the_wheel(tmp_path) -> None:
    """As a release would: the sdist, the wheel built from the sdist (so the sdist alone is enough), their
    metadata checked by twine, and the wheel installed in a fresh venv where every console script runs on the
    data it carries (the preset, the dashboards, the rules)."""
    source = _source_copy(tmp_path / "source")
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(source)], tmp_path, timeout=600)
    (sdist,) = dist.glob("airglow-*.tar.gz")
    (wheel,) = dist.glob("airglow-*.whl")
    _run([sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)], tmp_path)
    with tarfile.open(sdist) as archive:
        top = {Path(name).parts[1] for name in archive.getnames() if len(Path(name).parts) > 1}
    assert {"bridge", "dashboards", "log_handlers", "manifests", "docs", "tests", "Dockerfile"} <= top
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        scripts = configparser.ConfigParser()
        scripts.read_string(archive.read(f"airglow-{VERSION}.dist-info/entry_points.txt").decode())
    assert "airglow/bridge/presets/airflow.yml" in names
    assert not {name for name in names if name.startswith(("tests/", "bridge/", "manifests/"))}

    bin_dir = venv_with(tmp_path / "venv", f"{wheel}[dashboards,simulate,elasticsearch,logs]", timeout=900)
    work = tmp_path / "work"
    work.mkdir()
    smoke = {
        "airglow-bridge": ["--check-config"],
        "airglow-dashboards": ["generate", "--out", str(work / "dashboards")],
        "airglow-simulate": ["--duration=1", "--statsd=127.0.0.1:9", "--listen=127.0.0.1:0"],
        "airglow-demo": ["--help"],
        "airglow-logs": ["--remote-base", work.as_uri(), "--path", "none.log"],
        "airglow-es-logs": ["install-template", "--print"],
        "airglow-pod-ends": ["--help"],
    }
    assert set(smoke) == set(scripts["console_scripts"]), "every console script has a smoke test"
    outputs = {}
    for script, arguments in smoke.items():
        result = subprocess.run(
            [str(bin_dir / script), *arguments], cwd=work, capture_output=True, text=True, timeout=120
        )
        assert "Traceback" not in result.stderr, result.stderr
        outputs[script] = (result.returncode, result.stdout + result.stderr)
    assert (
        outputs["airglow-bridge"][0] == 0
        and "mappings in <built-in preset airflow>" in outputs["airglow-bridge"][1]
    )
    assert outputs["airglow-dashboards"][0] == 0
    assert len(list((work / "dashboards").rglob("*.json"))) >= 5
    assert (work / "dashboards" / "rules" / "airglow-rules.yml").is_file()
    assert outputs["airglow-simulate"][0] == 0 and "sent" in outputs["airglow-simulate"][1]
    assert outputs["airglow-demo"][0] == 0 and "--previews" in outputs["airglow-demo"][1]
    assert outputs["airglow-logs"] == (1, "airglow-logs: no log at none.log\n")  # ran, and found nothing
    assert outputs["airglow-es-logs"][0] == 0 and '"index_patterns"' in outputs["airglow-es-logs"][1]
    assert outputs["airglow-pod-ends"][0] == 0 and "--namespace" in outputs["airglow-pod-ends"][1]
