"""UDP multicast receiver: join a group, hear what is sent to it, answer.

Shows how to receive multicast, over IPv4 or IPv6: a socket bound to the
group's address and a port (SO_REUSEADDR, so that several receivers on
one machine share it), which then joins the group on one interface with
a correctly built request: struct ip_mreqn for IPv4, struct ipv6_mreq for
IPv6. Only then does the kernel (and, through IGMP or MLD, the network)
deliver the group's datagrams. Each one is printed and answered, to its
sender, with --name. It leaves the group when it stops.

    python examples/udp_multicast_receiver.py --interface eth0
    python examples/udp_multicast_receiver.py --host ff02::1234 \\
        --interface eth0 --name two
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import socket
import struct
import sys

import net

log = logging.getLogger("udp_receiver")

# --8<-- [start:lesson]


def membership(group: str, index: int) -> tuple[int, int, int, bytes]:
    """How to join group on interface index, and to leave it: (level,
    join option, leave option, value). The value is the C struct, packed."""
    packed = ipaddress.ip_address(group).packed
    if len(packed) == 4:
        # struct ip_mreqn: the group, a local address (0: by index), and
        # the interface index, a C int: 12 bytes. The "4sL" of many
        # examples packs 16 bytes on 64-bit Linux, which the kernel reads
        # as an ip_mreqn whose index happens to be 0: right by accident. (1)
        value = struct.pack("4s4si", packed, bytes(4), index)
        return (socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                socket.IP_DROP_MEMBERSHIP, value)  # fmt: skip
    # struct ipv6_mreq: the group, and the interface index: 20 bytes.
    value = struct.pack("16sI", packed, index)
    return (socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
            socket.IPV6_LEAVE_GROUP, value)  # fmt: skip


def open_socket(group: str, port: int, index: int) -> socket.socket:
    """A UDP socket bound to group:port that has joined group."""
    ipv6 = ":" in group
    sock = socket.socket(
        socket.AF_INET6 if ipv6 else socket.AF_INET, socket.SOCK_DGRAM
    )
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Bound to the group, not the wildcard: datagrams to this port for
        # other groups, or for this host alone, are not for this socket.
        sock.bind((group, port, 0, index) if ipv6 else (group, port))
        level, join, _, value = membership(group, index)
        sock.setsockopt(level, join, value)  # (2)
    except OSError:
        sock.close()
        raise
    return sock


def leave(sock: socket.socket, group: str, index: int) -> None:
    """Leave group on interface index. Closing the socket would leave
    too; saying so tells the network now."""
    level, _, leave, value = membership(group, index)
    sock.setsockopt(level, leave, value)  # (3)


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
Exit status: 0 stopped, by a signal or when idle; 1 cannot listen or
join, or heard nothing at all within --timeout; 2 bad usage."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    options = net.parser(__doc__, server=True, exits=EXITS)
    options.set_defaults(host="239.255.0.1")
    options.add_argument(
        "--name",
        default=f"receiver-{os.getpid()}",
        help="what to answer with (default: receiver-PID)",
    )
    net.add_timeout(
        options,
        60.0,
        "stop once nothing has come for this long (default: %(default)s)",
    )
    options.add_argument(
        "--interface",
        type=interface,
        default=0,
        metavar="NAME",
        help="network interface to use, such as eth0 (default: the one the "
        "routing table picks; IPv6 link-local groups need one)",
    )
    args = options.parse_args(argv)
    if not is_multicast(args.host):
        options.error(
            f"argument --host: not a multicast group (224.0.0.0/4 or "
            f"ff00::/8): {args.host!r}"
        )
    if args.host.lower().startswith("ff02:") and not args.interface:
        options.error("a link-local group (ff02::/16) needs --interface")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    try:
        sock = open_socket(args.host, args.port, args.interface)
    except OSError as exc:  # no such group on this interface, no route...
        where = net.format_address((args.host, args.port))
        return net.fail(f"cannot join {where}: {net.reason(exc)}")
    with sock:
        where = net.format_address(sock.getsockname())
        try:
            heard, idle = serve(sock, os.fsencode(args.name), args.timeout)
        finally:
            leave(sock, args.host, args.interface)
    if idle and not heard:
        return net.fail(f"nothing heard on {where} for {args.timeout:g} s")
    why = f"nothing for {args.timeout:g} s" if idle else "stopped"
    print(f"{why}: heard {heard} datagram{'' if heard == 1 else 's'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
