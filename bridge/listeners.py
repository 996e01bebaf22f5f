"""UDP, TCP and Unixgram listeners: bytes in, batches of lines handed to the pipeline.

UDP packets go through a bounded queue to one parsing thread, so a burst is dropped and counted
rather than blocking the socket; TCP connections share one selector thread, are read in large
chunks and split into lines with statsd_exporter's line-length limit.
"""

from __future__ import annotations

import logging
import os
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bridge.errors import ListenError
from bridge.settings import Address

log = logging.getLogger("bridge.listeners")

# statsd_exporter reads TCP with a default bufio.Reader: a line of 4096 bytes or more does not fit.
TCP_MAX_LINE = 4096
_RECV_SIZE = 65536

# A batch of lines and the sender's socket address (a tuple; empty or None for a Unix socket).
Sender = tuple | str | None
Handler = Callable[[list[bytes], Sender], None]
Counter = Callable[..., None]  # (metric name, amount, labels=())


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


def bind_socket(address: Address, kind: int, what: str) -> socket.socket:
    """Bind host:port; an empty host listens on every interface, as Go does for ``:port``.

    A failure is a ListenError naming ``what`` (the flag) and the address."""
    host = address.host
    try:
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
    except OSError as exc:
        raise ListenError(what, str(address), exc.strerror or str(exc)) from exc
    return sock


def kernel_udp_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped for this socket (its receive buffer was full), from /proc/net/udp*."""
    inode = str(os.fstat(sock.fileno()).st_ino)
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as file:
                next(file, None)
                for row in file:
                    fields = row.split()
                    if len(fields) > 12 and fields[9] == inode:
                        return int(fields[12])
        except OSError:
            continue
    return None


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
            raise ListenError("--statsd.listen-unixgram", path, "a file already exists there")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            if read_buffer:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, read_buffer)
            sock.bind(path)
            os.chmod(path, mode)
        except OSError as exc:
            sock.close()
            raise ListenError("--statsd.listen-unixgram", path, exc.strerror or str(exc)) from exc
        self._path = path
        super().__init__(sock, handle, count, "statsd_exporter_unixgram_packets_total")

    def close(self) -> None:
        super().close()
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass


class TCPListener:
    """Every TCP connection served by one thread with a selector: idle connections cost no thread.

    At most ``max_connections`` are open (more are closed at once and counted); a connection that
    sends nothing for ``idle_timeout`` seconds is closed and counted.
    """

    def __init__(
        self,
        sock: socket.socket,
        handle: Handler,
        count: Counter,
        max_connections: int = 4096,
        idle_timeout: float = 300.0,
    ) -> None:
        self._sock = sock
        self._sock.listen(1024)
        self._sock.setblocking(False)
        self._handle = handle
        self._count = count
        self._max = max_connections
        self._idle = idle_timeout
        self._closed = threading.Event()
        self._wake_read, self._wake_write = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._sock, selectors.EVENT_READ, None)
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._connections: dict[socket.socket, _Connection] = {}
        self._thread = threading.Thread(target=self._run, name="tcp", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        sweep_at = time.monotonic() + 1.0
        while not self._closed.is_set():
            for key, _ in self._selector.select(timeout=1.0):
                if key.fileobj is self._sock:
                    self._accept()
                elif key.data is not None:
                    self._read(key.fileobj, key.data)
            now = time.monotonic()
            if now >= sweep_at:
                sweep_at = now + 1.0
                self._close_idle(now)
        for conn in list(self._connections):
            self._drop(conn)

    def _accept(self) -> None:
        while True:
            try:
                conn, address = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("TCP accept failed: %s", exc.strerror or exc)
                return
            if len(self._connections) >= self._max:
                self._count("airglow_bridge_connections_refused_total", 1, (("listener", "tcp"),))
                conn.close()
                continue
            conn.setblocking(False)
            state = _Connection(address, time.monotonic())
            self._connections[conn] = state
            self._selector.register(conn, selectors.EVENT_READ, state)
            self._count("statsd_exporter_tcp_connections_total", 1)

    def _read(self, conn: socket.socket, state: _Connection) -> None:
        try:
            chunk = conn.recv(_RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._count("statsd_exporter_tcp_connection_errors_total", 1)
            self._drop(conn)
            return
        state.last = time.monotonic()
        if not chunk:
            if state.pending:
                self._handle([_strip_cr(state.pending)], state.address)
            self._drop(conn)
            return
        data = state.pending + chunk
        lines = data.split(b"\n")
        state.pending = lines.pop()
        if b"\r" in data:
            lines = [_strip_cr(line) for line in lines]
        if not self._deliver(lines, state.address) or len(state.pending) >= TCP_MAX_LINE:
            if len(state.pending) >= TCP_MAX_LINE:
                self._count("statsd_exporter_tcp_too_long_lines_total", 1)
            self._drop(conn)

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

    def _close_idle(self, now: float) -> None:
        for conn, state in list(self._connections.items()):
            if now - state.last > self._idle:
                self._count("airglow_bridge_connections_timed_out_total", 1, (("listener", "tcp"),))
                self._drop(conn)

    def _drop(self, conn: socket.socket) -> None:
        self._connections.pop(conn, None)
        self._selector.unregister(conn)
        conn.close()

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def close(self) -> None:
        self._closed.set()
        self._wake_write.send(b"x")
        self._thread.join(timeout=5)
        self._selector.close()
        for sock in (self._sock, self._wake_read, self._wake_write):
            sock.close()


@dataclass
class _Connection:
    address: Sender
    last: float
    pending: bytes = b""


def _strip_cr(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line
