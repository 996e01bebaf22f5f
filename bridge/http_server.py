"""The HTTP side: metrics (text or OpenMetrics, gzip when asked), health, readiness, lifecycle.

One event-loop thread serves every connection, so idle or slow clients cost no thread; a bounded
number of connections is admitted, a request head must arrive within a deadline, and idle
keep-alive connections are closed. ``/metrics`` is streamed in chunks rendered under the bridge's
lock a slice at a time, so a response never holds the whole exposition in memory and a client that
does not read is dropped at the write deadline.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
import zlib
from collections.abc import Generator
from dataclasses import dataclass
from typing import Protocol

from airglow.bridge.exposition import Format, negotiate
from airglow.bridge.selfmetrics import Counters, Values

log = logging.getLogger("bridge.http")

LANDING = """<html><head><title>Airglow bridge</title></head><body><h1>Airglow statsd bridge</h1>
<p>A statsd_exporter-compatible statsd to Prometheus bridge.</p><ul><li><a href="{path}">Metrics</a></li></ul>
</body></html>"""
MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class HttpLimits:
    max_connections: int = 1024  # an idle or slow connection costs a few KiB, no thread
    max_streams: int = 64  # /metrics responses in flight: each holds about 1 MiB until read or timed out
    head_timeout: float = 10.0  # a request's head must be complete this long after it starts
    idle_timeout: float = 60.0  # a keep-alive connection with no request is closed after this
    write_timeout: float = 30.0  # a response must be read by the client within this


_HTTP = (("listener", "http"),)


class Routes(Protocol):
    """What the HTTP server calls; the Bridge provides it."""

    telemetry_path: str
    enable_lifecycle: bool

    def metrics_chunks(self, fmt: Format) -> Generator[bytes, None, None]: ...
    def is_healthy(self) -> bool: ...
    def is_ready(self) -> bool: ...
    def reload(self) -> str | None: ...
    def quit(self) -> None: ...


@dataclass
class Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


class BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def parse_head(head: bytes) -> Request:
    try:
        text = head.decode("latin-1")
        request_line, *header_lines = text.split("\r\n")
        method, target, version = request_line.split(" ")
    except ValueError as exc:
        raise BadRequest(400, "malformed request line") from exc
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise BadRequest(400, f"unsupported version {version!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(400, "malformed header")
        headers[name.lower()] = value.strip()
    return Request(method, target.split("?", 1)[0], version, headers)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """RFC 9110 content coding negotiation: gzip (or ``*``) listed with a q-value above 0."""
    weights: dict[str, float] = {}
    for item in (accept_encoding or "").split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if coding:
            weights[coding.lower()] = weight
    return weights.get("gzip", weights.get("*", 0.0)) > 0


class HttpServer:
    """Binds at construction (so a bind error names the address at start-up); serves on ``start``."""

    def __init__(self, sock: socket.socket, routes: Routes, limits: HttpLimits = HttpLimits()) -> None:
        self._sock = sock
        self._routes = routes
        self._counters = Counters(
            (
                ("airglow_bridge_connections_refused_total", _HTTP),
                ("airglow_bridge_connections_timed_out_total", _HTTP),
            )
        )
        self._limits = limits
        self._open = 0
        self._streams = 0
        self._loop = asyncio.new_event_loop()
        # Rendering takes the bridge's lock a slice at a time: two scrapes at once are plenty.
        self._renderers = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="http-render")
        self._workers = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="http-work")
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)
        self._server: asyncio.Server | None = None
        self._started = threading.Event()

    def start(self) -> None:
        self._thread.start()
        self._started.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._sock.listen(1024)
        self._sock.setblocking(False)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, sock=self._sock, limit=MAX_HEAD_BYTES)
        )
        self._started.set()
        self._loop.run_forever()

    def self_metrics(self) -> Values:
        return self._counters.self_metrics()

    def shutdown(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread.is_alive():  # a failed start leaves later threads unstarted
            self._thread.join(timeout=5)
        self._renderers.shutdown(wait=False, cancel_futures=True)
        self._workers.shutdown(wait=False, cancel_futures=True)
        self._sock.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._open >= self._limits.max_connections:
            self._counters.add("airglow_bridge_connections_refused_total", 1, _HTTP)
            writer.transport.abort()
            return
        self._open += 1
        try:
            await self._requests(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: nothing to answer
        except Exception as exc:  # one connection's failure must never reach the loop
            log.error("HTTP connection failed: %s: %s", type(exc).__name__, exc)
        finally:
            self._open -= 1
            writer.close()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        limits = self._limits
        while True:
            try:
                # Idle keep-alive and a slow head (slowloris) end the same way: the connection closes.
                first = await asyncio.wait_for(reader.readexactly(1), limits.idle_timeout)
                head = first + await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), limits.head_timeout)
            except (TimeoutError, asyncio.TimeoutError):
                self._counters.add("airglow_bridge_connections_timed_out_total", 1, _HTTP)
                return
            except asyncio.LimitOverrunError:
                await self._reply(writer, None, 431, b"Request head too large\n", keep_alive=False)
                return
            try:
                request = parse_head(head[:-4])
                await self._discard_body(reader, request)
            except BadRequest as bad:
                await self._reply(writer, None, bad.status, f"{bad}\n".encode(), keep_alive=False)
                return
            await self._route(request, writer)
            if not request.keep_alive:
                return

    async def _discard_body(self, reader: asyncio.StreamReader, request: Request) -> None:
        """Read (and ignore) a request body, so it is never taken for the next request."""
        if "chunked" in request.headers.get("transfer-encoding", "").lower():
            total = 0
            while True:
                size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), self._limits.head_timeout)
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError as exc:
                    raise BadRequest(400, "malformed chunked body") from exc
                total += size
                if total > MAX_BODY_BYTES:
                    raise BadRequest(413, "request body too large")
                if size == 0:
                    await asyncio.wait_for(reader.readuntil(b"\r\n"), self._limits.head_timeout)
                    return
                await asyncio.wait_for(reader.readexactly(size + 2), self._limits.head_timeout)
        length_text = request.headers.get("content-length", "0")
        if not length_text.isdigit():
            raise BadRequest(400, "malformed Content-Length")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise BadRequest(413, "request body too large")
        if length:
            await asyncio.wait_for(reader.readexactly(length), self._limits.head_timeout)

    async def _route(self, request: Request, writer: asyncio.StreamWriter) -> None:
        routes, path, method = self._routes, request.path, request.method
        loop = asyncio.get_running_loop()
        if method in ("POST", "PUT"):
            await self._lifecycle(request, writer)
        elif method not in ("GET", "HEAD"):
            await self._reply(writer, request, 405, b"Method not allowed.\n")
        elif path == routes.telemetry_path:
            await self._metrics(request, writer)
        elif path == "/-/healthy":
            healthy = await loop.run_in_executor(self._workers, routes.is_healthy)
            if healthy:
                await self._reply(writer, request, 200, b"Statsd Exporter is Healthy.\n")
            else:
                await self._reply(
                    writer, request, 503, b"Statsd Exporter is stalled: metrics cannot be served.\n"
                )
        elif path == "/-/ready":
            if routes.is_ready():
                await self._reply(writer, request, 200, b"Statsd Exporter is Ready.\n")
            else:
                await self._reply(writer, request, 503, b"Statsd Exporter is not ready.\n")
        elif path in ("/-/reload", "/-/quit") and routes.enable_lifecycle:
            await self._reply(writer, request, 405, b"Only POST or PUT requests allowed.\n")
        elif path == "/":
            page = LANDING.format(path=routes.telemetry_path).encode()
            await self._reply(writer, request, 200, page, "text/html; charset=utf-8")
        else:
            await self._reply(writer, request, 404, b"404 page not found\n")

    async def _lifecycle(self, request: Request, writer: asyncio.StreamWriter) -> None:
        routes = self._routes
        if request.path not in ("/-/reload", "/-/quit"):
            await self._reply(writer, request, 404, b"404 page not found\n")
        elif not routes.enable_lifecycle:
            await self._reply(writer, request, 403, b"Lifecycle API is not enabled.\n")
        elif request.path == "/-/reload":
            failure = await asyncio.get_running_loop().run_in_executor(self._workers, routes.reload)
            if failure is None:
                await self._reply(writer, request, 200, b"Requesting reload\n")
            else:
                await self._reply(
                    writer, request, 500, f"Reload failed; old mapping kept: {failure}\n".encode()
                )
        else:
            await self._reply(writer, request, 200, b"Requesting termination... Goodbye!\n")
            routes.quit()

    async def _reply(
        self,
        writer: asyncio.StreamWriter,
        request: Request | None,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        keep_alive: bool | None = None,
    ) -> None:
        keep = request.keep_alive if keep_alive is None and request is not None else bool(keep_alive)
        head = _head(status, content_type, keep, [f"Content-Length: {len(body)}"])
        writer.write(head if request is not None and request.method == "HEAD" else head + body)
        await asyncio.wait_for(writer.drain(), self._limits.write_timeout)

    async def _metrics(self, request: Request, writer: asyncio.StreamWriter) -> None:
        """Stream the exposition: chunked for HTTP/1.1, until close for HTTP/1.0; gzip when accepted."""
        if self._streams >= self._limits.max_streams:
            self._counters.add("airglow_bridge_connections_refused_total", 1, _HTTP)
            await self._reply(writer, request, 503, b"Too many scrapes in progress.\n")
            return
        self._streams += 1
        try:
            await self._stream_metrics(request, writer)
        finally:
            self._streams -= 1

    async def _stream_metrics(self, request: Request, writer: asyncio.StreamWriter) -> None:
        fmt = negotiate(request.headers.get("accept"))
        gzip = accepts_gzip(request.headers.get("accept-encoding"))
        chunked = request.version == "HTTP/1.1"
        keep = request.keep_alive and chunked
        extra = ["Transfer-Encoding: chunked"] if chunked else []
        if gzip:
            extra.append("Content-Encoding: gzip")
        writer.write(_head(200, fmt.value, keep, extra))
        if request.method == "HEAD":
            await asyncio.wait_for(writer.drain(), self._limits.write_timeout)
            return
        body = _compressed(self._routes.metrics_chunks(fmt)) if gzip else self._routes.metrics_chunks(fmt)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._limits.write_timeout
        try:
            while (chunk := await loop.run_in_executor(self._renderers, next, body, None)) is not None:
                if chunk:
                    if chunked:
                        writer.write(b"%x\r\n" % len(chunk))
                    writer.write(chunk)
                    if chunked:
                        writer.write(b"\r\n")
                    await asyncio.wait_for(writer.drain(), max(deadline - loop.time(), 0.001))
        except (TimeoutError, asyncio.TimeoutError):
            self._counters.add("airglow_bridge_connections_timed_out_total", 1, _HTTP)
            writer.transport.abort()
            return
        finally:
            body.close()
        if chunked:
            writer.write(b"0\r\n\r\n")
            await asyncio.wait_for(writer.drain(), max(deadline - loop.time(), 0.001))
        if not keep:
            writer.close()


def _head(status: int, content_type: str, keep_alive: bool, extra: list[str]) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, '')}",
        f"Content-Type: {content_type}",
        *extra,
        "Connection: " + ("keep-alive" if keep_alive else "close"),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _compressed(chunks: Generator[bytes, None, None]) -> Generator[bytes, None, None]:
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing, fastest level
    try:
        for chunk in chunks:
            yield compressor.compress(chunk)
        yield compressor.flush()
    finally:
        chunks.close()
