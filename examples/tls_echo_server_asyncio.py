"""TLS echo server with asyncio: many clients, each handshake logged.

Shows TLS on asyncio streams without losing sight of failed handshakes.
asyncio.start_server(ssl=context) does the handshake before your handler
runs and, when it fails, says nothing (in debug mode it logs a
traceback): a plaintext client or a rejected certificate leaves no trace.
So this server accepts plain TCP itself (loop.sock_accept()) and does the
handshake in each connection's task, with loop.connect_accepted_socket(
ssl=context), bounded by --handshake-timeout: every failure is one log
line, and the server goes on. After the handshake, each connection is
echoed as by the asyncio TCP server (tcp_echo_server_asyncio.py).

The TLS options and settings are the blocking TLS server's
(tls_echo_server.py): --cert, --key, --client-ca for mutual TLS, TLS 1.2
at least. The rest (--max-connections, --idle-timeout, signals, summary)
is the TCP servers'. Copy tls_echo_server.py, tcp_echo_server_asyncio.py,
tcp_echo_server_blocking.py and net.py with it.

    python examples/tls_echo_server_asyncio.py
    python examples/tls_echo_server_asyncio.py --port 0 -v

Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage (a
certificate or key that cannot be loaded).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
import sys
from functools import partial
from typing import Any

import net
from tcp_echo_server_asyncio import serve_connection
from tcp_echo_server_blocking import Counts, run
from tls_echo_server import server_context, tls_parser

log = logging.getLogger("tcp_server")

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def accept_tls(conn: socket.socket, context: ssl.SSLContext) -> Streams:
    """Do the TLS handshake on an accepted connection; return its streams
    (what start_server() would hand a handler)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, protocol = await loop.connect_accepted_socket(
        lambda: asyncio.StreamReaderProtocol(reader), conn, ssl=context
    )  # raises whatever ended the handshake (1)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


async def serve_async(
    listener: socket.socket,
    counts: Counts,
    context: ssl.SSLContext,
    handshake_timeout: float,
    idle_timeout: float,
    max_connections: int,
) -> None:
    """Serve every connection until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    handlers: set[asyncio.Task[None]] = set()

    async def handle(conn: socket.socket, peer: str) -> None:
        with conn:  # closed however this ends (the transport closes it too)
            # As in the blocking TLS server: no wait for ACKs before the
            # echo. (asyncio sets TCP_NODELAY only on a socket whose proto
            # is IPPROTO_TCP; an accepted one's is 0.)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                reader, writer = await asyncio.wait_for(
                    accept_tls(conn, context), handshake_timeout
                )
            except asyncio.TimeoutError:
                log.warning("%s: no TLS handshake within %g s",
                            peer, handshake_timeout)  # fmt: skip
                return
            except OSError as exc:  # ssl.SSLError, reset, ...
                # asyncio raises a bare ConnectionResetError at an EOF.
                reason = net.reason(exc) or "the client closed the connection"
                log.warning("%s: TLS handshake failed: %s", peer, reason)
                return
            ssl_object = writer.get_extra_info("ssl_object")
            log.info("%s: %s", peer, net.describe_tls(ssl_object))
            await serve_connection(reader, writer, peer, counts, idle_timeout)

    async def accept() -> None:
        while True:
            conn, address = await loop.sock_accept(listener)
            peer = net.format_address(address)
            if len(handlers) >= max_connections:
                log.warning("%s: refused: %d connections open",
                            peer, len(handlers))  # fmt: skip
                conn.close()
                continue
            counts.connections += 1
            log.info("%s: connected", peer)
            task = asyncio.ensure_future(handle(conn, peer))
            handlers.add(task)
            task.add_done_callback(handlers.discard)

    listener.setblocking(False)  # sock_accept() needs it
    accepting = asyncio.ensure_future(accept())
    try:
        await stop.wait()
    finally:  # no new connections, then end every handler and wait
        accepting.cancel()
        for task in handlers:
            task.cancel()
        await asyncio.gather(accepting, *handlers, return_exceptions=True)


def serve(listener: socket.socket, counts: Counts, **options: Any) -> None:
    asyncio.run(serve_async(listener, counts, **options))


def main(argv: list[str] | None = None) -> int:
    options = tls_parser(__doc__, many=True)
    args = options.parse_args(argv)
    return run(
        args,
        partial(
            serve,
            context=server_context(args, options),
            handshake_timeout=args.handshake_timeout,
            idle_timeout=args.idle_timeout,
            max_connections=args.max_connections,
        ),
        backlog=socket.SOMAXCONN,
    )


if __name__ == "__main__":
    sys.exit(main())
