"""UDP echo server with asyncio: send every datagram back to its sender.

Shows a DatagramProtocol serving a socket this program creates, configures
and binds itself, then hands to loop.create_datagram_endpoint(sock=...).
It prints "listening on HOST:PORT" once bound (--port 0 takes any free
port); Ctrl+C (SIGINT) or SIGTERM stops it with a one-line summary.

    python examples/udp_echo_server_asyncio.py
    python examples/udp_echo_server_asyncio.py --port 0 -v
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
from typing import Any, cast

import net

log = logging.getLogger("udp_server")

# --8<-- [start:lesson]
# Source ports of the small datagram services (echo, discard, daytime, qotd,
# chargen, time) and port 0. Answering one of them could start an endless
# loop with another echo service, so, as inetd does, ignore them.
SERVICE_PORTS = frozenset({0, 7, 9, 13, 17, 19, 37})


class EchoServerProtocol(asyncio.DatagramProtocol):
    """Echoes each datagram to its sender and counts what it did."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock  # for empty datagrams: see net.send_datagram
        self.datagrams = 0
        self.bytes = 0
        self.ignored = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        peer = net.format_address(addr)
        if addr[1] in SERVICE_PORTS:
            self.ignored += 1
            log.info("%s: ignored: a service port", peer)
            return
        # The reply goes to exactly the address the datagram came from. (1)
        try:
            net.send_datagram(self.transport, self.sock, data, addr)
        except OSError as exc:  # the socket's send buffer is full, ...
            log.warning("%s: reply of %d bytes lost: %s", peer, len(data), exc)
            return
        self.datagrams += 1
        self.bytes += len(data)
        log.info("%s: echoed %d bytes", peer, len(data))

    def error_received(self, exc: Exception) -> None:
        # A failed send (say, EMSGSIZE); an unconnected socket hears of
        # ICMP errors only with IP_RECVERR. Serving goes on.
        log.warning("socket error: %s", exc)


async def serve(sock: socket.socket) -> EchoServerProtocol:
    """Echo datagrams on sock until SIGINT or SIGTERM; return the protocol."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)  # before "listening" (2)
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: EchoServerProtocol(sock), sock=sock
    )
    # Flushed at once: whoever started the server may be waiting for it. (3)
    print(f"listening on {net.format_address(sock.getsockname())}", flush=True)
    try:
        await stop.wait()
    finally:
        transport.close()
    return protocol


def open_socket(
    host: str,
    port: int,
    recv: int | None,
    send: int | None,
    reuse_port: bool,
) -> socket.socket:
    """Return a UDP socket bound to host:port, options set before bind."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        net.set_buffer_sizes(sock, recv, send)
        if reuse_port:
            net.reuse_port(sock)  # logs a warning where there is none
        # No SO_REUSEADDR: on UDP it would let another process bind this
        # port too and take a share of its datagrams.
        sock.bind(address)  # after every option is set
    except OSError:
        sock.close()
        raise
    return sock


# --8<-- [end:lesson]
EXITS = "Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage."


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, server=True, exits=EXITS)
    net.add_buffer_options(parser)
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="set SO_REUSEPORT: several servers may share the port",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    try:
        sock = open_socket(
            args.host,
            args.port,
            args.recv_bufsize,
            args.send_bufsize,
            args.reuse_port,
        )
    except OSError as exc:  # address in use, not an address here, ...
        where = net.format_address((args.host, args.port))
        print(
            f"error: cannot listen on {where}: {exc.strerror}", file=sys.stderr
        )
        return 1
    with sock:
        log.info("%s", net.describe(sock))
        if net.reachable_from_elsewhere(sock):
            log.warning(
                "%s is reachable from other machines: anyone there can make "
                "this server send datagrams",
                net.format_address(sock.getsockname()),
            )
        counts = asyncio.run(serve(sock))
    count = counts.datagrams
    print(
        f"stopped: echoed {count} datagram{'' if count == 1 else 's'}, "
        f"{counts.bytes} bytes; ignored {counts.ignored}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
