"""Small socket helpers shared by the cookbook's examples.

Standard library only, Python 3.9 or newer. Copy this file next to any
example that imports it. Nothing here asserts or crashes where the platform
lacks something (no /proc on macOS or Windows, no SO_REUSEPORT on Windows):
the helpers return None or False instead.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import Any

log = logging.getLogger("net")

# Linux caps SO_RCVBUF and SO_SNDBUF requests at these sysctls; other
# systems have no such files.
_MAX_FILES = {
    socket.SO_RCVBUF: Path("/proc/sys/net/core/rmem_max"),
    socket.SO_SNDBUF: Path("/proc/sys/net/core/wmem_max"),
}


def format_address(address: Any) -> str:
    """Return "host:port", or "[host]:port" for an IPv6 address."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def max_buffer_size(option: int) -> int | None:
    """Return the system's cap for SO_RCVBUF or SO_SNDBUF, None if unknown."""
    try:
        return int(_MAX_FILES[option].read_text())
    except (KeyError, OSError, ValueError):
        return None


def set_buffer_sizes(
    sock: socket.socket,
    recv: int | None = None,
    send: int | None = None,
) -> tuple[int, int]:
    """Ask for receive and send buffer sizes; return what the kernel gave.

    Call it before the socket carries traffic. Linux doubles the value it is
    given (the extra room is for its own bookkeeping) after capping it at
    net.core.rmem_max or wmem_max, so the result is rarely the request.
    """
    for option, size in ((socket.SO_RCVBUF, recv), (socket.SO_SNDBUF, send)):
        if size is None:
            continue
        sock.setsockopt(socket.SOL_SOCKET, option, size)
        got = sock.getsockopt(socket.SOL_SOCKET, option)
        name = "SO_RCVBUF" if option == socket.SO_RCVBUF else "SO_SNDBUF"
        log.info(
            "%s: asked for %d, the kernel gave %d (Linux doubles the "
            "request after capping it at the system maximum, %s)",
            name,
            size,
            got,
            max_buffer_size(option) or "unknown here",
        )
    return buffer_sizes(sock)


def buffer_sizes(sock: socket.socket) -> tuple[int, int]:
    """Return the socket's (receive, send) buffer sizes in bytes."""
    return (
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
    )


def reuse_port(sock: socket.socket) -> bool:
    """Set SO_REUSEPORT before bind(); return False where there is none.

    Several sockets of the same user may then bind one address and the
    kernel spreads incoming datagrams across them. Unlike SO_REUSEADDR on a
    UDP socket, it does not let another user's process take the port.
    """
    option = getattr(socket, "SO_REUSEPORT", None)
    if option is None:  # pragma: no cover - Windows has no SO_REUSEPORT
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, option, 1)
    except OSError:  # pragma: no cover - defined, but refused by the kernel
        return False
    return True


def describe(sock: socket.socket) -> str:
    """Return one line of facts about a socket, for logs."""
    kind = {socket.SOCK_DGRAM: "UDP", socket.SOCK_STREAM: "TCP"}.get(
        sock.type, str(sock.type)
    )
    where = format_address(sock.getsockname())
    try:
        where += " -> " + format_address(sock.getpeername())
    except OSError:  # not connected
        pass
    recv, send = buffer_sizes(sock)
    options = [f"SO_RCVBUF={recv}", f"SO_SNDBUF={send}"]
    for name in ("SO_REUSEADDR", "SO_REUSEPORT"):
        option = getattr(socket, name, None)
        # pragma below: only Windows lacks one of these options.
        if option is not None:  # pragma: no branch
            value = sock.getsockopt(socket.SOL_SOCKET, option)
            options.append(f"{name}={value}")
    return f"{kind} {where} " + " ".join(options)


def send_datagram(
    transport: asyncio.DatagramTransport,
    sock: socket.socket,
    data: bytes,
    addr: Any = None,
) -> None:
    """Send one datagram through an asyncio transport, empty ones included.

    Before Python 3.13, transport.sendto(b"") silently sends nothing, so an
    empty datagram goes straight to the socket. Errors on that path are
    raised here; on the transport's path they go to error_received().
    """
    if data:
        transport.sendto(data, addr)
    elif addr is None:
        sock.send(data)
    else:
        sock.sendto(data, addr)
