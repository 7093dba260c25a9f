"""Small socket helpers shared by the cookbook's examples.

Standard library only, Python 3.9 or newer. Copy this file next to any
example that imports it. Nothing here asserts or crashes where the platform
lacks something (no /proc on macOS or Windows, no SO_REUSEPORT on Windows):
the helpers return None or False instead.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("net")

MAX_WAIT = 3600.0  # seconds: the longest wait any option may ask for

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
    try:
        if option is None:  # Windows has none
            raise OSError("not defined on this system")
        sock.setsockopt(socket.SOL_SOCKET, option, 1)
    except OSError as exc:
        log.warning("SO_REUSEPORT is not available here: %s", exc)
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
        if option is not None:  # Windows has no SO_REUSEPORT
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


def parser(
    description: str | None, server: bool = False
) -> argparse.ArgumentParser:
    """An argument parser with the options every example takes.

    --host, --port and -v/--verbose, with their defaults in --help; a
    server's --port may be 0, for any free port. The description (the
    example's docstring) is shown as written.
    """
    new = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    new.add_argument(
        "--host",
        default="127.0.0.1",
        help=("address to listen on" if server else "server address")
        + " (default: %(default)s)",
    )
    lowest = 0 if server else 1
    new.add_argument(
        "--port",
        type=lambda text: bounded_int(text, lowest, 65_535),
        default=8888,
        help=("port to listen on, 0 for any free one" if server else "port")
        + " (default: %(default)s)",
    )
    new.add_argument(
        "-v", "--verbose", action="store_true", help="log on stderr"
    )
    return new


def add_buffer_options(parser: argparse.ArgumentParser) -> None:
    """Add --recv-bufsize and --send-bufsize: see set_buffer_sizes()."""
    for option, name in (
        ("--recv-bufsize", "SO_RCVBUF"),
        ("--send-bufsize", "SO_SNDBUF"),
    ):
        parser.add_argument(
            option,
            type=lambda text: bounded_int(text, 1, 2**31 - 1),
            metavar="BYTES",
            help=f"{name} to ask for (default: the system's)",
        )


def bounded_int(text: str, lowest: int, highest: int) -> int:
    """Parse a whole number from lowest to highest, for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not lowest <= value <= highest:
        raise argparse.ArgumentTypeError(
            f"must be from {lowest} to {highest}, not {text}"
        )
    return value


def seconds(text: str) -> float:
    """Parse a wait for argparse: more than 0 and at most MAX_WAIT seconds.

    float() accepts "inf" and "nan"; a wait must end, so both are refused.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= MAX_WAIT:  # false for nan too
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {MAX_WAIT:g} seconds, not {text}"
        )
    return value


def message_bytes(arg: str) -> bytes:
    """The bytes of a message argument, exactly as the user typed them.

    Python decodes the command line with the file system encoding; fsencode
    undoes that, so even bytes that are not UTF-8 reach the wire unchanged.
    "-" means: read the message from standard input, to its end.
    """
    if arg == "-":
        return sys.stdin.buffer.read()
    return os.fsencode(arg)
