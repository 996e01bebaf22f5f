"""A Fluentd forward-protocol receiver for the tests (nothing real can be installed here, TEST_INFRA.md).

It speaks the Forward Protocol Specification v1 to the real ``fluent-logger``: msgpack over TCP; Message
``[tag, time, record, option?]``, Forward ``[tag, [[time, record], ...], option?]`` and PackedForward
``[tag, bytes-of-concatenated-entries, option?]`` (``compressed: "gzip"`` included) modes; time as an integer or
as EventTime (msgpack ext type 0: big-endian uint32 seconds, uint32 nanoseconds); an ``option.chunk`` is
answered with ``{"ack": chunk}`` once the events are stored.
"""

from __future__ import annotations

import gzip
import socket
import socketserver
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import msgpack

from support.common import free_port


@dataclass(frozen=True)
class ForwardEvent:
    tag: str
    time_ns: int
    record: dict[str, Any]


@dataclass
class Received:
    events: list[ForwardEvent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, events: list[ForwardEvent]) -> None:
        with self.lock:
            self.events.extend(events)

    def snapshot(self) -> list[ForwardEvent]:
        with self.lock:
            return list(self.events)


def _ext_hook(code: int, data: bytes) -> Any:
    if code == 0 and len(data) == 8:
        seconds, nanos = struct.unpack(">II", data)
        return seconds * 1_000_000_000 + nanos
    return msgpack.ExtType(code, data)


def _time_ns(value: Any) -> int:
    return value if isinstance(value, int) and value > 10**12 else int(value) * 1_000_000_000


def decode(message: list[Any]) -> tuple[list[ForwardEvent], dict[str, Any]]:
    """The events and options of one forward-protocol message, whatever its mode."""
    tag, entries = message[0], message[1]
    if isinstance(entries, (bytes, bytearray)):  # PackedForward / CompressedPackedForward
        option = message[2] if len(message) > 2 and isinstance(message[2], dict) else {}
        data = gzip.decompress(entries) if option.get("compressed") == "gzip" else entries
        unpacker = msgpack.Unpacker(raw=False, ext_hook=_ext_hook)
        unpacker.feed(data)
        return [ForwardEvent(tag, _time_ns(t), r) for t, r in unpacker], option
    if isinstance(entries, list):  # Forward
        option = message[2] if len(message) > 2 and isinstance(message[2], dict) else {}
        return [ForwardEvent(tag, _time_ns(t), r) for t, r in entries], option
    option = message[3] if len(message) > 3 and isinstance(message[3], dict) else {}  # Message
    return [ForwardEvent(tag, _time_ns(entries), message[2])], option


def _handler(received: Received) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            unpacker = msgpack.Unpacker(raw=False, ext_hook=_ext_hook)
            while data := self.request.recv(65536):
                unpacker.feed(data)
                for message in unpacker:
                    events, option = decode(message)
                    received.add(events)
                    if "chunk" in option:
                        self.request.sendall(msgpack.packb({"ack": option["chunk"]}))

    return Handler


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@dataclass
class ForwardReceiver:
    port: int
    received: Received


@contextmanager
def running_forward(port: int | None = None) -> Iterator[ForwardReceiver]:
    received = Received()
    server = _Server(("127.0.0.1", port or free_port()), _handler(received))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ForwardReceiver(server.server_address[1], received)
    finally:
        server.shutdown()
        server.server_close()


def refuse_connections(port: int) -> socket.socket:
    """A bound but not listening socket: connections to ``port`` are refused until it is closed."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", port))
    return holder
