"""Reading datagrams many per system call (recvmmsg) gives what one recvfrom per datagram gives: the same
payloads, whole, in order, under the same sender addresses; and it reads no more than its slots hold."""

from __future__ import annotations

import ctypes
import errno
import logging
import signal
import socket
import threading
import time

import pytest

from airglow.bridge import datagram_reader as reader_module
from airglow.bridge.datagram_reader import (
    READ_SLOTS,
    RecvfromReader,
    RecvmmsgReader,
    datagram_reader,
)
from airglow.bridge.listeners import UDPListener

needs_recvmmsg = pytest.mark.skipif(
    reader_module._RECVMMSG is None, reason="recvmmsg is Linux's; elsewhere only recvfrom is used"
)

# (family the bridge binds, its address, family senders use, their address)
ENDPOINTS = {
    "ipv4": (socket.AF_INET, "127.0.0.1", socket.AF_INET, "127.0.0.1"),
    "ipv6": (socket.AF_INET6, "::1", socket.AF_INET6, "::1"),
    "dual-stack": (socket.AF_INET6, "::", socket.AF_INET, "127.0.0.1"),
}


def bound(family: int, host: str) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if host == "::":
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((host, 0))
    return sock


def read_everything(reader, expected: int) -> dict:
    """Every datagram, read without waiting until ``expected`` came (loopback delivery is synchronous, but a
    loaded machine may be slow to schedule): the batch, and the counts each read returned."""
    batch: dict = {}
    total, deadline = 0, time.monotonic() + 30
    while total < expected and time.monotonic() < deadline:
        count, _ = reader.read(batch, 10 * READ_SLOTS, wait=False)
        total += count
    return batch


def send_from(senders: list[socket.socket], target: tuple, payloads: list[bytes]) -> None:
    for index, payload in enumerate(payloads):
        senders[index % len(senders)].sendto(payload, target)


@needs_recvmmsg
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_both_readers_give_the_payloads_under_recvfroms_sender_addresses(endpoint: str) -> None:
    family, host, sender_family, sender_host = ENDPOINTS[endpoint]
    payloads = [f"airflow.ti.finish.dag{i}.task:1|c".encode() for i in range(100)]
    payloads += [b"", b"x" * 60_000]  # an empty datagram, and one larger than most
    with bound(family, host) as sock:
        target = (sender_host, sock.getsockname()[1])
        senders = [socket.socket(sender_family, socket.SOCK_DGRAM) for _ in range(3)]
        try:
            send_from(senders, target, payloads)
            # What Python's own recvfrom reports for each sender.
            expected: dict = {}
            for _ in payloads:
                packet, address = sock.recvfrom(65536)
                expected.setdefault(address, []).append(packet)
            send_from(senders, target, payloads)
            many = read_everything(RecvmmsgReader(sock, reader_module._RECVMMSG), len(payloads))
            send_from(senders, target, payloads)
            single = read_everything(RecvfromReader(sock), len(payloads))
        finally:
            for sender in senders:
                sender.close()
    assert len(expected) == 3
    assert many == expected
    assert single == expected


