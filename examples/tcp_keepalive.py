"""Keepalive and TCP_USER_TIMEOUT: noticing a peer that is gone.

Shows a client that holds a TCP connection open and notices when the
server vanishes without a FIN or a RST (power lost, cable pulled, a NAT
that forgot the connection). While the connection is idle, SO_KEEPALIVE
probes it after --idle seconds, then every --interval seconds, and gives
up after --count unanswered probes. While data it sent waits for an
acknowledgement, TCP_USER_TIMEOUT bounds the wait. It prints what the
server sends, and when and why it gave up.

    python examples/tcp_keepalive.py --idle 5 --interval 1 --count 3
    python examples/tcp_keepalive.py --every 1 ping
"""

from __future__ import annotations

import argparse
import errno
import functools
import logging
import math
import select
import socket
import sys
import time

import net

log = logging.getLogger("tcp_keepalive")


# --8<-- [start:lesson]
def keep_alive(
    sock: socket.socket,
    idle: int,
    interval: int,
    count: int,
    user_timeout: float,
) -> list[str]:
    """Probe sock's connection after idle seconds without a packet from
    the peer, then every interval seconds; give up after count probes
    unanswered, or once sent data has waited user_timeout seconds for its
    acknowledgement. Return the options this platform does not have."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    missing = []
    for name, value in [
        ("TCP_KEEPIDLE", idle),  # seconds; macOS names it TCP_KEEPALIVE
        ("TCP_KEEPINTVL", interval),  # seconds
        ("TCP_KEEPCNT", count),  # probes
        ("TCP_USER_TIMEOUT", round(user_timeout * 1000)),  # ms; Linux only
    ]:
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
        else:
            missing.append(name)
    return missing


class Gone(Exception):
    """The kernel gave up on the connection: the peer is gone."""


def hold(
    sock: socket.socket, message: bytes, every: float, duration: float
) -> str:
    """Print what the peer sends for up to duration seconds, and send it
    message every `every` seconds (0: never). Say how it ended; raise Gone
    when the kernel gives up on the peer."""
    start = heard = time.monotonic()
    next_send = start if every else math.inf
    while (now := time.monotonic()) < start + duration:
        try:
            if now >= next_send:
                sock.sendall(message)
                next_send = now + every
            wait = min(next_send, start + duration) - now
            if not select.select([sock], [], [], wait)[0]:
                continue  # time to send, or to stop
            data = sock.recv(65_536)
        except OSError as exc:
            if exc.errno != errno.ETIMEDOUT:  # reset, or not the kernel
                raise
            why = ("data unacknowledged" if every else
                   "keepalive probes unanswered")  # fmt: skip
            silent = time.monotonic() - heard
            raise Gone(f"{why}, nothing heard for {silent:.1f} s") from None
        if not data:
            took = time.monotonic() - start
            return f"the server closed the connection after {took:.1f} s"
        heard = time.monotonic()
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return f"still connected after {duration:g} s"


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 the server closed the connection, or --duration passed; 1
the connection failed or the peer is gone; 2 bad usage; 130 interrupted
(Ctrl+C)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, exits=EXITS)
    parser.add_argument(
        "message",
        nargs="?",
        default="ping\n",
        help='what --every sends, as typed; "-" reads it from stdin '
        "(default: %(default)r)",
    )
    for option, highest, default, what in [
        ("--idle", 32_767, 5, "seconds of silence before the first probe"),
        ("--interval", 32_767, 1, "seconds between probes"),
        ("--count", 127, 3, "probes unanswered before it gives up"),
    ]:
        parser.add_argument(
            option,
            type=functools.partial(net.bounded_int, lowest=1, highest=highest),
            default=default,
            metavar="N",
            help=f"{what}, 1 to {highest} (default: %(default)s)",
        )
    parser.add_argument(
        "--user-timeout",
        type=net.seconds,
        metavar="S",
        help="seconds sent data may wait for its acknowledgement "
        "(default: idle + interval x count)",
    )
    parser.add_argument(
        "--every",
        type=net.seconds,
        metavar="S",
        help="send the message every S seconds (default: never)",
    )
    parser.add_argument(
        "--duration",
        type=net.seconds,
        default=600.0,
        metavar="S",
        help="seconds to hold the connection (default: %(default)s)",
    )
    net.add_timeout(
        parser,
        5.0,
        "seconds to wait for the connection (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.user_timeout is None:
        args.user_timeout = args.idle + args.interval * args.count
    args.data = net.message_bytes(args.message)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    peer = net.format_address((args.host, args.port))
    try:
        with net.connect(args.host, args.port, args.timeout) as sock:
            peer = net.format_address(sock.getpeername())
            for name in keep_alive(
                sock, args.idle, args.interval, args.count, args.user_timeout
            ):
                print(f"warning: this system has no socket.{name}; its "
                      "default applies", file=sys.stderr)  # fmt: skip
            log.info("%s", net.describe(sock))
            print(f"connected to {peer}: keepalive {args.idle} s + "
                  f"{args.count} x {args.interval} s, user timeout "
                  f"{args.user_timeout:g} s", flush=True)  # fmt: skip
            ended = hold(sock, args.data, args.every or 0, args.duration)
    except Gone as exc:
        return net.fail(f"{peer}: the peer is gone: {exc}")
    except (KeyboardInterrupt, OSError) as exc:  # refused, reset
        return net.failed(exc, args.host, peer)
    print(ended)
    return 0


if __name__ == "__main__":
    sys.exit(main())
