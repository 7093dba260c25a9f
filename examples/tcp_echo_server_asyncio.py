"""TCP echo server with asyncio streams: a coroutine per connection.

Shows asyncio.start_server(), the way most asyncio servers are written:
a coroutine per connection reads, writes, and awaits writer.drain(),
which waits while the client takes no replies, so that a slow client
cannot grow the server's memory. Every wait is bounded by --idle-timeout;
--max-connections bounds the connections. Ctrl+C or SIGTERM cancels
every coroutine and prints a one-line summary.

    python examples/tcp_echo_server_asyncio.py
    python examples/tcp_echo_server_asyncio.py --port 0 -v
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from dataclasses import dataclass

import net

log = logging.getLogger("tcp_server")

# --8<-- [start:lesson]
CHUNK = 65_536  # the most one read() returns


@dataclass
class Counts:
    """What the server did, for the summary line."""

    connections: int = 0
    bytes: int = 0


async def echo(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    counts: Counts,
    idle_timeout: float,
) -> None:
    """Send back every byte until the client's EOF."""
    # Each wait is bounded: a client that sends nothing, or takes no
    # replies, for idle_timeout is closed. (1)
    while data := await asyncio.wait_for(reader.read(CHUNK), idle_timeout):
        counts.bytes += len(data)
        writer.write(data)
        # Returns at once unless the client is behind: then it waits until
        # the transport's buffer has drained below its low-water mark. (2)
        await asyncio.wait_for(writer.drain(), idle_timeout)


async def serve_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    peer: str,
    counts: Counts,
    idle_timeout: float,
) -> None:
    """Echo on one connection, log how it ended, and close it."""
    try:
        await echo(reader, writer, counts, idle_timeout)
    except asyncio.TimeoutError:
        log.info("%s: idle for %g s: closed", peer, idle_timeout)
        writer.transport.abort()  # drop what the client did not take
    except OSError as exc:  # reset by the peer, ...
        log.warning("%s: %s", peer, net.reason(exc))
    except asyncio.CancelledError:  # the server is stopping
        writer.transport.abort()
        # The handler then ends as if done: Python 3.11's streams log
        # a handler whose task ends cancelled as an error.
    else:
        log.info("%s: done", peer)
    finally:
        writer.close()
        # A reset, told again; or the server stopping in the meantime,
        # which closes the socket all the same.
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await writer.wait_closed()  # the socket is closed (3)


async def serve_async(
    listener: socket.socket,
    counts: Counts,
    idle_timeout: float,
    max_connections: int,
) -> None:
    """Serve every connection until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    handlers: set[asyncio.Task[None]] = set()

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = net.format_address(writer.get_extra_info("peername"))
        if len(handlers) >= max_connections:
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
            await serve_connection(reader, writer, peer, counts, idle_timeout)
        finally:
            handlers.discard(me)

    # start_server() calls listen() again: keep main()'s backlog, not 100.
    server = await asyncio.start_server(
        handle, sock=listener, backlog=socket.SOMAXCONN
    )
    where = net.format_address(listener.getsockname())
    print(f"listening on {where}", flush=True)  # signals are ours now
    async with server:  # closes the listener at the end
        await stop.wait()
        server.close()  # no new connections
        for task in handlers:  # then end every handler, and wait for them
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


# --8<-- [end:lesson]
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
        family, _, _, _, address = socket.getaddrinfo(
            args.host, args.port, type=socket.SOCK_STREAM
        )[0]
        # create_server() sets SO_REUSEADDR: a restarted server may bind
        # while connections of the last one linger in TIME_WAIT.
        listener = socket.create_server(
            address, family=family, backlog=socket.SOMAXCONN
        )
    except OSError as exc:  # address in use, not an address here, ...
        where = net.format_address((args.host, args.port))
        print(f"error: cannot listen on {where}: {net.reason(exc)}",
              file=sys.stderr)  # fmt: skip
        return 1
    with listener:
        where = net.format_address(listener.getsockname())
        log.info("%s", net.describe(listener))
        if net.reachable_from_elsewhere(listener):
            log.warning("%s is reachable from other machines", where)
        counts = Counts()
        asyncio.run(
            serve_async(
                listener, counts, args.idle_timeout, args.max_connections
            )
        )
    print(
        f"stopped: served {counts.connections} "
        f"connection{'' if counts.connections == 1 else 's'}, "
        f"echoed {counts.bytes} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
