"""TCP echo server for IPv4 and IPv6 clients alike, on one port.

Shows the two ways to serve both IP versions. --host NAME listens on
every address NAME resolves to, one socket each, all on one port:
"localhost" may mean 127.0.0.1 and ::1, and a server on the first alone
refuses every client that tries the other first. --host :: takes one
dual-stack socket (IPV6_V6ONLY off), where IPv4 clients show up as
::ffff:a.b.c.d; it listens on every interface, so it warns. The echo is
the asyncio streams server's. The default stays 127.0.0.1.

    python examples/tcp_echo_server_dualstack.py --host localhost
    python examples/tcp_echo_server_dualstack.py --host :: --port 0 -v
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sys
from dataclasses import dataclass

import net

log = logging.getLogger("tcp_server")

# --8<-- [start:lesson]
PORT_TRIES = 10  # --port 0: ports to try that are free on every address


def listen_on(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for host on port: one dual-stack socket for "::",
    else one for each address host resolves to, all on one port."""
    if host == "::" and socket.has_dualstack_ipv6():
        return [
            socket.create_server(
                ("::", port),
                family=socket.AF_INET6,
                dualstack_ipv6=True,  # IPV6_V6ONLY off: IPv4 too
                backlog=socket.SOMAXCONN,
            )
        ]
    found = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    addresses = list(dict.fromkeys((info[0], info[4]) for info in found))
    for _ in range(PORT_TRIES):
        listeners: list[socket.socket] = []
        try:
            for family, address in addresses:
                if listeners:  # the others take the first one's port
                    address = (address[0], listeners[0].getsockname()[1],
                               *address[2:])  # fmt: skip
                # create_server() sets IPV6_V6ONLY on an IPv6 socket: the
                # IPv4 address has a socket of its own.
                listeners.append(socket.create_server(
                    address, family=family, backlog=socket.SOMAXCONN
                ))  # fmt: skip
            return listeners
        except OSError as exc:
            for sock in listeners:
                sock.close()
            # Port 0 gave the first address a port that another address
            # has in use: try another one. Any other failure is final.
            if port != 0 or exc.errno != errno.EADDRINUSE:
                raise
    raise OSError(f"no port free on every address in {PORT_TRIES} tries")


# --8<-- [end:lesson]
CHUNK = 65_536  # the most one read() returns


@dataclass
class Counts:
    """What the server did, for the summary line."""

    connections: int = 0
    bytes: int = 0


async def serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    peer: str,
    counts: Counts,
    idle_timeout: float,
) -> None:
    """Echo every byte until the client's EOF, log how it ended, close."""
    try:
        while data := await asyncio.wait_for(reader.read(CHUNK), idle_timeout):
            counts.bytes += len(data)
            writer.write(data)
            await asyncio.wait_for(writer.drain(), idle_timeout)
    except asyncio.TimeoutError:
        log.info("%s: idle for %g s: closed", peer, idle_timeout)
        writer.transport.abort()  # drop what the client did not take
    except OSError as exc:  # reset by the peer, ...
        log.warning("%s: %s", peer, net.reason(exc))
    except asyncio.CancelledError:  # the server is stopping
        writer.transport.abort()
    else:
        log.info("%s: done", peer)
    finally:
        writer.close()
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await writer.wait_closed()


async def serve_async(
    listeners: list[socket.socket], counts: Counts, args: argparse.Namespace
) -> None:
    """Serve every connection on every listener until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    handlers: set[asyncio.Task[None]] = set()

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = net.format_address(writer.get_extra_info("peername"))
        if len(handlers) >= args.max_connections:
            log.warning("%s: refused: %d connections open",
                        peer, len(handlers))  # fmt: skip
            writer.close()
            await writer.wait_closed()
            return
        me = asyncio.current_task()
        assert me is not None  # a handler runs in a task of its own
        handlers.add(me)
        counts.connections += 1
        log.info("%s: connected", peer)
        try:
            await serve_connection(
                reader, writer, peer, counts, args.idle_timeout
            )
        finally:
            handlers.discard(me)

    servers = [
        await asyncio.start_server(handle, sock=sock, backlog=socket.SOMAXCONN)
        for sock in listeners
    ]
    for sock in listeners:
        where = net.format_address(sock.getsockname())
        print(f"listening on {where}", flush=True)
    await stop.wait()
    for server in servers:
        server.close()  # no new connections
    for task in handlers:  # then end every handler, and wait for them
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    for server in servers:
        await server.wait_closed()


EXITS = "Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage."


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, server=True, exits=EXITS)
    parser.add_argument(
        "--idle-timeout",
        type=net.seconds,
        default=10.0,
        metavar="S",
        help="close a connection that sends nothing for this long "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-connections",
        type=lambda text: net.bounded_int(text, 1, 100_000),
        default=1000,  # a process may open 1,024 files by default
        metavar="N",
        help="close at once a connection over this many "
        "(default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    try:
        listeners = listen_on(args.host, args.port)
    except OSError as exc:  # address in use, not an address here, ...
        where = net.format_address((args.host, args.port))
        return net.fail(f"cannot listen on {where}: {net.reason(exc)}")
    with contextlib.ExitStack() as closing:
        for sock in listeners:
            closing.enter_context(sock)
            log.info("%s", net.describe(sock))
            if net.reachable_from_elsewhere(sock):
                where = net.format_address(sock.getsockname())
                log.warning("%s is reachable from other machines", where)
        counts = Counts()
        asyncio.run(serve_async(listeners, counts, args))
    s = "" if counts.connections == 1 else "s"
    print(f"stopped: served {counts.connections} connection{s}, "
          f"echoed {counts.bytes} bytes")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
