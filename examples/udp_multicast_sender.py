"""UDP multicast sender: one datagram to a group, then every answer.

Shows how to send multicast, over IPv4 or IPv6. No group membership is
needed to send, only three choices: the interface it leaves by
(IP_MULTICAST_IF, IPV6_MULTICAST_IF), how far it may go (the TTL or hop
limit: 1 by default, this network only; --ttl to go further), and whether
receivers on this machine hear it too (loopback, on here). It sends the
message once and prints every answer that comes back within --timeout
seconds. Start one or more receivers (udp_multicast_receiver.py), then:

    python examples/udp_multicast_sender.py --interface eth0
    python examples/udp_multicast_sender.py --host ff02::1234 \\
        --interface eth0 "Anyone?"
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import socket
import struct
import sys
import time

import net

log = logging.getLogger("udp_sender")

# --8<-- [start:lesson]


def configure(sock: socket.socket, index: int, ttl: int) -> None:
    """Set the interface, the TTL (hop limit) and loopback for sending."""
    if sock.family == socket.AF_INET6:
        level = socket.IPPROTO_IPV6
        sock.setsockopt(level, socket.IPV6_MULTICAST_IF, index)
        sock.setsockopt(level, socket.IPV6_MULTICAST_HOPS, ttl)
        sock.setsockopt(level, socket.IPV6_MULTICAST_LOOP, 1)
        return
    level = socket.IPPROTO_IP
    # struct ip_mreqn again: no group, no address, the interface index.
    mreqn = struct.pack("4s4si", bytes(4), bytes(4), index)
    sock.setsockopt(level, socket.IP_MULTICAST_IF, mreqn)
    sock.setsockopt(level, socket.IP_MULTICAST_TTL, ttl)  # (1)
    sock.setsockopt(level, socket.IP_MULTICAST_LOOP, 1)


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
def is_multicast(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_multicast
    except ValueError:  # not an address at all
        return False


def interface(name: str) -> int:
    """Parse a network interface's name into its index, for argparse."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        raise argparse.ArgumentTypeError(
            f"no such interface: {name!r}"
        ) from None


EXITS = """\
Exit status: 0 at least one answer, 1 none within --timeout or a network
failure, 2 bad usage, 130 interrupted (Ctrl+C)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    options = net.parser(__doc__, exits=EXITS)
    options.set_defaults(host="239.255.0.1")
    net.add_message(options, "Who is there?")
    net.add_timeout(
        options, 1.0, "how long to collect answers (default: %(default)s)"
    )
    options.add_argument(
        "--interface",
        type=interface,
        default=0,
        metavar="NAME",
        help="network interface to use, such as eth0 (default: the one the "
        "routing table picks; IPv6 link-local groups need one)",
    )
    options.add_argument(
        "--ttl",
        type=lambda text: net.bounded_int(text, 0, 255),
        default=1,
        metavar="N",
        help="routers it may cross, 0 to 255: 0 this machine only, 1 this "
        "network (default: %(default)s)",
    )
    args = options.parse_args(argv)
    if not is_multicast(args.host):
        options.error(
            f"argument --host: not a multicast group (224.0.0.0/4 or "
            f"ff00::/8): {args.host!r}"
        )
    if args.host.lower().startswith("ff02:") and not args.interface:
        options.error("a link-local group (ff02::/16) needs --interface")
    args.data = net.message_bytes(args.message)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            configure(sock, args.interface, args.ttl)
            log.info("interface %d, TTL %d, loopback on", args.interface,
                     args.ttl)  # fmt: skip
            return exchange(sock, args)
    except (KeyboardInterrupt, OSError) as exc:  # no route, ...
        return net.failed(
            exc, args.host, net.format_address((args.host, args.port))
        )


if __name__ == "__main__":
    sys.exit(main())
