"""Watch task pods and write the abnormal end of each into its try's remote log, once.

Once per pod: a pod's end is remembered (a bounded memory) and, across restarts of the watcher, recognised
in the tail of the log itself (the note names the pod's uid).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from airglow.bridge.pods import list_then_watch
from airglow.log_handlers.errors import LogHandlerError
from airglow.log_handlers.pod_ends.detect import abnormal_end
from airglow.log_handlers.pod_ends.notes import Notes

log = logging.getLogger(__name__)

# Pods whose end is noted, remembered so that later events of the same pod add nothing.
REMEMBERED_PODS = 10_000


class PodEndWatcher:
    """Notes each abnormal task-pod end in the remote log of the try the pod ran."""

    def __init__(self, api: Any, notes: Notes, namespace: str = "", label_selector: str = "") -> None:
        self._api = api
        self._notes = notes
        self._namespace = namespace
        self._selector = label_selector
        self._noted: OrderedDict[str, None] = OrderedDict()

    def run(self, stop: threading.Event) -> None:
        list_then_watch(self._api, self._namespace, self._listed, self.handle, stop, self._selector)

    def _listed(self, pods: list) -> None:
        for pod in pods:
            self.handle("ADDED", pod)

    def handle(self, kind: str, pod: Any) -> None:
        end = abnormal_end(kind, pod)
        if end is None or end.uid in self._noted:
            return
        try:
            if not self._notes.noted(end.identity, end.uid):
                if not self._notes.note(end.identity, end.message()):
                    return  # the store failed for good this time; the next listing tries again
                log.info("noted the end of %s (%s): %s", end.pod, end.identity, end.reason)
        except LogHandlerError as err:
            log.error("could not note the end of %s (%s): %s", end.pod, end.identity, err)
            return
        self._noted[end.uid] = None
        if len(self._noted) > REMEMBERED_PODS:
            self._noted.popitem(last=False)
