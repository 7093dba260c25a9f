"""TLS echo server with asyncio: many clients, each handshake logged.

asyncio.start_server(ssl=context) does the handshake before the handler
runs and says nothing when it fails. This server accepts plain TCP
(loop.sock_accept()) and does the handshake in each connection's task,
with loop.connect_accepted_socket(ssl=context) under --handshake-timeout:
each failure is one log line. Make a certificate as the TLS server's page
shows, then:

    python examples/tls_echo_server_asyncio.py
    python examples/tls_echo_server_asyncio.py --port 0 -v
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import sys
from dataclasses import dataclass

import net

log = logging.getLogger("tcp_server")

# --8<-- [start:lesson]
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
    args: argparse.Namespace,
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
                    accept_tls(conn, context), args.handshake_timeout
                )
            except asyncio.TimeoutError:
                log.warning("%s: no TLS handshake within %g s",
                            peer, args.handshake_timeout)  # fmt: skip
                return
            except OSError as exc:  # ssl.SSLError, reset, ...
                # asyncio raises a bare ConnectionResetError at an EOF.
                reason = net.reason(exc) or "the client closed the connection"
                log.warning("%s: TLS handshake failed: %s", peer, reason)
                return
            ssl_object = writer.get_extra_info("ssl_object")
            log.info("%s: %s", peer, net.describe_tls(ssl_object))
            await serve_connection(
                reader, writer, peer, counts, args.idle_timeout
            )

    async def accept() -> None:
        while True:
            conn, address = await loop.sock_accept(listener)
            peer = net.format_address(address)
            if len(handlers) >= args.max_connections:
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
    where = net.format_address(listener.getsockname())
    print(f"listening on {where}", flush=True)  # signals are ours now
    try:
        await stop.wait()
    finally:  # no new connections, then end every handler and wait
        accepting.cancel()
        for task in handlers:
            task.cancel()
        await asyncio.gather(accepting, *handlers, return_exceptions=True)


def server_context(
    args: argparse.Namespace, options: argparse.ArgumentParser
) -> ssl.SSLContext:
    """The server's TLS settings: safe defaults, and args' files (one that
    cannot be loaded is a usage error, exit status 2)."""
    # For a server: it proves who it is; it checks clients only if asked.
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # 3.9's default: 1.0
    try:
        context.load_cert_chain(args.cert, args.key)
    except OSError as exc:  # no such file, not PEM, key does not match...
        files = f"--cert {args.cert} and --key {args.key}"
        options.error(f"cannot load {files}: {net.reason(exc)}")
    if args.client_ca:
        try:
            context.load_verify_locations(args.client_ca)
        except OSError as exc:
            files = f"--client-ca {args.client_ca}"
            options.error(f"cannot load {files}: {net.reason(exc)}")
        context.verify_mode = ssl.CERT_REQUIRED  # no certificate: no TLS
    return context


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
    try:  # as the asyncio TCP server's: each wait bounded
        while data := await asyncio.wait_for(reader.read(CHUNK), idle_timeout):
            counts.bytes += len(data)
            writer.write(data)
            await asyncio.wait_for(writer.drain(), idle_timeout)
    except asyncio.TimeoutError:
        log.info("%s: idle for %g s: closed", peer, idle_timeout)
        writer.transport.abort()  # drop what the client did not take
    except OSError as exc:  # reset by the peer, ...
        if exc.errno is None and isinstance(exc, ConnectionResetError):
            # asyncio's "Connection lost": the client closed, TCP with no
            # close_notify (which ends TLS both ways) while we answered.
            log.info("%s: closed by the client", peer)
        else:
            log.warning("%s: %s", peer, net.reason(exc))
    except asyncio.CancelledError:  # the server is stopping: ends as if
        writer.transport.abort()  # done (3.11 logs a cancelled handler)
    else:
        log.info("%s: done", peer)
    finally:
        writer.close()
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await writer.wait_closed()  # a reset told again, or stopping


EXITS = """\
Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage (a
certificate or key that cannot be loaded)."""


def parser() -> argparse.ArgumentParser:
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
        default=200,  # about 300 KB each from Python 3.11 on: see the page
        metavar="N",
        help="close at once a connection over this many "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--cert",
        default="localhost.pem",
        metavar="FILE",
        help="the server's certificate, then any intermediate CA "
        "certificates, PEM (default: %(default)s)",
    )
    parser.add_argument(
        "--key",
        default="localhost-key.pem",
        metavar="FILE",
        help="the certificate's private key, PEM (default: %(default)s)",
    )
    parser.add_argument(
        "--client-ca",
        metavar="FILE",
        help="require a client certificate signed by a CA in this PEM "
        "file (default: none asked for)",
    )
    parser.add_argument(
        "--handshake-timeout",
        type=net.seconds,
        default=5.0,
        metavar="S",
        help="close a connection whose TLS handshake is not done in this "
        "long (default: %(default)s)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    options = parser()
    args = options.parse_args(argv)
    context = server_context(args, options)
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
        asyncio.run(serve_async(listener, counts, context, args))
    s = "" if counts.connections == 1 else "s"
    print(f"stopped: served {counts.connections} connection{s}, "
          f"echoed {counts.bytes} bytes")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
