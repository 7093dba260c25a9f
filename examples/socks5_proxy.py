"""SOCKS5 proxy on asyncio: CONNECT, and only where --allow says.

Shows RFC 1928's CONNECT, with no authentication, or with RFC 1929's
user name and password when --user is given (the password comes from
the environment, SOCKS5_PASSWORD, never the command line). A destination
may be an IPv4 or IPv6 address or a name, looked up within --timeout.
Every address is checked against --allow (loopback alone by default)
after the lookup, and the proxy connects to the address it checked, so
no name leads where an address could not: it is not an open proxy. Each
failure gets its reply code; -v logs each request and why it ended.

    python examples/socks5_proxy.py
    curl --socks5-hostname 127.0.0.1:8888 http://localhost:8000/
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import functools
import hmac
import ipaddress
import logging
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar, Union

import net

log = logging.getLogger("socks5")
T = TypeVar("T")
Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

# --8<-- [start:lesson]
VERSION = 5
NO_AUTH, USER_PASSWORD, NO_METHOD = 0x00, 0x02, 0xFF  # RFC 1928, 3
CONNECT, BIND, UDP_ASSOCIATE = 1, 2, 3  # RFC 1928, 4
IPV4, DOMAIN, IPV6 = 1, 3, 4
# Reply codes (RFC 1928, 6)
SUCCEEDED, FAILURE, NOT_ALLOWED, NETWORK_UNREACHABLE = 0, 1, 2, 3
HOST_UNREACHABLE, REFUSED, TTL_EXPIRED = 4, 5, 6
COMMAND_NOT_SUPPORTED, ADDRESS_NOT_SUPPORTED = 7, 8


class Refused(Exception):
    """A request the proxy refuses: its reply code, and why, for the log."""

    def __init__(self, code: int, why: str) -> None:
        super().__init__(why)
        self.code = code


class Malformed(Exception):
    """Bytes that are not SOCKS5: no reply can be understood; close."""


async def greet(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    users: dict[bytes, bytes],
) -> None:
    """Agree on how the client proves who it is (RFC 1928, 3), and check
    its user name and password if users are set (RFC 1929)."""
    version, count = await reader.readexactly(2)
    if version != VERSION:
        raise Malformed(f"version {version}, not 5")
    offered = await reader.readexactly(count)
    method = USER_PASSWORD if users else NO_AUTH
    if method not in offered:
        writer.write(bytes([VERSION, NO_METHOD]))
        raise Malformed("no method in common")
    writer.write(bytes([VERSION, method]))
    if not users:
        return
    version, size = await reader.readexactly(2)  # RFC 1929: version 1
    name = await reader.readexactly(size)
    password = await reader.readexactly((await reader.readexactly(1))[0])
    expected = users.get(name)
    # compare_digest(): the time it takes does not tell how much matched
    good = (
        version == 1
        and expected is not None
        and hmac.compare_digest(expected, password)
    )
    writer.write(bytes([1, 0 if good else 1]))
    if not good:
        raise Malformed("wrong user name or password")


async def read_request(reader: asyncio.StreamReader) -> tuple[str, int]:
    """Read a CONNECT request: the destination, as a host and a port."""
    version, command, _, kind = await reader.readexactly(4)
    if version != VERSION:
        raise Malformed(f"version {version}, not 5")
    if command != CONNECT:  # BIND, UDP ASSOCIATE, or no command at all
        raise Refused(COMMAND_NOT_SUPPORTED, f"command {command}")
    if kind == IPV4:
        host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
    elif kind == IPV6:
        host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
    elif kind == DOMAIN:  # not ASCII: U+FFFD, which no lookup takes
        name = await reader.readexactly((await reader.readexactly(1))[0])
        host = name.decode("ascii", "replace")
    else:
        raise Refused(ADDRESS_NOT_SUPPORTED, f"address type {kind}")
    (port,) = struct.unpack("!H", await reader.readexactly(2))
    if not host:
        raise Refused(HOST_UNREACHABLE, "an empty name")
    return host, port


async def allowed(
    host: str, port: int, allow: list[Network], timeout: float
) -> list[Address]:
    """Look host up (within timeout), and return its addresses that allow
    lists; refuse if there are none, naming the rule."""
    loop = asyncio.get_running_loop()
    lookup = loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    try:
        found = await asyncio.wait_for(lookup, timeout)
    # UnicodeError: not a name (IDNA refuses a label over 63 bytes)
    except (OSError, UnicodeError, asyncio.TimeoutError) as exc:
        why = net.reason(exc) or "no answer"
        raise Refused(HOST_UNREACHABLE, f"{host}: {why}") from None
    addresses = []
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
        if any(ip in network for network in allow):
            addresses.append(ip)
    if not addresses:
        rule = ", ".join(map(str, allow))
        raise Refused(NOT_ALLOWED, f"{host}: not in --allow {rule}")
    return addresses


async def connect(
    addresses: list[Address], port: int, timeout: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the first address that answers: the addresses checked,
    never the name again (a second lookup could answer differently)."""
    code, why = FAILURE, "no address"
    for ip in addresses:
        where = net.format_address((str(ip), port))
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(str(ip), port), timeout
            )
        except asyncio.TimeoutError:
            code, why = TTL_EXPIRED, f"{where}: no answer"
        except OSError as exc:
            code = CONNECT_ERRORS.get(exc.errno or 0, FAILURE)
            why = f"{where}: {net.reason(exc)}"
    raise Refused(code, why)


