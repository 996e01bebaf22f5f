"""Reading a datagram socket: many datagrams per system call where Linux offers ``recvmmsg``.

Airflow sends one line per UDP datagram, so a ``recvfrom`` per line made the Python call, the address
tuple and the system call's entry a per-line cost. ``recvmmsg`` (through ctypes: no compiled extension to
build) fills up to READ_SLOTS preallocated slots in one call, and a sender's address is decoded once, not
per datagram. Elsewhere (another OS, a Unix socket, no ``recvmmsg`` in the C library) the reader takes one
datagram per ``recvfrom``. Either reader returns the senders' addresses as ``socket.recvfrom`` does.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import mmap
import os
import socket
import sys
from typing import Any

# The largest datagram: a slot holds any UDP payload whole.
SLOT_BYTES = 65536
# Datagrams one recvmmsg call can take: their slots bound the reader's memory at 1 MiB.
READ_SLOTS = 16
# Senders whose decoded address is kept (a sender's address is decoded once, not per datagram): a few
# hundred bytes each, so a flood of source ports costs at most about 1 MiB.
MAX_ADDRESSES = 4096
_MSG_WAITFORONE = getattr(socket, "MSG_WAITFORONE", 0x10000)
_SOCKADDR_BYTES = {socket.AF_INET: 16, socket.AF_INET6: 28}  # sockaddr_in, sockaddr_in6

# The datagrams read so far by sender: a sender's address, as socket.recvfrom gives it, to its payloads.
Batch = dict[Any, list[bytes]]


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


class _Msghdr(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_void_p),
        ("namelen", ctypes.c_uint32),
        ("iov", ctypes.c_void_p),
        ("iovlen", ctypes.c_size_t),
        ("control", ctypes.c_void_p),
        ("controllen", ctypes.c_size_t),
        ("flags", ctypes.c_int),
    ]


class _Mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", _Msghdr), ("length", ctypes.c_uint)]


def _libc_recvmmsg():
    """The C library's recvmmsg, or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).recvmmsg
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    function.restype = ctypes.c_int
    return function


_RECVMMSG = _libc_recvmmsg()
log = logging.getLogger("bridge.listeners")


