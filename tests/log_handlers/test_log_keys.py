"""No dag, task or run id can make a log key leave the configured prefix; names are deterministic."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airglow.log_handlers.errors import UnsafeLogPath
from airglow.log_handlers.objectstore.keys import encode_relative_path, log_key
from airglow.log_handlers.objectstore.settings import ObjectStoreLogSettings
from airglow.log_handlers.objectstore.task_logs import ObjectStoreTaskLogs
from airglow.log_handlers.try_identity import TryIdentity, render_log_path

SAFE = set(string.ascii_letters + string.digits + "-_=~.%/")
HOSTILE_IDS = {
    "parent": "..",
    "parents": "../../../etc",
    "absolute": "/etc/passwd",
    "dot": ".",
    "url-encoded": "%2e%2e%2f%2e%2e",
    "double-encoded": "%252e%252e",
    "fullwidth-dots": "．．／．．",
    "division-slash": "..∕..∕etc",
    "backslash": "..\\..\\windows",
    "glob": "*?[abc]",
    "fsspec-chain": "simplecache::s3://other-bucket/x",
    "newline": "a\nb",
}


@pytest.mark.parametrize("hostile", HOSTILE_IDS.values(), ids=HOSTILE_IDS.keys())
def test_hostile_ids_stay_literal_and_inside(hostile: str) -> None:
    relative = render_log_path(TryIdentity(hostile, hostile, hostile, 1))
    key = log_key(relative)
    assert set(key) <= SAFE
    assert all(part not in ("", ".", "..") for part in key.split("/"))
    assert not key.startswith("/")
    assert "::" not in key and "://" not in key


@pytest.mark.parametrize(
    "relative", ["", "/", "a\x00b", "x" * 1025], ids=["empty", "root", "nul", "too-long"]
)
def test_paths_without_a_safe_key_are_refused(relative: str) -> None:
    with pytest.raises(UnsafeLogPath):
        log_key(relative)


def test_names_are_deterministic_and_readable() -> None:
    relative = render_log_path(
        TryIdentity("etl", "load", "manual__2026-11-21T10:00:00+00:00", 2, map_index=3)
    )
    assert (
        relative
        == "dag_id=etl/run_id=manual__2026-11-21T10:00:00+00:00/task_id=load/map_index=3/attempt=2.log"
    )
    assert log_key(relative) == (
        "dag_id=etl/run_id=manual__2026-11-21T10%3A00%3A00%2B00%3A00/task_id=load/map_index=3/attempt=2.log"
    )
    assert log_key(relative) == log_key(relative)


@given(
    st.lists(
        st.text(min_size=1, max_size=20).filter(lambda c: "/" not in c and "\x00" not in c),
        min_size=1,
        max_size=6,
    )
)
def test_any_components_encode_injectively_inside_the_prefix(components: list[str]) -> None:
    key = encode_relative_path("/".join(components))
    parts = key.split("/")
    assert len(parts) == len(components)
    assert all(part not in ("", ".", "..") and set(part) <= SAFE for part in parts)
    assert parts == [encode_relative_path(c) for c in components]


@given(st.text(min_size=1, max_size=30), st.text(min_size=1, max_size=30))
def test_different_components_get_different_names(a: str, b: str) -> None:
    if a != b and "/" not in a + b and "\x00" not in a + b:
        assert encode_relative_path(a) != encode_relative_path(b)


def test_shipping_hostile_ids_writes_only_under_the_prefix(tmp_path: Path) -> None:
    """Ids that keep Airflow's local file inside the base folder ship and read back under their literal
    names; ids whose local path leaves it are refused. Nothing is written outside the remote prefix."""
    remote_root = tmp_path / "bucket" / "prefix"
    base = tmp_path / "local"
    logs = ObjectStoreTaskLogs(ObjectStoreLogSettings.build(f"file://{remote_root}", base))
    shipped = refused = 0
    for number, hostile in enumerate(HOSTILE_IDS.values(), start=1):
        relative = render_log_path(TryIdentity(hostile, "task", f"run-{number}", 1))
        local = base / relative
        if not local.resolve().is_relative_to(base.resolve()):
            assert logs.finish(local) is False
            refused += 1
            continue
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(f"log of {number}\n")
        assert logs.finish(local) is True
        _, streams = logs.stream(relative)
        assert [list(s) for s in streams] == [[f"log of {number}"]]
        shipped += 1
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(base)]
    assert shipped >= 8 and refused >= 1
    assert len(written) == 2 * shipped and all(p.is_relative_to(remote_root) for p in written)
