"""The manifests as the cluster would get them: ``kubectl kustomize`` output, and the bridge's part of it."""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from support.common import ROOT, require_binary

MANIFESTS = ROOT / "manifests"
OVERLAYS = sorted(path.parent for path in (MANIFESTS / "overlays").glob("*/kustomization.yaml"))
BRIDGE_LISTEN_FLAGS = ("--statsd.listen-udp", "--statsd.listen-tcp", "--web.listen-address")


def kustomizations() -> list[Path]:
    """Every buildable kustomization (components are built through the overlays that use them)."""
    found = []
    for path in sorted(MANIFESTS.rglob("kustomization.yaml")):
        if yaml.safe_load(path.read_text()).get("kind", "Kustomization") == "Kustomization":
            found.append(path.parent)
    return found


@functools.cache
def build(directory: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize`` output, once per directory and session: callers must not change it."""
    result = subprocess.run(
        [require_binary("kubectl"), "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"kubectl kustomize {directory}: {result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@dataclass(frozen=True)
class BridgeWorkload:
    """The bridge's Deployment or DaemonSet with the ConfigMaps its pod mounts."""

    workload: dict[str, Any]
    config_maps: dict[str, dict[str, Any]]

    @property
    def pod(self) -> dict[str, Any]:
        return self.workload["spec"]["template"]

    @property
    def container(self) -> dict[str, Any]:
        return self.pod["spec"]["containers"][0]

    @property
    def args(self) -> list[str]:
        return list(self.container["args"])

    def args_without_addresses(self) -> list[str]:
        """The arguments a test can run on loopback: everything but the listen addresses."""
        return [arg for arg in self.args if not arg.startswith(BRIDGE_LISTEN_FLAGS)]

    def write_mounts(self, into: Path) -> dict[str, Path]:
        """Write each mounted ConfigMap under ``into``; returns mount path -> where its files now are."""
        volumes = {volume["name"]: volume for volume in self.pod["spec"].get("volumes", [])}
        moved = {}
        for mount in self.container.get("volumeMounts", []):
            source = volumes[mount["name"]].get("configMap")
            if source is None:
                continue
            target = into / mount["name"]
            target.mkdir(parents=True, exist_ok=True)
            for key, content in self.config_maps[source["name"]]["data"].items():
                (target / key).write_text(content)
            moved[mount["mountPath"]] = target
        return moved


def relocate(args: list[str], moved: dict[str, Path]) -> list[str]:
    for mount_path, target in moved.items():
        args = [arg.replace(mount_path, str(target)) for arg in args]
    return args


def bridge_workloads(objects: list[dict[str, Any]]) -> list[BridgeWorkload]:
    config_maps = {
        (obj["metadata"].get("namespace"), obj["metadata"]["name"]): obj
        for obj in objects
        if obj["kind"] == "ConfigMap"
    }
    found = []
    for obj in objects:
        labels = obj["metadata"].get("labels", {})
        if (
            obj["kind"] in ("Deployment", "DaemonSet")
            and labels.get("app.kubernetes.io/name") == "airglow-bridge"
        ):
            namespace = obj["metadata"].get("namespace")
            mine = {name: cm for (ns, name), cm in config_maps.items() if ns == namespace}
            found.append(BridgeWorkload(obj, mine))
    return found
