"""UDP, TCP and Unixgram listeners: bytes in, batches of lines handed to the pipeline.

UDP packets go through a bounded queue to one parsing thread, so a burst is dropped and counted
rather than blocking the socket; TCP connections are read in large chunks and split into lines
with statsd_exporter's line-length limit.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
from collections.abc import Callable

from bridge.settings import Address

log = logging.getLogger("bridge.listeners")

# statsd_exporter reads TCP with a default bufio.Reader: a line of 4096 bytes or more does not fit.
TCP_MAX_LINE = 4096
_RECV_SIZE = 65536

# A batch of lines and the sender's socket address (a tuple; empty or None for a Unix socket).
Sender = tuple | str | None
Handler = Callable[[list[bytes], Sender], None]
Counter = Callable[[str, int], None]


def sender_ip(address) -> str | None:
    """The IP of a socket peer; IPv4 senders on a dual-stack socket arrive as ::ffff:a.b.c.d."""
    if not isinstance(address, tuple):
        return None
    host = address[0]
    return host[7:] if host.startswith("::ffff:") else host


def close_socket(sock: socket.socket) -> None:
    """Shut down before closing: on Linux only shutdown wakes a thread blocked in recv or accept."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def bind_socket(address: Address, kind: int) -> socket.socket:
    """Bind host:port; an empty host listens on every interface, as Go does for ``:port``."""
    host = address.host
    if not host:
        family, host = (socket.AF_INET6, "::") if socket.has_ipv6 else (socket.AF_INET, "0.0.0.0")
    else:
        family = socket.getaddrinfo(host, address.port, type=kind)[0][0]
    sock = socket.socket(family, kind)
    if family == socket.AF_INET6 and not address.host:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    if kind == socket.SOCK_STREAM:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, address.port))
    return sock


class DatagramListener:
    """One datagram is one packet of lines.

    With a queue (UDP) a receiving thread hands packets to a parsing thread and drops, counted, what
    does not fit; without one (Unixgram, as statsd_exporter) packets are parsed as they arrive.
    """

    def __init__(
        self, sock: socket.socket, handle: Handler, count: Counter, packets_metric: str, queue_size: int = 0
    ) -> None:
        self._sock = sock
        self._closed = threading.Event()
        self._handle = handle
        self._count = count
        self._packets_metric = packets_metric
        self._queue: queue.Queue[tuple[bytes, Sender] | None] | None = (
            queue.Queue(maxsize=queue_size) if queue_size else None
        )
        self._threads = [
            threading.Thread(target=self._receive, name=f"{packets_metric}-receive", daemon=True)
        ]
        if self._queue is not None:
            self._threads.append(threading.Thread(target=self._parse, name="udp-parse", daemon=True))

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def _receive(self) -> None:
        while True:
            try:
                packet, address = self._sock.recvfrom(65535)
            except OSError:
                break
            if self._closed.is_set():
                break
            self._count(self._packets_metric, 1)
            if self._queue is None:
                self._handle(packet.split(b"\n"), address)
                continue
            try:
                self._queue.put_nowait((packet, address))
            except queue.Full:
                self._count("statsd_exporter_udp_packet_drops_total", 1)
        if self._queue is not None:
            self._queue.put(None)

    def _parse(self) -> None:
        while (item := self._queue.get()) is not None:
            packet, source = item
            self._handle(packet.split(b"\n"), source)

    def close(self) -> None:
        self._closed.set()
        close_socket(self._sock)
        for thread in self._threads:
            thread.join(timeout=2)


def udp_listener(sock: socket.socket, handle: Handler, count: Counter, queue_size: int) -> DatagramListener:
    return DatagramListener(sock, handle, count, "statsd_exporter_udp_packets_total", queue_size)


class UnixgramListener(DatagramListener):
    """A Unixgram socket at ``path`` with the given mode; the path is removed on close."""

    def __init__(self, path: str, mode: int, read_buffer: int, handle: Handler, count: Counter) -> None:
        if os.path.exists(path):
            raise OSError(f"Unixgram socket already exists: {path}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if read_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, read_buffer)
        sock.bind(path)
        os.chmod(path, mode)
        self._path = path
        super().__init__(sock, handle, count, "statsd_exporter_unixgram_packets_total")

    def close(self) -> None:
        super().close()
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass


class TCPListener:
    def __init__(self, sock: socket.socket, handle: Handler, count: Counter) -> None:
        self._sock = sock
        self._sock.listen(128)
        self._handle = handle
        self._count = count
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="tcp-accept", daemon=True)
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, address = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=self._serve, args=(conn, address), name="tcp-conn", daemon=True).start()

    def _serve(self, conn: socket.socket, source: Sender) -> None:
        self._count("statsd_exporter_tcp_connections_total", 1)
        try:
            self._read_lines(conn, source)
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    def _read_lines(self, conn: socket.socket, source: Sender) -> None:
        pending = b""
        while True:
            try:
                chunk = conn.recv(_RECV_SIZE)
            except OSError:
                if not self._closed.is_set():
                    self._count("statsd_exporter_tcp_connection_errors_total", 1)
                return
            if not chunk:
                if pending:
                    self._handle([_strip_cr(pending)], source)
                return
            data = pending + chunk
            lines = data.split(b"\n")
            pending = lines.pop()
            if b"\r" in data:
                lines = [_strip_cr(line) for line in lines]
            if not self._deliver(lines, source) or len(pending) >= TCP_MAX_LINE:
                if len(pending) >= TCP_MAX_LINE:
                    self._count("statsd_exporter_tcp_too_long_lines_total", 1)
                return

    def _deliver(self, lines: list[bytes], source: Sender) -> bool:
        """Hand over complete lines; stop at the first too-long one, which closes the connection."""
        for index, line in enumerate(lines):
            if len(line) >= TCP_MAX_LINE:
                if index:
                    self._handle(lines[:index], source)
                self._count("statsd_exporter_tcp_too_long_lines_total", 1)
                return False
        if lines:
            self._handle(lines, source)
        return True

    def close(self) -> None:
        self._closed.set()
        close_socket(self._sock)
        with self._lock:
            for conn in list(self._connections):
                conn.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=2)


def _strip_cr(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line
