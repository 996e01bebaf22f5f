"""The real ``elasticsearch`` client of both supported majors (9.x here, 8.x in its own venv), each against a
stand-in of its server major; and a 1,000,000-line log read back in order with flat memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.common import ROOT
from support.es_server import running_es

pytestmark = [pytest.mark.slow, pytest.mark.server]

SCENARIO = ROOT / "tests" / "support" / "es_client_scenario.py"
ES8 = "elasticsearch>=8.15,<9"


@pytest.fixture(scope="module")
def es8_python(tmp_path_factory) -> str:
    """A venv with the 8.x client (``AIRGLOW_TEST_ES8_VENV=DIR`` keeps and reuses it)."""
    venv = Path(os.environ.get("AIRGLOW_TEST_ES8_VENV") or tmp_path_factory.mktemp("es8") / "venv")
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        installed = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", ES8],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert installed.returncode == 0, installed.stderr[-3000:]
    return str(python)


@pytest.fixture(scope="module")
def checkout_path(tmp_path_factory) -> Path:
    """A folder whose ``airglow`` package is this checkout's folders, for a Python without Airglow installed
    (the 8.x client's venv)."""
    folder = tmp_path_factory.mktemp("checkout")
    (folder / "airglow").mkdir()
    for part in ("bridge", "dashboards", "log_handlers"):
        (folder / "airglow" / part).symlink_to(ROOT / part)
    return folder


def run_scenario(python: str, url: str, checkout: Path, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{checkout}{os.pathsep}{SCENARIO.parent}"}
    result = subprocess.run(
        [python, str(SCENARIO), url, *args], capture_output=True, text=True, env=env, timeout=900
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("major", ["8", "9"])
def test_both_client_majors_write_and_read_a_deferred_try_with_a_hostile_id(
    major, request, checkout_path
) -> None:
    python = request.getfixturevalue("es8_python") if major == "8" else sys.executable
    with running_es(version=f"{major}.19.0" if major == "8" else "9.2.0") as es:
        result = run_scenario(python, es.url, checkout_path, "round-trip")
    assert result["client"].startswith(major + ".")
    assert result["messages"] == ["before", "Pausing task as DEFERRED. ", "after", "end_of_log"]
    assert result["id_field"] == "log_id"


def test_a_million_line_log_reads_completely_in_order_with_flat_memory(checkout_path) -> None:
    with running_es() as es:
        written = run_scenario(sys.executable, es.url, checkout_path, "write", "1000000")
        assert written["delivered"] is True
        es.cluster.refresh(list(es.cluster.indices.values()))
        result = run_scenario(sys.executable, es.url, checkout_path, "read")
    assert result["lines"] == 1_000_000 and result["ordered"] is True
    samples = result["rss_kib"]
    assert len(samples) == 10
    # From the first 100,000 lines to the millionth, the reader's memory stays within one page's worth.
    assert max(samples) - samples[0] < 16 * 1024, samples
