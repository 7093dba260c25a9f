"""UDP echo client, blocking: send one datagram, wait for its echo.

Shows the plain-socket UDP client, made so that it never waits forever:
the socket is connected (the kernel then reports a refused port and drops
other senders' datagrams) and settimeout() bounds each wait. With no echo
within --timeout it sends again, up to --retries times, each wait twice
the last (at most 8 x --timeout). Start an echo server, then:

    python examples/udp_echo_client_blocking.py
    python examples/udp_echo_client_blocking.py --port 9999 -v "Hi there"
    head -c 1000 /dev/urandom | python examples/udp_echo_client_blocking.py -
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import time

import net

log = logging.getLogger("udp_client")

# --8<-- [start:lesson]
MAX_PAYLOAD = 65_507  # 65,535 less 20 bytes of IPv4 and 8 of UDP header
MAX_BACKOFF = 8  # the longest wait, in multiples of --timeout
MAX_RETRIES = 20


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
        sock.connect(address)  # sends nothing; fixes the peer (1)
    except OSError:
        sock.close()
        raise
    return sock


def echo(
    sock: socket.socket, message: bytes, timeout: float, retries: int
) -> tuple[int, float]:
    """Send until the echo comes back; return (attempts, seconds taken)."""
    start = time.monotonic()
    for attempt in range(1, retries + 2):
        sock.send(message)
        wait = timeout * min(2 ** (attempt - 1), MAX_BACKOFF)
        deadline = time.monotonic() + wait
        # Until the echo, or this attempt's time is up: checked before each
        # read, so that stray datagrams that keep coming cannot hold it.
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, addr = sock.recvfrom(65_535)  # refused: raises (2)
            except socket.timeout:  # TimeoutError from Python 3.10
                break
            if data == message:
                return attempt, time.monotonic() - start
            # A duplicate echo, or not an echo of our message at all (3)
            peer = net.format_address(addr)
            log.info("ignored %d bytes from %s", len(data), peer)
        log.info("attempt %d: no echo within %.3g s", attempt, wait)
    seconds = time.monotonic() - start
    raise TimeoutError(
        f"no echo after {plural(attempt, 'attempt')} in {seconds:.1f} s"
    )


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 echo received, 1 network failure, 2 bad usage, 130
interrupted (Ctrl+C)."""


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
            attempts, seconds = echo(
                sock, args.data, args.timeout, args.retries
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
