"""The sender's pod, looked up by source IP: one watch of pods through the Kubernetes API, cached by IP.

Optional and off by default (``--airglow.pod-lookup``). It needs ``get``, ``list`` and ``watch`` on
``pods`` (a ClusterRole, or a Role in ``--airglow.pod-lookup-namespace``). The deployment is the pod's
``--airglow.pod-lookup-label`` label (the Airflow chart labels its pods ``release``), or its namespace
when that label is empty.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from airglow.bridge.errors import ConfigError

log = logging.getLogger("bridge.pods")

_WATCH_SECONDS = 300
_RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class PodLookupSettings:
    label: str = "release"
    namespace: str = ""
    kubeconfig: str = ""


def kubernetes_api(settings: PodLookupSettings):
    """The Kubernetes client for the lookup, with its credentials loaded (no request yet); a ConfigError
    names the fix when the package or the credentials are missing."""
    try:
        from kubernetes import client, config
    except ImportError as exc:
        raise ConfigError(
            "--airglow.pod-lookup",
            0,
            f"needs the kubernetes package: pip install 'airglow[kubernetes]' ({exc})",
        ) from None
    try:
        if settings.kubeconfig:
            config.load_kube_config(settings.kubeconfig)
        else:
            config.load_incluster_config()
    except (config.ConfigException, OSError, ValueError) as exc:
        where = f"--airglow.kubeconfig={settings.kubeconfig}" if settings.kubeconfig else "in-cluster"
        raise ConfigError(
            "--airglow.pod-lookup",
            0,
            f"no Kubernetes credentials ({where}: {exc}); run the bridge in a pod with a service account, "
            "or give --airglow.kubeconfig",
        ) from None
    return client.CoreV1Api()


class PodDirectory:
    """Pod IP -> deployment, kept current by list-then-watch; lookups never touch the network."""

    def __init__(self, settings: PodLookupSettings) -> None:
        self._api = kubernetes_api(settings)
        self._settings = settings
        self._by_ip: dict[str, tuple[str, str]] = {}
        self._stop = threading.Event()
        self.synced = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pod-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def deployment_for(self, ip: str | None) -> str | None:
        found = self._by_ip.get(ip) if ip else None
        return found[1] if found else None

    def close(self) -> None:
        self._stop.set()

    def _list_function(self):
        if self._settings.namespace:
            return self._api.list_namespaced_pod, (self._settings.namespace,)
        return self._api.list_pod_for_all_namespaces, ()

    def _run(self) -> None:
        from kubernetes import watch

        function, args = self._list_function()
        while not self._stop.is_set():
            try:
                pods = function(*args)
                self._by_ip = dict(filter(None, (self._entry(pod) for pod in pods.items)))
                self.synced.set()
                stream = watch.Watch().stream(
                    function,
                    *args,
                    resource_version=pods.metadata.resource_version,
                    timeout_seconds=_WATCH_SECONDS,
                )
                for event in stream:
                    if self._stop.is_set():
                        return
                    self._apply(event["type"], event["object"])
            except Exception as exc:  # any API failure: keep the cache, retry later
                log.warning("pod watch failed, retrying in %.0fs: %s", _RETRY_SECONDS, exc)
                self._stop.wait(_RETRY_SECONDS)

    def _entry(self, pod) -> tuple[str, tuple[str, str]] | None:
        ip = pod.status.pod_ip if pod.status else None
        if not ip:
            return None
        labels = pod.metadata.labels or {}
        deployment = labels.get(self._settings.label) if self._settings.label else None
        return ip, (pod.metadata.uid, deployment or pod.metadata.namespace)

    def _apply(self, kind: str, pod) -> None:
        entry = self._entry(pod)
        if entry is None:
            return
        ip, value = entry
        if kind == "DELETED":
            if self._by_ip.get(ip, (None,))[0] == value[0]:
                del self._by_ip[ip]
        else:
            self._by_ip[ip] = value