class RecvfromReader:
    """One datagram per system call: the portable reader."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def read(self, batch: Batch, limit: int, wait: bool) -> tuple[int, int]:
        """Add one datagram to ``batch``; returns (datagrams, bytes) read: (0, 0) when none is waiting and
        ``wait`` is false. Waiting, an OSError (the socket closed) is raised."""
        try:
            packet, sender = (
                self._sock.recvfrom(SLOT_BYTES)
                if wait
                else self._sock.recvfrom(SLOT_BYTES, socket.MSG_DONTWAIT)
            )
        except OSError:
            if wait:
                raise
            return 0, 0  # nothing waiting (BlockingIOError), or closing: the next waiting read tells
        _add(batch, sender, packet)
        return 1, len(packet)


class RecvmmsgReader:
    """Up to READ_SLOTS datagrams per system call, into preallocated slots (Linux, UDP)."""

    def __init__(self, sock: socket.socket, recvmmsg) -> None:
        self._sock = sock
        self._recvmmsg = recvmmsg
        self._family = sock.family
        self._name_bytes = _SOCKADDR_BYTES[sock.family]
        self._data = mmap.mmap(-1, READ_SLOTS * SLOT_BYTES)
        self._names = ctypes.create_string_buffer(READ_SLOTS * self._name_bytes)
        self._iovecs = (_Iovec * READ_SLOTS)()
        self._headers = (_Mmsghdr * READ_SLOTS)()
        data = ctypes.addressof(ctypes.c_char.from_buffer(self._data))
        names = ctypes.addressof(self._names)
        for slot in range(READ_SLOTS):
            self._iovecs[slot].base = data + slot * SLOT_BYTES
            self._iovecs[slot].length = SLOT_BYTES
            header = self._headers[slot].hdr
            header.name = names + slot * self._name_bytes
            header.namelen = self._name_bytes
            header.iov = ctypes.addressof(self._iovecs[slot])
            header.iovlen = 1
        # The kernel writes each header's name length and flags: they are reset from this copy per call.
        self._pristine = bytes(self._headers)
        self._headers_address = ctypes.addressof(self._headers)
        words = memoryview(self._headers).cast("B").cast("I")
        self._lengths = words[_Mmsghdr.length.offset // 4 :: ctypes.sizeof(_Mmsghdr) // 4]
        self._addresses: dict[bytes, tuple] = {}

    def read(self, batch: Batch, limit: int, wait: bool) -> tuple[int, int]:
        """Add up to ``limit`` (at most READ_SLOTS) datagrams to ``batch``; returns (datagrams, bytes) read.
        Waiting, the call sleeps until one datagram comes and takes what is queued with it; not waiting, it
        returns (0, 0) when none is. Waiting, an OSError (the socket closed) is raised."""
        flags = _MSG_WAITFORONE if wait else socket.MSG_DONTWAIT
        while True:
            fd = self._sock.fileno()
            if fd < 0:
                raise OSError(errno.EBADF, "the socket is closed")
            ctypes.memmove(self._headers, self._pristine, len(self._pristine))
            count = self._recvmmsg(fd, self._headers_address, min(limit, READ_SLOTS), flags, None)
            if count >= 0:
                return count, self._collect(batch, count)
            code = ctypes.get_errno()
            if not wait:
                return 0, 0
            if code != errno.EINTR:  # a signal (a reload's SIGHUP) may land on this thread: wait on
                raise OSError(code, os.strerror(code))

    def _collect(self, batch: Batch, count: int) -> int:
        """Copy the ``count`` datagrams received out of their slots into ``batch``; returns their bytes."""
        data, names, width = self._data, self._names.raw, self._name_bytes
        addresses = self._addresses
        size = 0
        for slot, length in enumerate(self._lengths[:count].tolist()):
            name = names[slot * width : (slot + 1) * width]
            sender = addresses.get(name)
            if sender is None:
                if len(addresses) >= MAX_ADDRESSES:
                    addresses.clear()
                sender = addresses[name] = socket_address(self._family, name)
            start = slot * SLOT_BYTES
            _add(batch, sender, data[start : start + length])
            size += length
        return size


def socket_address(family: int, name: bytes) -> tuple:
    """A sockaddr_in or sockaddr_in6 as socket.recvfrom returns it: (host, port), or (host, port, flowinfo,
    scope_id) for IPv6."""
    port = int.from_bytes(name[2:4], "big")
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, name[4:8]), port
    flowinfo = int.from_bytes(name[4:8], "big")
    return (
        socket.inet_ntop(socket.AF_INET6, name[8:24]),
        port,
        flowinfo,
        int.from_bytes(name[24:28], sys.byteorder),
    )


def _add(batch: Batch, sender, packet: bytes) -> None:
    packets = batch.get(sender)
    if packets is None:
        batch[sender] = [packet]
    else:
        packets.append(packet)


DatagramReader = RecvfromReader | RecvmmsgReader


def datagram_reader(sock: socket.socket, recvmmsg=_RECVMMSG) -> DatagramReader:
    """The reader for ``sock``: many datagrams per call for UDP where the C library has recvmmsg and the
    kernel lets the process call it (a seccomp profile may refuse it: then one datagram per recvfrom)."""
    if recvmmsg is None or sock.family not in _SOCKADDR_BYTES:
        return RecvfromReader(sock)
    if recvmmsg(sock.fileno(), None, 0, socket.MSG_DONTWAIT, None) != 0:  # asks for no datagram: reads none
        code = ctypes.get_errno()
        log.info("recvmmsg is refused (%s): reading one UDP datagram per recvfrom", os.strerror(code))
        return RecvfromReader(sock)
    return RecvmmsgReader(sock, recvmmsg)
