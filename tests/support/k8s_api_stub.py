"""A stand-in Kubernetes API server for the pod lookup: the part of the core/v1 pods API it uses.

No Kubernetes API server can run here, so this speaks the real wire protocol to the real
``kubernetes`` client over a socket: JSON over HTTP/1.1, list and watch of pods.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def pod(name: str, namespace: str, ip: str, labels: dict[str, str] | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{namespace}-{name}",
            "labels": labels or {},
        },
        "status": {"phase": "Running", "podIP": ip},
    }


class PodAPI:
    """Pods and their event history; resourceVersion is the index into that history."""

    def __init__(self) -> None:
        self.pods: dict[str, dict] = {}
        self.events: list[tuple[str, dict]] = []
        self.changed = threading.Condition()
        self.watches = 0

    def put(self, item: dict) -> None:
        key = f"{item['metadata']['namespace']}/{item['metadata']['name']}"
        with self.changed:
            kind = "MODIFIED" if key in self.pods else "ADDED"
            self.pods[key] = item
            self.events.append((kind, item))
            self.changed.notify_all()

    def delete(self, namespace: str, name: str) -> None:
        with self.changed:
            item = self.pods.pop(f"{namespace}/{name}")
            self.events.append(("DELETED", item))
            self.changed.notify_all()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        parts = url.path.strip("/").split("/")
        # GET /api/v1/pods and /api/v1/namespaces/{ns}/pods: PodList, or a watch stream with watch=true.
        if parts[:2] != ["api", "v1"] or parts[-1] != "pods":
            return self._json(
                404,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "NotFound",
                    "code": 404,
                    "message": f"{url.path} not found",
                },
            )
        namespace = parts[3] if len(parts) == 5 and parts[2] == "namespaces" else ""
        if query.get("watch", ["false"])[0].lower() == "true":
            return self._watch(
                namespace,
                int(query.get("resourceVersion", ["0"])[0] or 0),
                float(query.get("timeoutSeconds", ["30"])[0]),
            )
        api = self.server.api
        with api.changed:
            items = [p for p in api.pods.values() if not namespace or p["metadata"]["namespace"] == namespace]
            version = len(api.events)
        self._json(
            200,
            {
                "kind": "PodList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(version)},
                "items": items,
            },
        )

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _watch(self, namespace: str, since: int, timeout: float) -> None:
        """Watch: a chunked stream of {"type", "object"} lines from resourceVersion on, until the timeout."""
        api = self.server.api
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        api.watches += 1
        position = since
        stop = self.server.stopping
        try:
            while not stop.is_set():
                with api.changed:
                    api.changed.wait_for(
                        lambda seen=position: len(api.events) > seen or stop.is_set(), timeout=min(timeout, 1)
                    )
                    pending = api.events[position:]
                    position = len(api.events)
                for kind, item in pending:
                    if namespace and item["metadata"]["namespace"] != namespace:
                        continue
                    line = json.dumps({"type": kind, "object": item}).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, api: PodAPI) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.api = api
        self.stopping = threading.Event()


def start(api: PodAPI) -> tuple[_Server, int]:
    server = _Server(api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def stop(server: _Server) -> None:
    server.stopping.set()
    with server.api.changed:
        server.api.changed.notify_all()
    server.shutdown()
    server.server_close()


def kubeconfig(port: int) -> str:
    return f"""apiVersion: v1
kind: Config
clusters:
- name: stub
  cluster: {{server: "http://127.0.0.1:{port}"}}
users:
- name: stub
  user: {{token: not-a-secret}}
contexts:
- name: stub
  context: {{cluster: stub, user: stub}}
current-context: stub
"""
