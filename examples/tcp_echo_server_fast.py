"""A fast TCP echo server on asyncio: readiness callbacks, no transports.

Shows how to make an asyncio TCP server run at the speed of a selectors
loop. Here the event loop is used as the selector it is built on:
loop.add_reader() calls back when a socket is readable, loop.add_writer()
only while a reply is pending, and the echo is the selectors server's,
backpressure included. It runs on any asyncio event loop with
add_reader(), uvloop's included (its page shows how).

    python examples/tcp_echo_server_fast.py
    python examples/tcp_echo_server_fast.py --port 0 -v
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass

import net

log = logging.getLogger("tcp_server")


# --8<-- [start:lesson]
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
    where = net.format_address(listener.getsockname())
    print(f"listening on {where}", flush=True)  # signals are ours now
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
        for conn in list(echoer.connections.values()):
            echoer.close(conn, "closed: the server is stopping")


class LoopEchoer:
    """Echoes on many non-blocking connections, waiting with the running
    event loop: the selectors server's echo, with these two methods."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        listener: socket.socket,
        counts: Counts,
        idle_timeout: float,
        max_connections: int,
    ) -> None:
        self.loop = loop
        self.listener = listener
        self.counts = counts
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.connections: dict[socket.socket, Connection] = {}
        self.accepting = True
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

    # --8<-- [end:lesson]
    def accept(self) -> None:
        """Accept every connection waiting in the kernel's queue."""
        while True:
            try:
                sock, addr = self.listener.accept()
            except BlockingIOError:  # no more waiting to be accepted
                return
            except OSError as exc:  # out of file descriptors, ...
                # The connection waits in the kernel's queue, so the
                # listener stays ready: rest until the next sweep rather
                # than try again at once, for ever.
                log.warning("cannot accept: %s: paused", net.reason(exc))
                self.accepting = False
                self.listen(False)
                return
            peer = net.format_address(addr)
            if len(self.connections) >= self.max_connections:
                log.warning("%s: refused: %d connections open",
                            peer, len(self.connections))  # fmt: skip
                sock.close()
                continue
            sock.setblocking(False)
            conn = Connection(sock, peer)
            self.connections[sock] = conn
            self.counts.connections += 1
            log.info("%s: connected", peer)
            self.update(conn)

    def ready(self, conn: Connection, events: int) -> None:
        """conn is ready for events: read what came, send what we can."""
        try:
            if events & READ:
                data = conn.sock.recv(CHUNK)
                conn.eof = not data  # b"": the client's EOF
                conn.unsent += data
                self.counts.bytes += len(data)
            if conn.unsent:  # at once: most often the socket takes it all
                del conn.unsent[: conn.sock.send(conn.unsent)]
        except BlockingIOError:  # the socket's buffer is full: later
            pass
        except OSError as exc:  # reset by the peer, ...
            self.close(conn, net.reason(exc), logging.WARNING)
            return
        conn.last = time.monotonic()
        self.update(conn)

    def update(self, conn: Connection) -> None:
        """Wait for what conn needs next, or close it if it is done."""
        if conn.eof and not conn.unsent:
            self.close(conn, "done")
            return
        events = 0
        if not conn.eof and len(conn.unsent) < FULL:
            events |= READ  # room left: read on
        if conn.unsent:
            events |= WRITE  # only while there is something to send
        if events != conn.events:
            self.watch(conn, events)
            conn.events = events

    def sweep(self) -> None:
        """Close every connection idle for idle_timeout; accept again."""
        now = time.monotonic()
        for conn in list(self.connections.values()):
            if now - conn.last >= self.idle_timeout:
                self.close(conn, f"idle for {self.idle_timeout:g} s: closed")
        if not self.accepting:
            self.accepting = True
            self.listen(True)

    def close(
        self, conn: Connection, why: str, level: int = logging.INFO
    ) -> None:
        self.watch(conn, 0)
        conn.events = 0
        conn.sock.close()
        del self.connections[conn.sock]
        log.log(level, "%s: %s", conn.peer, why)


READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
CHUNK = 65_536  # bytes read at a time
FULL = 262_144  # unsent bytes at which a connection is no longer read


class Connection:
    """One client: its socket, and what it sent that is not echoed yet."""

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self.sock = sock
        self.peer = peer
        self.unsent = bytearray()
        self.eof = False  # the client has sent all it will send
        self.events = 0  # what the connection is waiting for
        self.last = time.monotonic()  # when it last moved a byte


@dataclass
class Counts:
    """What the server did, for the summary line."""

    connections: int = 0
    bytes: int = 0


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
        serve = serve_async(
            listener, counts, args.idle_timeout, args.max_connections
        )
        asyncio.run(serve)
    s = "" if counts.connections == 1 else "s"
    print(f"stopped: served {counts.connections} connection{s}, "
          f"echoed {counts.bytes} bytes")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
