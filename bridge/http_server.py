"""The HTTP side: metrics (text or OpenMetrics, gzip when asked), health, readiness, lifecycle."""

from __future__ import annotations

import gzip
import logging
import socket
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from bridge.exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, wants_openmetrics
from bridge.settings import Address

log = logging.getLogger("bridge.http")

LANDING = """<html><head><title>Airglow bridge</title></head><body><h1>Airglow statsd bridge</h1>
<p>A statsd_exporter-compatible statsd to Prometheus bridge.</p><ul><li><a href="{path}">Metrics</a></li></ul>
</body></html>"""


class Routes(Protocol):
    """What the HTTP server calls; the Bridge provides it."""

    telemetry_path: str
    enable_lifecycle: bool
    render_metrics: Callable[[bool], bytes]
    is_ready: Callable[[], bool]
    reload: Callable[[], bool]
    quit: Callable[[], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: Address, routes: Routes) -> None:
        host = address.host or ("::" if socket.has_ipv6 else "0.0.0.0")
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.routes = routes
        super().__init__((host, address.port), _Handler, bind_and_activate=False)
        if self.address_family == socket.AF_INET6 and not address.host:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        self.server_bind()
        self.server_activate()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _reply(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        encoding: str | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        routes = self.server.routes
        path = self.path.split("?", 1)[0]
        if path == routes.telemetry_path:
            self._metrics()
        elif path == "/-/healthy":
            self._reply(200, b"Statsd Exporter is Healthy.\n")
        elif path == "/-/ready":
            if routes.is_ready():
                self._reply(200, b"Statsd Exporter is Ready.\n")
            else:
                self._reply(503, b"Statsd Exporter is not ready.\n")
        elif path in ("/-/reload", "/-/quit") and routes.enable_lifecycle:
            self._reply(405, b"Only POST or PUT requests allowed.\n")
        elif path == "/":
            self._reply(200, LANDING.format(path=routes.telemetry_path).encode(), "text/html; charset=utf-8")
        else:
            self._reply(404, b"404 page not found\n")

    do_HEAD = do_GET

    def _metrics(self) -> None:
        openmetrics = wants_openmetrics(self.headers.get("Accept"))
        body = self.server.routes.render_metrics(openmetrics)
        content_type = OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE
        if "gzip" in (self.headers.get("Accept-Encoding") or ""):
            self._reply(200, gzip.compress(body, compresslevel=1), content_type, "gzip")
        else:
            self._reply(200, body, content_type)

    def _lifecycle(self) -> None:
        routes = self.server.routes
        path = self.path.split("?", 1)[0]
        if path not in ("/-/reload", "/-/quit"):
            self._reply(404, b"404 page not found\n")
            return
        if not routes.enable_lifecycle:
            self._reply(403, b"Lifecycle API is not enabled.\n")
            return
        if path == "/-/reload":
            ok = routes.reload()
            self._reply(
                200 if ok else 500, b"Requesting reload\n" if ok else b"Reload failed; old mapping kept\n"
            )
        else:
            self._reply(200, b"Requesting termination... Goodbye!\n")
            routes.quit()

    do_POST = _lifecycle
    do_PUT = _lifecycle


def start_http(address: Address, routes: Routes) -> _Server:
    return _Server(address, routes)
