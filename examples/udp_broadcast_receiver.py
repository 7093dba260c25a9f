"""UDP broadcast receiver: hear what is sent to every host, answer each.

Shows the receiving end of IPv4 broadcast: a socket bound to a broadcast
address (by default loopback's, 127.255.255.255) with SO_REUSEADDR, so
that several receivers on one machine each get a copy. Each datagram is
printed and answered with --name: discovery on a LAN ("who is there?").
It stops with a summary on Ctrl+C or SIGTERM, or after --timeout quiet.

    python examples/udp_broadcast_receiver.py --name one
    python examples/udp_broadcast_receiver.py --name two --timeout 600
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys

import net

log = logging.getLogger("udp_receiver")

# --8<-- [start:lesson]


def open_socket(host: str, port: int) -> socket.socket:
    """A UDP socket bound to host:port, which others may bind too."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # Every socket bound to the port with SO_REUSEADDR gets a copy of
        # each broadcast (and multicast) datagram; a unicast one goes to
        # one of them only. (1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def serve(
    sock: socket.socket, name: bytes, timeout: float
) -> tuple[int, bool]:
    """Print and answer datagrams until a signal, or until none has come
    for timeout seconds; return how many were heard, and whether it was
    the timeout that ended it."""
    stop = Stop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    sock.settimeout(timeout)  # the longest wait for the next datagram
    heard, idle = 0, False
    try:
        print(f"listening on {net.format_address(sock.getsockname())}",
              flush=True)  # fmt: skip
        while True:
            stop.waiting = True
            if stop.asked:
                break
            data, addr = sock.recvfrom(65_535)
            stop.waiting = False
            heard += 1
            peer = net.format_address(addr)
            print(f"from {peer}: {net.shorten(data)}", flush=True)
            try:
                sock.sendto(name, addr)  # to the sender alone: unicast
            except OSError as exc:
                log.warning("%s: answer lost: %s", peer, net.reason(exc))
    except socket.timeout:  # TimeoutError from Python 3.10
        idle = True
    except KeyboardInterrupt:  # a signal, while waiting
        pass
    return heard, idle


# --8<-- [end:lesson]
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


EXITS = """\
Exit status: 0 stopped, by a signal or when idle; 1 cannot listen, or
heard nothing at all within --timeout; 2 bad usage."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, server=True, exits=EXITS)
    parser.set_defaults(host="127.255.255.255")
    parser.add_argument(
        "--name",
        default=f"receiver-{os.getpid()}",
        help="what to answer with (default: receiver-PID)",
    )
    net.add_timeout(
        parser,
        60.0,
        "stop once nothing has come for this long (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    try:
        sock = open_socket(args.host, args.port)
    except OSError as exc:  # not an address here, no such name, ...
        where = net.format_address((args.host, args.port))
        return net.fail(f"cannot listen on {where}: {net.reason(exc)}")
    with sock:
        where = net.format_address(sock.getsockname())  # with --port 0 too
        heard, idle = serve(sock, os.fsencode(args.name), args.timeout)
    if idle and not heard:
        return net.fail(f"nothing heard on {where} for {args.timeout:g} s")
    why = f"nothing for {args.timeout:g} s" if idle else "stopped"
    print(f"{why}: heard {heard} datagram{'' if heard == 1 else 's'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
