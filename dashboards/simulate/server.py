"""Serves the Kubernetes-side expositions of a running simulation over HTTP (``/metrics/<exporter>``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from airglow.dashboards.simulate.expositions import EXPOSITIONS
from airglow.dashboards.simulate.model import Fleet

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def serve(fleet: Fleet, lock: threading.Lock, host: str, port: int) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; the caller stops it with ``shutdown()``."""
    server = ThreadingHTTPServer((host, port), handler(fleet, lock))
    threading.Thread(target=server.serve_forever, name="simulate-http", daemon=True).start()
    return server


def handler(fleet: Fleet, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class ExpositionHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            render: Callable[[Fleet], str] | None = EXPOSITIONS.get(self.path.removeprefix("/metrics/"))
            if render is None:
                self.send_error(404, f"try /metrics/{{{','.join(EXPOSITIONS)}}}")
                return
            with lock:
                body = render(fleet).encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Scrapes every second would flood the terminal."""

    return ExpositionHandler