CONNECT_ERRORS = {
    errno.ECONNREFUSED: REFUSED,
    errno.ENETUNREACH: NETWORK_UNREACHABLE,
    errno.EHOSTUNREACH: HOST_UNREACHABLE,
}


def reply(code: int, bound: tuple[str, int] = ("0.0.0.0", 0)) -> bytes:
    """A reply (RFC 1928, 6): its code, and the address the proxy's
    connection has on its side."""
    ip = ipaddress.ip_address(bound[0])
    kind = IPV4 if ip.version == 4 else IPV6
    return bytes([VERSION, code, 0, kind]) + ip.packed + struct.pack(
        "!H", bound[1]
    )  # fmt: skip


# --8<-- [end:lesson]
CHUNK = 65_536  # the most one read() returns


@dataclass
class Relayed:
    """One connection through the proxy: what moved, and when last."""

    idle_timeout: float
    up: int = 0  # bytes from the client to the destination
    down: int = 0  # and back
    last: float = field(default_factory=time.monotonic)

    async def within(self, start: Callable[[], Awaitable[T]]) -> T:
        """Await start() until it is done, or until neither direction
        has moved a byte for idle_timeout: then raise TimeoutError."""
        while True:
            left = self.last + self.idle_timeout - time.monotonic()
            try:
                result = await asyncio.wait_for(start(), max(left, 0))
            except asyncio.TimeoutError:
                if time.monotonic() - self.last < self.idle_timeout:
                    continue  # the other direction moved meanwhile
                raise
            self.last = time.monotonic()
            return result


async def copy(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    relayed: Relayed,
    up: bool,
) -> None:
    """Copy what reader gives to writer until reader's EOF, then pass the
    EOF on: the relay recipe's copy."""
    while data := await relayed.within(lambda: reader.read(CHUNK)):
        if up:
            relayed.up += len(data)
        else:
            relayed.down += len(data)
        writer.write(data)
        await relayed.within(writer.drain)
    writer.write_eof()


async def proxy(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    args: argparse.Namespace,
    relayed: Relayed,
) -> str:
    """One client: greet it, read its request, connect, reply, and relay
    until both sides have ended; return what happened."""
    try:
        await asyncio.wait_for(greet(reader, writer, args.users), args.timeout)
        request = asyncio.wait_for(read_request(reader), args.timeout)
        host, port = await request
        addresses = await allowed(host, port, args.allow, args.timeout)
        far_reader, far_writer = await connect(addresses, port, args.timeout)
    except Refused as refused:
        writer.write(reply(refused.code))
        return f"refused ({refused.code}): {refused}"
    except Malformed as exc:
        return f"not SOCKS5: {exc}"
    except asyncio.IncompleteReadError:
        return "not SOCKS5: cut short"
    except asyncio.TimeoutError:
        return f"nothing for {args.timeout:g} s"
    writer.write(reply(SUCCEEDED, far_writer.get_extra_info("sockname")))
    where = net.format_address(far_writer.get_extra_info("peername"))
    directions = [
        asyncio.ensure_future(copy(reader, far_writer, relayed, up=True)),
        asyncio.ensure_future(copy(far_reader, writer, relayed, up=False)),
    ]
    try:
        await asyncio.gather(*directions)
    except (ConnectionError, asyncio.TimeoutError) as exc:
        far_writer.transport.abort()
        writer.transport.abort()
        why = "idle" if isinstance(exc, asyncio.TimeoutError) else "reset"
        return f"to {where}: {why}"
    finally:
        for direction in directions:
            direction.cancel()
        far_writer.close()
    return f"to {where}: closed by both"


