"""TCP echo server with asyncio streams: a coroutine per connection.

Shows asyncio.start_server(), the way most asyncio servers are written:
for each connection a coroutine reads with `await reader.read()`, writes
with writer.write() and then `await writer.drain()`, which waits while the
client is not taking its replies, so that one slow client cannot make the
server's memory grow. Every wait is bounded by --idle-timeout; at the end,
writer.close() and `await writer.wait_closed()`. --max-connections bounds
the connections (one over it is closed at once, and logged).

Ctrl+C (SIGINT) or SIGTERM stops the server: it cancels every
connection's coroutine, whichever Python this is (since 3.12.1,
Server.wait_closed() waits for them; Server.close_clients() is 3.13+),
and prints a one-line summary. Options, "listening on" and the summary
are the blocking server's, imported from tcp_echo_server_blocking.py:
copy both files and net.py.

    python examples/tcp_echo_server_asyncio.py
    python examples/tcp_echo_server_asyncio.py --port 0 -v

Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from typing import Any

import net
from tcp_echo_server_blocking import Counts, run_many

log = logging.getLogger("tcp_server")

CHUNK = 65_536  # the most one read() returns


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

    # start_server() calls listen() again: keep run()'s backlog, not 100.
    server = await asyncio.start_server(
        handle, sock=listener, backlog=socket.SOMAXCONN
    )
    async with server:  # closes the listener at the end
        await stop.wait()
        server.close()  # no new connections
        for task in handlers:  # then end every handler, and wait for them
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


def serve(listener: socket.socket, counts: Counts, **options: Any) -> None:
    asyncio.run(serve_async(listener, counts, **options))


def main(argv: list[str] | None = None) -> int:
    return run_many(argv, __doc__, serve)


if __name__ == "__main__":
    sys.exit(main())
