"""Network addresses: Go's ``host:port`` flags, the dual-stack bind every listener uses, a peer's IP."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from airglow.bridge.errors import ConfigError, ListenError


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(value: str, flag: str) -> Address:
    """Go's ``host:port`` with an optional host (``:9125``) and bracketed IPv6 (``[::1]:9125``)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(flag, 0, f"invalid address {value!r}: want host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return Address(host, int(port))


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


def sender_ip(address) -> str | None:
    """The IP of a socket peer; IPv4 senders on a dual-stack socket arrive as ::ffff:a.b.c.d."""
    if not isinstance(address, tuple):
        return None
    host = address[0]
    return host[7:] if host.startswith("::ffff:") else host
