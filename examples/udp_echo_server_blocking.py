"""UDP echo server, blocking: a recvfrom()/sendto() loop on a plain socket.

Shows the UDP server every tutorial starts with, made safe: one socket,
configured and then bound, and a loop that waits in recvfrom_into() for
the next datagram and sends it back to exactly where it came from, empty
ones included. No threads and no event loop: one datagram at a time, as
fast as the two system calls go. It prints "listening on HOST:PORT" once
bound (--port 0 takes any free port); Ctrl+C (SIGINT) or SIGTERM stops it
with a one-line summary.

    python examples/udp_echo_server_blocking.py
    python examples/udp_echo_server_blocking.py --port 0 -v
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from dataclasses import dataclass

import net

log = logging.getLogger("udp_server")

# --8<-- [start:lesson]
# Source ports of the small datagram services (echo, discard, daytime, qotd,
# chargen, time) and port 0. Answering one of them could start an endless
# loop with another echo service, so, as inetd does, ignore them.
SERVICE_PORTS = frozenset({0, 7, 9, 13, 17, 19, 37})


@dataclass
class Counted:
    """What the server counted: echoed datagrams and bytes, ignored ones."""

    datagrams: int = 0
    bytes: int = 0
    ignored: int = 0


class Stop:
    """The handler of SIGINT and SIGTERM. A handler that raises can break
    into any line, between a send and its count say; this one raises only
    while serve() waits, and otherwise lets the datagram in hand finish."""

    def __init__(self) -> None:
        self.asked = False
        self.waiting = False

    def __call__(self, signum: int, frame: object) -> None:
        self.asked = True
        if self.waiting:
            raise KeyboardInterrupt  # leaves recvfrom_into()


def serve(sock: socket.socket) -> Counted:
    """Echo datagrams on sock until SIGINT or SIGTERM; return the counts."""
    stop = Stop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)  # before "listening" (1)
    counts = Counted()
    verbose = log.isEnabledFor(logging.INFO)  # looked up once, not per echo
    buffer = bytearray(65_535)  # the largest datagram; reused for each
    view = memoryview(buffer)
    try:
        print(f"listening on {net.format_address(sock.getsockname())}",
              flush=True)  # fmt: skip
        while True:
            stop.waiting = True  # first, then look: no signal is missed
            if stop.asked:
                break
            size, addr = sock.recvfrom_into(buffer)  # waits for one (2)
            stop.waiting = False
            if addr[1] in SERVICE_PORTS:
                counts.ignored += 1
                log.info(
                    "%s: ignored: a service port", net.format_address(addr)
                )
                continue
            try:
                sock.sendto(view[:size], addr)  # to exactly the sender (3)
            except OSError as exc:  # the send buffer is full, ...
                peer = net.format_address(addr)
                log.warning("%s: reply of %d bytes lost: %s", peer, size, exc)
                continue
            counts.datagrams += 1
            counts.bytes += size
            if verbose:
                peer = net.format_address(addr)
                log.info("%s: echoed %d bytes", peer, size)
    except KeyboardInterrupt:  # a signal, while waiting
        pass
    return counts


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
        sock.bind(address)  # after every option is set (4)
    except OSError:
        sock.close()
        raise
    return sock


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, exits=EXITS, server=True)
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
        counts = serve(sock)
    print(stopped(counts))
    return 0


def stopped(counts: Counted) -> str:
    """The summary line a server prints when it stops."""
    count = counts.datagrams
    return (
        f"stopped: echoed {count} datagram{'' if count == 1 else 's'}, "
        f"{counts.bytes} bytes; ignored {counts.ignored}"
    )


if __name__ == "__main__":
    sys.exit(main())
