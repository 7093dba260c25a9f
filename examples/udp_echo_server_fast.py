"""A fast UDP echo server on asyncio: drain the socket on each wake-up.

Shows how to make an asyncio UDP server run at the speed of a plain
recvfrom/sendto loop. asyncio's datagram transport reads one datagram per
event-loop turn into a fresh 256 KiB buffer. Here loop.add_reader() calls
drain() when the socket is readable, and drain() reads every waiting
datagram into one reused buffer with recvfrom_into() until the socket is
empty (BlockingIOError), replying to each with sendto().

    python examples/udp_echo_server_fast.py
    python examples/udp_echo_server_fast.py --port 0 -v
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys

import net

log = logging.getLogger("udp_server")

# --8<-- [start:lesson]
# Source ports of the small datagram services (echo, discard, daytime, qotd,
# chargen, time) and port 0. Answering one of them could start an endless
# loop with another echo service, so, as inetd does, ignore them.
SERVICE_PORTS = frozenset({0, 7, 9, 13, 17, 19, 37})
BATCH = 256  # datagrams per wake-up at most, so signals still get a turn


class Drainer:
    """Echoes what drain() reads and counts what it did."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray(65_535)  # reused: no allocation per read
        self.view = memoryview(self.buffer)
        self.datagrams = 0
        self.bytes = 0
        self.ignored = 0
        self.unsent = 0

    def drain(self) -> None:
        # Per datagram, only the two system calls and a few local
        # operations: attribute look-ups and counts are hoisted out of the
        # loop, since at 100,000 datagrams a second they add up.
        recvfrom_into, sendto = self.sock.recvfrom_into, self.sock.sendto
        buffer, view = self.buffer, self.view
        verbose = log.isEnabledFor(logging.INFO)
        echoed = echoed_bytes = unsent = 0
        try:
            for _ in range(BATCH):
                try:
                    size, addr = recvfrom_into(buffer)
                except BlockingIOError:  # nothing left until the next call
                    return
                if addr[1] in SERVICE_PORTS:  # a reply could loop
                    self.ignored += 1
                    peer = net.format_address(addr)
                    log.info("%s: ignored: a service port", peer)
                    continue
                try:
                    sendto(view[:size], addr)
                except BlockingIOError:
                    # The send buffer is full. Waiting would stall every
                    # other client, and a queue would grow without bound:
                    # drop the reply, as a full network would, and count it.
                    unsent += 1
                    continue
                except OSError as exc:
                    peer = net.format_address(addr)
                    log.warning("%s: reply lost: %s", peer, exc)
                    continue
                echoed += 1
                echoed_bytes += size
                if verbose:
                    peer = net.format_address(addr)
                    log.info("%s: echoed %d bytes", peer, size)
        finally:
            self.datagrams += echoed
            self.bytes += echoed_bytes
            if unsent:
                self.unsent += unsent
                log.warning("send buffer full: replies dropped: %d", unsent)


async def serve(sock: socket.socket) -> Drainer:
    """Echo datagrams on sock until SIGINT or SIGTERM; return the counts."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    drainer = Drainer(sock)
    sock.setblocking(False)
    loop.add_reader(sock.fileno(), drainer.drain)
    print(f"listening on {net.format_address(sock.getsockname())}", flush=True)
    try:
        await stop.wait()
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
    return drainer


# --8<-- [end:lesson]
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
