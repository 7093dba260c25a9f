"""UDP multicast sender: one datagram to a group, then every answer.

Shows how to send multicast, over IPv4 or IPv6. No group membership is
needed to send, only three choices: the interface it leaves by
(IP_MULTICAST_IF, IPV6_MULTICAST_IF), how far it may go (the TTL or hop
limit: 1 by default, this network only; --ttl to go further), and whether
receivers on this machine hear it too (loopback, on here). It sends the
message once and prints every answer that comes back within --timeout
seconds, as the broadcast sender does (whose options and collecting this
imports: copy udp_broadcast_sender.py, udp_multicast_receiver.py and the
files they import, and net.py).

Start one or more receivers (udp_multicast_receiver.py), then:

    python examples/udp_multicast_sender.py --interface eth0
    python examples/udp_multicast_sender.py --host ff02::1234 \\
        --interface eth0 "Anyone?"

Exit status: 0 at least one answer, 1 none within --timeout or a network
failure, 2 bad usage, 130 interrupted (Ctrl+C).
"""

from __future__ import annotations

import logging
import socket
import struct
import sys

import net
from udp_broadcast_sender import exchange, parser
from udp_multicast_receiver import group_args, group_options

log = logging.getLogger("udp_sender")


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


def main(argv: list[str] | None = None) -> int:
    options = parser(__doc__, "239.255.0.1")
    group_options(options)
    options.add_argument(
        "--ttl",
        type=lambda text: net.bounded_int(text, 0, 255),
        default=1,
        metavar="N",
        help="routers it may cross, 0 to 255: 0 this machine only, 1 this "
        "network (default: %(default)s)",
    )
    args = group_args(options, argv)
    args.data = net.message_bytes(args.message)
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
