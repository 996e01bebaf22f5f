"""UDP, TCP and Unixgram listeners: bytes in, batches of lines handed to the pipeline.

A datagram socket is drained by one thread in batches: it waits for a datagram, lets more gather for a
moment (``gather_pause``), takes every datagram queued in the kernel (up to a bound), then hands each
sender's lines over in one call, so a sender that sends one line per datagram (Airflow) costs one hand-off
per batch, not per line, and no thread hand-off at all. The kernel's receive buffer holds the backlog while
a batch gathers or is applied; what it drops is counted from /proc. TCP connections share one selector
thread, are read in large chunks and split into lines with statsd_exporter's line-length limit.
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from airglow.bridge.datagram_reader import Batch, DatagramReader, datagram_reader
from airglow.bridge.errors import ListenError
from airglow.bridge.selfmetrics import Counters, Values

log = logging.getLogger("bridge.listeners")

# statsd_exporter reads TCP with a default bufio.Reader: a line of 4096 bytes or more does not fit.
TCP_MAX_LINE = 4096
_RECV_SIZE = 65536
# The most datagrams and bytes taken from the socket before they are applied.
BATCH_DATAGRAMS = 512
BATCH_BYTES = 1 << 20
# After a wake-up, datagrams gather before the socket is drained: one line per datagram would otherwise cost a
# wake-up, a drain and a hand-off per line (at 20,000 lines/s a 20 ms gather took a third off the bridge's CPU
# per line). The pause is at most this long (a metric's delay: nothing next to a scrape interval) ...
MAX_GATHER_SECONDS = 0.02
# ... and lets in at most half a batch, and what the receive buffer holds at this charge per datagram (the
# kernel charges a queued datagram its sk_buff, about 1-2 KiB for a short line, not just its bytes): a quarter
# of it at the rate last measured, all of it for a burst at BURST_RATE datagrams a second (the rate measured
# after a quiet spell says nothing of the burst that may follow it).
DATAGRAM_CHARGE = 2048
BURST_RATE = 200_000

# A batch of lines and the sender's socket address (a tuple; empty or None for a Unix socket).
Sender = tuple | str | None
Handler = Callable[[list[bytes], Sender], None]


def shut_down(sock: socket.socket) -> None:
    """Shut the socket down: on Linux only this wakes a thread blocked reading it (close does not)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


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
    """One datagram is one packet of lines; the socket is drained in batches, each sender's lines applied
    in one call (in the order they came)."""

    def __init__(self, sock: socket.socket, handle: Handler, packets_metric: str) -> None:
        self._sock = sock
        self._closed = threading.Event()
        self._handle = handle
        self._counters = Counters()
        self._packets_metric = packets_metric
        self._thread = threading.Thread(target=self._receive, name=f"{packets_metric}-receive", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _receive(self) -> None:
        sock = self._sock
        reader = datagram_reader(sock)
        buffer = receive_buffer_bytes(sock)
        pause, drained_at = 0.0, time.monotonic()
        while not self._closed.is_set():
            batch: Batch = {}
            try:
                received, size = reader.read(batch, BATCH_DATAGRAMS, wait=True)  # sleeps until traffic comes
            except OSError:
                break
            if self._closed.is_set():
                break
            if pause:
                time.sleep(pause)
            received, size = _drain(reader, batch, received, size)
            now = time.monotonic()
            pause = gather_pause(received, size, now - drained_at, buffer)
            drained_at = now
            self._counters.add(self._packets_metric, received)
            for sender, packets in batch.items():
                self._handle(b"\n".join(packets).split(b"\n"), sender)

    def self_metrics(self) -> Values:
        return self._counters.self_metrics()

    def close(self) -> None:
        """Wake the reading thread (shutdown) and let it end before the descriptor is closed: it reads by
        descriptor number, which a socket opened later could reuse."""
        self._closed.set()
        shut_down(self._sock)
        if self._thread.is_alive():  # a failed start leaves later threads unstarted
            self._thread.join(timeout=2)
        self._sock.close()


def gather_pause(received: int, size: int, seconds: float, buffer: int) -> float:
    """How long to let datagrams gather before the next drain, from the last one: ``received`` datagrams of
    ``size`` bytes came in ``seconds``. No pause after a full batch (a backlog is drained at once); otherwise
    as long as it takes the same rate to bring half a batch, within MAX_GATHER_SECONDS and what the ``buffer``
    holds (a quarter of it at that rate, all of it at BURST_RATE)."""
    if received >= BATCH_DATAGRAMS or size >= BATCH_BYTES:
        return 0.0
    rate = received / max(seconds, 1e-6)  # datagrams per second
    held = buffer / (size / received + DATAGRAM_CHARGE)  # datagrams the buffer holds
    return min(MAX_GATHER_SECONDS, BATCH_DATAGRAMS / 2 / rate, held / max(4 * rate, BURST_RATE))


def _drain(reader: DatagramReader, batch: Batch, received: int, size: int) -> tuple[int, int]:
    """Add every datagram already waiting to ``batch`` (up to BATCH_DATAGRAMS in all, and past BATCH_BYTES
    by at most one read); returns the batch's datagrams and bytes."""
    while received < BATCH_DATAGRAMS and size < BATCH_BYTES:
        count, more = reader.read(batch, BATCH_DATAGRAMS - received, wait=False)
        if not count:
            break
        received += count
        size += more
    return received, size


def size_receive_buffer(sock: socket.socket, size: int, what: str) -> None:
    """Ask for a kernel receive buffer of ``size`` bytes (0: the system's default).

    SO_RCVBUFFORCE passes ``net.core.rmem_max`` where the process may (CAP_NET_ADMIN); otherwise the
    kernel caps the size silently, so a smaller buffer than asked is logged with the fix."""
    if not size:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    granted = receive_buffer_bytes(sock)
    if granted < size:
        log.warning(
            "The %s socket's receive buffer is %d bytes, not the %d asked by %s: the kernel caps it at "
            "net.core.rmem_max (raise that sysctl, or grant NET_ADMIN)",
            "UDP" if sock.family != socket.AF_UNIX else "Unixgram",
            granted,
            size,
            what,
        )


def receive_buffer_bytes(sock: socket.socket) -> int:
    """The receive buffer the kernel granted, as the size one asks for: Linux doubles a size set by
    setsockopt (half of it for its bookkeeping) and reports the doubled figure."""
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2


class UDPListener(DatagramListener):
    """The UDP socket, with what the kernel counts for it (read from /proc at a scrape)."""

    def __init__(self, sock: socket.socket, handle: Handler) -> None:
        super().__init__(sock, handle, "statsd_exporter_udp_packets_total")

    def self_metrics(self) -> Values:
        values = super().self_metrics()
        values[("airglow_bridge_udp_receive_buffer_bytes", ())] = float(receive_buffer_bytes(self._sock))
        drops = kernel_udp_drops(self._sock)
        if drops is not None:
            values[("airglow_bridge_udp_kernel_drops_total", ())] = float(drops)
        return values


class UnixgramListener(DatagramListener):
    """A Unixgram socket at ``path`` with the given mode; the path is removed on close."""

    def __init__(self, path: str, mode: int, read_buffer: int, handle: Handler) -> None:
        if os.path.exists(path):
            raise ListenError("--statsd.listen-unixgram", path, "a file already exists there")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            size_receive_buffer(sock, read_buffer, "--statsd.read-buffer")
            sock.bind(path)
            os.chmod(path, mode)
        except OSError as exc:
            sock.close()
            raise ListenError("--statsd.listen-unixgram", path, exc.strerror or str(exc)) from exc
        self._path = path
        super().__init__(sock, handle, "statsd_exporter_unixgram_packets_total")

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
        max_connections: int = 4096,
        idle_timeout: float = 300.0,
    ) -> None:
        self._sock = sock
        self._sock.listen(1024)
        self._sock.setblocking(False)
        self._handle = handle
        tcp = (("listener", "tcp"),)
        self._counters = Counters(
            (
                ("airglow_bridge_connections_refused_total", tcp),
                ("airglow_bridge_connections_timed_out_total", tcp),
            )
        )
        self._count = self._counters.add
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
                    self._read(key.data)
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
            state = _Connection(conn, address, time.monotonic())
            self._connections[conn] = state
            self._selector.register(conn, selectors.EVENT_READ, state)
            self._count("statsd_exporter_tcp_connections_total", 1)

    def _read(self, state: _Connection) -> None:
        conn = state.conn
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
        if lines and max(map(len, lines)) >= TCP_MAX_LINE:  # lengths checked in C, not a loop in Python
            index = next(index for index, line in enumerate(lines) if len(line) >= TCP_MAX_LINE)
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

    def self_metrics(self) -> Values:
        return self._counters.self_metrics()

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def close(self) -> None:
        self._closed.set()
        self._wake_write.send(b"x")
        if self._thread.is_alive():  # a failed start leaves later threads unstarted
            self._thread.join(timeout=5)
        self._selector.close()
        for sock in (self._sock, self._wake_read, self._wake_write):
            sock.close()


@dataclass
class _Connection:
    conn: socket.socket
    address: Sender
    last: float
    pending: bytes = b""


def _strip_cr(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line
