"""UDP echo client with asyncio: send one datagram, wait for its echo.

Shows asyncio's datagram API (a DatagramProtocol and
loop.create_datagram_endpoint) on a socket this program makes and connects
itself, buffer sizes set first. No echo within --timeout: the datagram is
sent again, up to --retries times, each wait twice the last (at most 8
times --timeout); a refused port ends the wait at once. Start an echo
server, then:

    python examples/udp_echo_client_asyncio.py
    python examples/udp_echo_client_asyncio.py --port 9999 -v "Hi there"
    head -c 1000 /dev/urandom | python examples/udp_echo_client_asyncio.py -
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from typing import Any

import net

log = logging.getLogger("udp_client")

# --8<-- [start:lesson]
MAX_BACKOFF = 8  # the longest wait, in multiples of --timeout


class EchoClientProtocol(asyncio.DatagramProtocol):
    """Settles self.reply with the echo, or with the first socket error."""

    def __init__(self, message: bytes) -> None:
        self.message = message
        self.reply: asyncio.Future[bytes] = (
            asyncio.get_running_loop().create_future()
        )

    def datagram_received(self, data: bytes, addr: Any) -> None:
        # Only the first exact echo is the answer. (1)
        if data == self.message and not self.reply.done():
            self.reply.set_result(data)
        else:  # a duplicate echo, or not an echo of our message at all
            peer = net.format_address(addr)
            log.info("ignored %d bytes from %s", len(data), peer)

    def error_received(self, exc: Exception) -> None:
        # On a connected socket an ICMP "port unreachable" arrives here as
        # ConnectionRefusedError: nobody is listening, so stop waiting. An
        # error that comes after the echo is too late to matter.
        if not self.reply.done():
            self.reply.set_exception(exc)


async def echo(
    sock: socket.socket, message: bytes, timeout: float, retries: int
) -> tuple[int, float]:
    """Send until the echo comes back; return (attempts, seconds taken)."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: EchoClientProtocol(message),
        sock=sock,  # our socket (2)
    )
    start = loop.time()
    try:
        for attempt in range(1, retries + 2):
            net.send_datagram(transport, sock, message)
            wait = timeout * min(2 ** (attempt - 1), MAX_BACKOFF)
            # wait(), unlike wait_for(), leaves the future alone. (3)
            done, _ = await asyncio.wait([protocol.reply], timeout=wait)
            if done:
                protocol.reply.result()  # raises the socket error, if any
                return attempt, loop.time() - start
            log.info("attempt %d: no echo within %.3g s", attempt, wait)
        seconds = loop.time() - start
        raise TimeoutError(
            f"no echo after {plural(attempt, 'attempt')} in {seconds:.1f} s"
        )
    finally:
        transport.close()


def open_socket(
    host: str, port: int, recv: int | None, send: int | None
) -> socket.socket:
    """Return a UDP socket connected to host:port, buffers already set."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_DGRAM
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        net.set_buffer_sizes(sock, recv, send)
        sock.connect(address)  # sends nothing; fixes the peer
    except OSError:
        sock.close()
        raise
    return sock


# --8<-- [end:lesson]
MAX_PAYLOAD = 65_507  # 65,535 less 20 bytes of IPv4 and 8 of UDP header
MAX_RETRIES = 20
EXITS = """\
Exit status: 0 echo received, 1 network failure, 2 bad usage, 130
interrupted (Ctrl+C)."""


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, exits=EXITS)
    net.add_message(parser, "Hello, datagram!")
    net.add_timeout(
        parser,
        1.0,
        "seconds to wait for the first echo; each retry waits "
        "twice as long, up to 8 times this (default: %(default)s)",
    )
    parser.add_argument(
        "--retries",
        type=lambda text: net.bounded_int(text, 0, MAX_RETRIES),
        default=3,
        metavar="N",
        help=f"resends after the first try, 0 to {MAX_RETRIES} "
        "(default: %(default)s)",
    )
    net.add_buffer_options(parser)
    args = parser.parse_args(argv)
    args.data = net.message_bytes(args.message)
    if len(args.data) > MAX_PAYLOAD:
        parser.error(f"message is {len(args.data)} bytes, over {MAX_PAYLOAD}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    peer = net.format_address((args.host, args.port))
    try:
        with open_socket(
            args.host, args.port, args.recv_bufsize, args.send_bufsize
        ) as sock:
            peer = net.format_address(sock.getpeername())
            log.info("%s", net.describe(sock))
            attempts, seconds = asyncio.run(
                echo(sock, args.data, args.timeout, args.retries)
            )
    except (KeyboardInterrupt, OSError) as exc:  # refused, no echo, ...
        return net.failed(exc, args.host, peer)
    shown = net.shorten(args.data)
    print(f"sent {len(args.data)} bytes to {peer}: {shown}")
    print(
        f"received {len(args.data)} bytes in {seconds * 1000:.1f} ms "
        f"({plural(attempts, 'attempt')}): {shown}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