@needs_recvmmsg
def test_one_read_takes_at_most_its_slots_and_its_limit() -> None:
    with (
        bound(socket.AF_INET, "127.0.0.1") as sock,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        for index in range(3 * READ_SLOTS):
            sender.sendto(b"line:%d|c" % index, sock.getsockname())
        reader = datagram_reader(sock)
        batch: dict = {}
        assert reader.read(batch, 1000, wait=True)[0] == READ_SLOTS
        assert reader.read(batch, 5, wait=False)[0] == 5
        count, size = reader.read(batch, 1000, wait=False)
        assert count == READ_SLOTS
        (packets,) = batch.values()
        assert packets == [b"line:%d|c" % index for index in range(2 * READ_SLOTS + 5)]
        assert size == sum(map(len, packets[-READ_SLOTS:]))


def test_nothing_waiting_reads_nothing() -> None:
    with bound(socket.AF_INET, "127.0.0.1") as sock:
        for reader in (datagram_reader(sock), RecvfromReader(sock)):
            batch: dict = {}
            assert reader.read(batch, 100, wait=False) == (0, 0)
            assert batch == {}


def test_many_senders_beyond_the_address_table_keep_their_addresses(monkeypatch) -> None:
    """The table of decoded addresses starts over when full: later senders are still told apart."""
    monkeypatch.setattr(reader_module, "MAX_ADDRESSES", 2)
    with bound(socket.AF_INET, "127.0.0.1") as sock:
        senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(5)]
        try:
            for round_ in range(2):
                for index, sender in enumerate(senders):
                    sender.sendto(b"s%d:%d|c" % (index, round_), sock.getsockname())
            batch = read_everything(datagram_reader(sock), 10)
            expected = {
                ("127.0.0.1", sender.getsockname()[1]): [b"s%d:0|c" % index, b"s%d:1|c" % index]
                for index, sender in enumerate(senders)
            }
        finally:
            for sender in senders:
                sender.close()
    assert batch == expected


@needs_recvmmsg
def test_udp_reads_many_per_call_and_unix_sockets_one(tmp_path) -> None:
    with bound(socket.AF_INET, "127.0.0.1") as udp, socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unix:
        unix.bind(str(tmp_path / "statsd.sock"))
        assert isinstance(datagram_reader(udp), RecvmmsgReader)
        assert isinstance(datagram_reader(unix), RecvfromReader)


def test_closing_the_listener_ends_its_thread_before_the_descriptor_is_freed() -> None:
    """The reader reads by descriptor number: the listener's thread must be gone when the number is freed,
    or it could read a socket opened later under the same number."""
    sock = bound(socket.AF_INET, "127.0.0.1")
    received: list[bytes] = []
    listener = UDPListener(sock, lambda lines, sender: received.extend(lines))
    listener.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"before:1|c", sock.getsockname())
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
    listener.close()
    assert received == [b"before:1|c"]
    assert not any(thread.name.startswith("statsd_exporter_udp") for thread in threading.enumerate())
    assert sock.fileno() == -1


def test_a_refused_recvmmsg_falls_back_to_recvfrom(caplog) -> None:
    """A seccomp profile may refuse recvmmsg (EPERM or ENOSYS): UDP is then read one datagram per recvfrom,
    and said so, rather than not at all."""

    def refused(*_args) -> int:
        ctypes.set_errno(errno.EPERM)
        return -1

    with (
        bound(socket.AF_INET, "127.0.0.1") as sock,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        caplog.set_level(logging.INFO, logger="bridge.listeners")
        reader = datagram_reader(sock, refused)
        sender.sendto(b"still:1|c", sock.getsockname())
        batch: dict = {}
        assert reader.read(batch, 10, wait=True)[0] == 1
    assert isinstance(reader, RecvfromReader)
    assert list(batch.values()) == [[b"still:1|c"]]
    assert "recvmmsg is refused (Operation not permitted)" in caplog.text


@needs_recvmmsg
def test_a_signal_on_the_waiting_thread_does_not_end_its_wait() -> None:
    """A reload's SIGHUP may be delivered to the reading thread, interrupting recvmmsg (EINTR): the read
    goes on waiting and returns the datagram that comes next, never an empty read."""
    previous = signal.signal(signal.SIGUSR1, lambda *_: None)
    try:
        with (
            bound(socket.AF_INET, "127.0.0.1") as sock,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
        ):
            reader = datagram_reader(sock)
            batch: dict = {}
            result: list = []
            thread = threading.Thread(target=lambda: result.append(reader.read(batch, 10, wait=True)))
            thread.start()
            for _ in range(5):
                time.sleep(0.1)
                assert thread.ident is not None
                signal.pthread_kill(thread.ident, signal.SIGUSR1)
            assert thread.is_alive()  # still waiting after the signals
            sender.sendto(b"after:1|c", sock.getsockname())
            thread.join(timeout=30)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert result == [(1, len(b"after:1|c"))]
    assert list(batch.values()) == [[b"after:1|c"]]
