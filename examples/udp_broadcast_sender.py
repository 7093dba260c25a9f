"""UDP broadcast sender: one datagram to every host, then their answers.

Shows the sending end of IPv4 broadcast: sendto() a broadcast address
needs SO_BROADCAST, or fails with PermissionError (--without-so-broadcast
shows it). It sends once, then prints every answer within --timeout: no
one knows how many receivers there are, so it waits out the whole time.
Start one or more broadcast receivers, then:

    python examples/udp_broadcast_sender.py
    python examples/udp_broadcast_sender.py --host 192.168.1.255 "Anyone?"
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

import net


# --8<-- [start:lesson]
def open_socket(so_broadcast: bool) -> socket.socket:
    """A UDP socket that may send to a broadcast address, if so_broadcast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if so_broadcast:
        # "Yes, I mean everyone": the kernel refuses a broadcast from a
        # socket that has not said so. (1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    return sock


def exchange(sock: socket.socket, args: argparse.Namespace) -> int:
    """Send args.data, print the answers; return the exit status."""
    where = net.format_address((args.host, args.port))
    sock.sendto(args.data, (args.host, args.port))
    print(f"sent {len(args.data)} bytes to {where}", flush=True)
    answers = collect(sock, args.timeout)
    if not answers:
        return net.fail(f"{where}: no answer within {args.timeout:g} s")
    print(f"{answers} answer{'' if answers == 1 else 's'}")
    return 0


def collect(sock: socket.socket, timeout: float) -> int:
    """Print each answer that comes within timeout s; return how many."""
    deadline = time.monotonic() + timeout
    answers = 0
    # Checked before each read: answers that keep coming cannot hold it.
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, addr = sock.recvfrom(65_535)
        except socket.timeout:  # TimeoutError from Python 3.10
            break
        answers += 1
        peer = net.format_address(addr)
        print(f"answer from {peer}: {net.shorten(data)}", flush=True)
    return answers


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 at least one answer, 1 none within --timeout or a network
failure, 2 bad usage, 130 interrupted (Ctrl+C)."""


def main(argv: list[str] | None = None) -> int:
    options = net.parser(__doc__, exits=EXITS)
    options.set_defaults(host="127.255.255.255")
    net.add_message(options, "Who is there?")
    net.add_timeout(
        options, 1.0, "how long to collect answers (default: %(default)s)"
    )
    options.add_argument(
        "--without-so-broadcast",
        action="store_true",
        help="do not set SO_BROADCAST, to see the send fail",
    )
    args = options.parse_args(argv)
    args.data = net.message_bytes(args.message)
    net.setup_logging(args.verbose)
    try:
        with open_socket(not args.without_so_broadcast) as sock:
            return exchange(sock, args)
    except (KeyboardInterrupt, OSError) as exc:  # EACCES, unreachable, ...
        return net.failed(
            exc, args.host, net.format_address((args.host, args.port))
        )


if __name__ == "__main__":
    sys.exit(main())
