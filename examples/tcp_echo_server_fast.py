"""A fast TCP echo server on asyncio: readiness callbacks, no transports.

Shows how to make an asyncio TCP server run at the speed of a selectors
loop. asyncio's streams and even its Protocol transports do work per
message that an echo does not need (a 256 KiB buffer per read, a
StreamReader's buffer, a task per connection). Here the event loop is
used as the selector it is built on: loop.add_reader() calls back when a
socket is readable, loop.add_writer() only while a reply is pending, and
the selectors server's Echoer does the rest, including backpressure
(a connection whose replies are not being taken is no longer read).

It runs on any asyncio event loop with add_reader(), uvloop's included:
set asyncio's event loop policy to uvloop's before main() (its page shows
how).
Everything else is the selectors server's: copy this file,
tcp_echo_server_selectors.py, tcp_echo_server_blocking.py and net.py.

    python examples/tcp_echo_server_fast.py
    python examples/tcp_echo_server_fast.py --port 0 -v

Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from typing import Any

from tcp_echo_server_blocking import Counts, run_many
from tcp_echo_server_selectors import READ, WRITE, Connection, Echoer


class LoopEchoer(Echoer):
    """An Echoer that waits with the running event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        listener: socket.socket,
        counts: Counts,
        idle_timeout: float,
        max_connections: int,
    ) -> None:
        super().__init__(listener, counts, idle_timeout, max_connections)
        self.loop = loop
        self.listen(True)

    def watch(self, conn: Connection, events: int) -> None:
        changed = conn.events ^ events
        if changed & READ:
            if events & READ:
                self.loop.add_reader(conn.sock, self.ready, conn, READ)
            else:
                self.loop.remove_reader(conn.sock)
        if changed & WRITE:
            if events & WRITE:
                self.loop.add_writer(conn.sock, self.ready, conn, WRITE)
            else:
                self.loop.remove_writer(conn.sock)

    def listen(self, on: bool) -> None:
        if on:
            self.loop.add_reader(self.listener, self.accept)
        else:
            self.loop.remove_reader(self.listener)


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
    listener.setblocking(False)
    echoer = LoopEchoer(loop, listener, counts, idle_timeout, max_connections)
    every = min(idle_timeout / 2, 1.0)  # how often to look for idle ones
    try:
        while True:
            try:
                await asyncio.wait_for(stop.wait(), every)
                return
            except asyncio.TimeoutError:
                echoer.sweep()
    finally:
        echoer.listen(False)
        echoer.close_all()


def serve(listener: socket.socket, counts: Counts, **options: Any) -> None:
    asyncio.run(serve_async(listener, counts, **options))


def main(argv: list[str] | None = None) -> int:
    return run_many(argv, __doc__, serve)


if __name__ == "__main__":
    sys.exit(main())
