"""Mistakes users make with every Airglow command: each gets its exit code (docs/cli.md) and a message that
names the fix, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from support import k8s_api_stub as k8s
from support.common import ROOT, free_port

from airglow.bridge.commandline import ExitCode

SCRIPTS = {
    entry.name: entry.value
    for entry in entry_points(group="console_scripts")
    if entry.name.startswith("airglow-")
}


@dataclass
class Mistake:
    command: str
    arguments: Callable[[Path, int], list[str]]  # (scratch folder, a port another socket holds)
    code: ExitCode
    message: str
    environment: dict[str, str] = field(default_factory=dict)


def _bad_mapping(folder: Path) -> str:
    path = folder / "mapping.yml"
    path.write_text("mappings:\n- match: a.*\n  name: [oops\n")
    return str(path)


def _shadowed(folder: Path, *packages: str) -> str:
    """A folder that shadows ``packages`` with ones that cannot be imported: an install without that extra."""
    for name in packages:
        package = folder / "shadow" / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(f"raise ImportError('No module named {name}')\n")
    return str(folder / "shadow")


MISTAKES = {
    "bridge flag typo": Mistake(
        "airglow-bridge",
        lambda f, p: ["--statsd.listen-upd=:9125"],
        ExitCode.USAGE,
        "did you mean --statsd.listen-udp?",
    ),
    "bridge flag value": Mistake(
        "airglow-bridge", lambda f, p: ["--airglow.memory-limit=lots"], ExitCode.USAGE, "not a byte quantity"
    ),
    "bridge mapping file missing": Mistake(
        "airglow-bridge",
        lambda f, p: [f"--statsd.mapping-config={f / 'nope.yml'}", "--check-config"],
        ExitCode.USAGE,
        "nope.yml",
    ),
    "bridge mapping file broken": Mistake(
        "airglow-bridge",
        lambda f, p: [f"--statsd.mapping-config={_bad_mapping(f)}", "--check-config"],
        ExitCode.USAGE,
        "mapping.yml:4: invalid YAML",
    ),
    "bridge pod lookup outside a cluster": Mistake(
        "airglow-bridge",
        lambda f, p: ["--airglow.pod-lookup", "--check-config"],
        ExitCode.USAGE,
        "no Kubernetes credentials",
    ),
    "bridge pod lookup without the extra": Mistake(
        "airglow-bridge",
        lambda f, p: ["--airglow.pod-lookup", "--check-config"],
        ExitCode.USAGE,
        "pip install 'airglow[kubernetes]'",
        {"PYTHONPATH": "{shadow}"},
    ),
    "bridge address in use": Mistake(
        "airglow-bridge",
        lambda f, p: [f"--web.listen-address=127.0.0.1:{p}", f"--statsd.listen-udp=127.0.0.1:{free_port()}"],
        ExitCode.UNAVAILABLE,
        "cannot listen on 127.0.0.1:{port} (--web.listen-address): Address already in use",
    ),
    "explain with a missing mapping": Mistake(
        "airglow-bridge",
        lambda f, p: ["explain", f"--statsd.mapping-config={f / 'nope.yml'}", "a:1|c"],
        ExitCode.USAGE,
        "nope.yml",
    ),
    "dashboards subcommand typo": Mistake(
        "airglow-dashboards",
        lambda f, p: ["genrate", "--out", str(f)],
        ExitCode.USAGE,
        "did you mean generate?",
    ),
    "dashboards output not writable": Mistake(
        "airglow-dashboards",
        lambda f, p: ["generate", "--out", "/proc/airglow-dashboards"],
        ExitCode.USAGE,
        "cannot write /proc/airglow-dashboards",
    ),
    "dashboards without the extra": Mistake(
        "airglow-dashboards",
        lambda f, p: ["generate", "--out", str(f)],
        ExitCode.USAGE,
        "pip install 'airglow[dashboards]'",
        {"PYTHONPATH": "{shadow}"},
    ),
    "preview URL without scheme": Mistake(
        "airglow-dashboards",
        lambda f, p: ["preview", "--prometheus", "127.0.0.1:9090"],
        ExitCode.USAGE,
        "starting with http://",
    ),
    "preview Prometheus unreachable": Mistake(
        "airglow-dashboards",
        lambda f, p: ["preview", "--prometheus", f"http://127.0.0.1:{free_port()}", "--out", str(f)],
        ExitCode.UNAVAILABLE,
        "Connection refused",
    ),
    "simulator address in use": Mistake(
        "airglow-simulate",
        lambda f, p: [f"--listen=127.0.0.1:{p}", "--duration=1"],
        ExitCode.UNAVAILABLE,
        "cannot listen on 127.0.0.1:{port} (--listen): Address already in use",
    ),
    "simulator port out of range": Mistake(
        "airglow-simulate", lambda f, p: ["--listen=127.0.0.1:99999"], ExitCode.USAGE, "a port up to 65535"
    ),
    "simulator flag typo": Mistake(
        "airglow-simulate", lambda f, p: ["--deploymnets=3"], ExitCode.USAGE, "did you mean --deployments?"
    ),
    "logs without a store": Mistake(
        "airglow-logs",
        lambda f, p: ["--dag", "d", "--task", "t", "--run", "r"],
        ExitCode.USAGE,
        "--remote-base",
    ),
    "logs for no such task": Mistake(
        "airglow-logs",
        lambda f, p: ["--remote-base", f.as_uri(), "--dag", "d", "--task", "t", "--run", "r"],
        ExitCode.NOT_FOUND,
        "no log at dag_id=d/run_id=r/task_id=t/attempt=1.log",
    ),
    "logs without the extra": Mistake(
        "airglow-logs",
        lambda f, p: ["--remote-base", f.as_uri(), "--path", "x.log"],
        ExitCode.USAGE,
        "pip install 'airglow[logs]'",
        {"PYTHONPATH": "{shadow}"},
    ),
    "logs with a malformed storage option": Mistake(
        "airglow-logs",
        lambda f, p: ["--remote-base", f.as_uri(), "--path", "x.log", "--storage-option", "token"],
        ExitCode.USAGE,
        "expected KEY=VALUE",
    ),
    "logs with an unknown store": Mistake(
        "airglow-logs",
        lambda f, p: [
            "--remote-base",
            "nosuchstore://bucket/logs",
            "--dag",
            "d",
            "--task",
            "t",
            "--run",
            "r",
        ],
        ExitCode.USAGE,
        "nosuchstore",
    ),
    "Elasticsearch logs without ids": Mistake(
        "airglow-es-logs", lambda f, p: ["read", "--dag", "d"], ExitCode.USAGE, "give --log-id, or --dag"
    ),
    "Elasticsearch logs without the extra": Mistake(
        "airglow-es-logs",
        lambda f, p: ["read", "--log-id", "x"],
        ExitCode.USAGE,
        "pip install 'airglow[elasticsearch]'",
        {"PYTHONPATH": "{shadow}"},
    ),
    "Elasticsearch unreachable": Mistake(
        "airglow-es-logs",
        lambda f, p: ["--hosts", f"http://127.0.0.1:{free_port()}", "read", "--log-id", "x"],
        ExitCode.UNAVAILABLE,
        "cannot reach Elasticsearch",
    ),
    "demo with no deployments": Mistake(
        "airglow-demo", lambda f, p: ["--deployments=0"], ExitCode.USAGE, "--deployments must be at least 1"
    ),
    "pod ends without a store": Mistake(
        "airglow-pod-ends", lambda f, p: ["--namespace=airflow"], ExitCode.USAGE, "--remote-base is required"
    ),
    "pod ends without Kubernetes credentials": Mistake(
        "airglow-pod-ends",
        lambda f, p: ["--remote-base", f.as_uri()],
        ExitCode.USAGE,
        "no Kubernetes credentials (in-cluster",
    ),
    "pod ends without the kubernetes extra": Mistake(
        "airglow-pod-ends",
        lambda f, p: ["--remote-base", f.as_uri()],
        ExitCode.USAGE,
        "pip install 'airglow[kubernetes]'",
        {"PYTHONPATH": "{shadow}"},
    ),
    "pod ends with a missing bucket": Mistake(
        "airglow-pod-ends",
        lambda f, p: [
            "--remote-base",
            "s3://no-such-bucket/logs",
            "--storage-option",
            f"endpoint_url=http://127.0.0.1:{free_port()}",
            f"--kubeconfig={_kubeconfig(f, p)}",
        ],
        ExitCode.UNAVAILABLE,
        "no-such-bucket",
    ),
    "demo previews without a browser": Mistake(
        "airglow-demo",
        lambda f, p: [f"--previews={f}"],
        ExitCode.USAGE,
        "install chromium",
        {"PATH": "{empty}"},
    ),
}


def _kubeconfig(folder: Path, port: int) -> Path:
    """A kubeconfig for a cluster at ``port`` (nothing is asked of it before the store is found)."""
    path = folder / "kubeconfig"
    path.write_text(k8s.kubeconfig(port))
    return path


@contextmanager
def _port_in_use() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield holder.getsockname()[1]


def _run(mistake: Mistake, folder: Path, port: int) -> subprocess.CompletedProcess:
    module, function = SCRIPTS[mistake.command].split(":")
    places = {"shadow": "", "empty": str(folder / "empty")}
    if "{shadow}" in mistake.environment.get("PYTHONPATH", ""):
        places["shadow"] = _shadowed(folder, "kubernetes", "fsspec", "grafanalib", "elasticsearch")
    (folder / "empty").mkdir(exist_ok=True)
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "KUBERNETES_")) and key != "KUBECONFIG"
    }
    environment["HOME"] = str(folder)  # no ~/.kube/config
    environment.update({key: value.format(**places) for key, value in mistake.environment.items()})
    return subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; from {module} import {function}; sys.exit({function}())",
            *mistake.arguments(folder, port),
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_console_script_is_in_the_table() -> None:
    assert set(SCRIPTS) == {mistake.command for mistake in MISTAKES.values()}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_a_mistake_gets_its_exit_code_and_a_message_not_a_traceback(name: str, tmp_path: Path) -> None:
    mistake = MISTAKES[name]
    with _port_in_use() as port:
        result = _run(mistake, tmp_path, port)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == mistake.code, output
    assert mistake.message.format(port=port) in output, output
    assert len(result.stderr.strip().splitlines()) <= 3, f"a short message, not a usage dump: {result.stderr}"
