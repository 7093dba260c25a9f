"""UDP echo server with asyncio: send every datagram back to its sender.

Shows a DatagramProtocol serving a socket this program creates, configures
and binds itself, then hands to loop.create_datagram_endpoint(sock=...).
It prints "listening on HOST:PORT" once bound (--port 0 takes any free
port); Ctrl+C (SIGINT) or SIGTERM stops it with a one-line summary.

The options, the socket and its safe defaults, and the summary are the
blocking server's (udp_echo_server_blocking.py, which this imports: copy
both and net.py).

    python examples/udp_echo_server_asyncio.py
    python examples/udp_echo_server_asyncio.py --port 0 -v

Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from typing import Any, cast

import net
from udp_echo_server_blocking import SERVICE_PORTS
from udp_echo_server_blocking import main as run_server

log = logging.getLogger("udp_server")


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


def main(argv: list[str] | None = None) -> int:
    return run_server(argv, lambda sock: asyncio.run(serve(sock)), __doc__)


if __name__ == "__main__":
    sys.exit(main())