EXITS = "Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage."


async def serve(listener: socket.socket, args: argparse.Namespace) -> int:
    """Serve every client until SIGINT or SIGTERM; return how many."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tasks: set[asyncio.Task[None]] = set()
    served = 0

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal served
        peer = net.format_address(writer.get_extra_info("peername"))
        if len(tasks) >= args.max_connections:
            log.warning("%s: refused: %d connections open", peer, len(tasks))
            writer.close()
            return
        me = asyncio.current_task()
        assert me is not None
        tasks.add(me)
        served += 1
        relayed = Relayed(args.idle_timeout)
        why = "the proxy is stopping"
        try:
            why = await proxy(reader, writer, args, relayed)
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            tasks.discard(me)
            writer.close()
            log.info("%s: %d bytes up, %d down: %s",
                     peer, relayed.up, relayed.down, why)  # fmt: skip

    server = await asyncio.start_server(
        handle, sock=listener, backlog=socket.SOMAXCONN
    )
    print(f"listening on {net.format_address(listener.getsockname())}",
          flush=True)  # fmt: skip
    await stop.wait()
    server.close()
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return served


def network(text: str) -> Network:
    """Parse --allow for argparse: a network, such as 10.0.0.0/8."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a network: {text!r}") from None


def user_name(text: str) -> bytes:
    """Parse --user for argparse: 1 to 255 bytes (RFC 1929)."""
    name = os.fsencode(text)
    if not 0 < len(name) <= 255:
        raise argparse.ArgumentTypeError(
            f"must be 1 to 255 bytes, not {len(name)}"
        )
    return name


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, server=True, exits=EXITS)
    parser.add_argument(
        "--allow",
        type=network,
        action="append",
        metavar="NETWORK",
        help="a network clients may reach, again for more (default: "
        "127.0.0.0/8 and ::1/128)",
    )
    parser.add_argument(
        "--user",
        type=user_name,
        metavar="NAME",
        help="require this user name, and the password in SOCKS5_PASSWORD "
        "(default: no authentication)",
    )
    parser.add_argument(
        "--timeout",
        type=net.seconds,
        default=10.0,
        metavar="S",
        help="for each step: the greeting, the request, the lookup, the "
        "connect (default: %(default)s)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=net.seconds,
        default=300.0,
        metavar="S",
        help="close a connection idle both ways for this long "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-connections",
        type=functools.partial(net.bounded_int, lowest=1, highest=100_000),
        default=500,  # two sockets each: a process may open 1,024 files
        metavar="N",
        help="close at once a connection over this many "
        "(default: %(default)s)",
    )
    args = parser.parse_args(argv)
    args.allow = args.allow or [network("127.0.0.0/8"), network("::1/128")]
    args.users = {}
    if args.user is not None:
        password = os.environ.get("SOCKS5_PASSWORD", "")
        if not 0 < len(os.fsencode(password)) <= 255:
            parser.error("--user needs SOCKS5_PASSWORD: 1 to 255 bytes")
        args.users = {args.user: os.fsencode(password)}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    try:
        listener = socket.create_server((args.host, args.port))
    except OSError as exc:
        where = net.format_address((args.host, args.port))
        return net.fail(f"cannot listen on {where}: {net.reason(exc)}")
    with listener:
        served = asyncio.run(serve(listener, args))
    s = "" if served == 1 else "s"
    print(f"stopped: served {served} client{s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
