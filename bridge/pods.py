"""The sender's pod, looked up by source IP: one watch of pods through the Kubernetes API, cached by IP.

Optional and off by default (``--airglow.pod-lookup``). It needs ``get``, ``list`` and ``watch`` on
``pods`` (a ClusterRole, or a Role in ``--airglow.pod-lookup-namespace``). The deployment is the pod's
``--airglow.pod-lookup-label`` label (the Airflow chart labels its pods ``release``), or its namespace
when that label is empty.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
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


def kubernetes_api(
    settings: PodLookupSettings, flags: tuple[str, str] = ("--airglow.pod-lookup", "--airglow.kubeconfig")
):
    """The Kubernetes client for the lookup, with its credentials loaded (no request yet); a ConfigError
    names the fix (``flags``: the command's option that needs the API, and its kubeconfig option) when the
    package or the credentials are missing."""
    needing, kubeconfig_flag = flags
    try:
        from kubernetes import client, config
    except ImportError as exc:
        raise ConfigError(
            needing,
            0,
            f"needs the kubernetes package: pip install 'airglow[kubernetes]' ({exc})",
        ) from None
    try:
        if settings.kubeconfig:
            config.load_kube_config(settings.kubeconfig)
        else:
            config.load_incluster_config()
    except (config.ConfigException, OSError, ValueError) as exc:
        where = f"{kubeconfig_flag}={settings.kubeconfig}" if settings.kubeconfig else "in-cluster"
        raise ConfigError(
            needing,
            0,
            f"no Kubernetes credentials ({where}: {exc}); run in a pod with a service account, "
            f"or give {kubeconfig_flag}",
        ) from None
    return client.CoreV1Api()


def list_then_watch(
    api,
    namespace: str,
    on_list: Callable[[list], None],
    on_event: Callable[[str, object], None],
    stop: threading.Event,
    label_selector: str = "",
) -> None:
    """List the pods (of ``namespace``, or all), hand them to ``on_list``, then each change to ``on_event``
    (``ADDED``, ``MODIFIED``, ``DELETED``) until ``stop``; after any API failure, wait and list again."""
    from kubernetes import watch

    function, args = (
        (api.list_namespaced_pod, (namespace,)) if namespace else (api.list_pod_for_all_namespaces, ())
    )
    while not stop.is_set():
        try:
            pods = function(*args, label_selector=label_selector)
            on_list(pods.items)
            stream = watch.Watch().stream(
                function,
                *args,
                label_selector=label_selector,
                resource_version=pods.metadata.resource_version,
                timeout_seconds=_WATCH_SECONDS,
            )
            for event in stream:
                if stop.is_set():
                    return
                on_event(event["type"], event["object"])
        except Exception as exc:  # any API failure: keep what is known, retry later
            log.warning("pod watch failed, retrying in %.0fs: %s", _RETRY_SECONDS, exc)
            stop.wait(_RETRY_SECONDS)


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

    def _run(self) -> None:
        list_then_watch(self._api, self._settings.namespace, self._replace, self._apply, self._stop)

    def _replace(self, pods: list) -> None:
        self._by_ip = dict(filter(None, (self._entry(pod) for pod in pods)))
        self.synced.set()

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
