"""TCP echo server, blocking: one client at a time.

Shows the simplest TCP server: a listening socket from
socket.create_server(), an accept() loop, and for each connection a
recv()/sendall() loop that sends every byte back until the client's EOF.
While it serves one client, the next ones wait in the kernel's queue, so a
connection that sends nothing for --idle-timeout seconds is closed: one
idle client cannot hold the server forever. It prints "listening on
HOST:PORT" once listening (--port 0 takes any free port); Ctrl+C (SIGINT)
or SIGTERM stops it with a one-line summary, even mid-connection.

    python examples/tcp_echo_server_blocking.py
    python examples/tcp_echo_server_blocking.py --port 0 -v

Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import net

log = logging.getLogger("tcp_server")

BACKLOG = 16  # connections the kernel queues while one is being served


@dataclass
class Counts:
    """What the server did, for the summary line."""

    connections: int = 0
    bytes: int = 0


def echo(conn: socket.socket, counts: Counts) -> None:
    """Send back every byte until the peer's EOF."""
    while data := conn.recv(65_536):  # b"": the peer sent its EOF (1)
        counts.bytes += len(data)
        conn.sendall(data)  # send() may take less; sendall() loops (2)


Handler = Callable[[socket.socket, Counts], None]
Serve = Callable[[socket.socket, Counts], None]
# serve(listener, counts, idle_timeout=..., max_connections=...)
ServeMany = Callable[..., None]


def serve(
    listener: socket.socket,
    counts: Counts,
    *,
    handle: Handler,
    idle_timeout: float,
) -> None:
    """Serve one connection after another, for ever."""
    while True:
        conn, addr = listener.accept()
        with conn:  # closed however the handler ends
            counts.connections += 1
            peer = net.format_address(addr)
            serve_one(
                conn, peer, counts, handle=handle, idle_timeout=idle_timeout
            )


def serve_one(
    conn: socket.socket,
    peer: str,
    counts: Counts,
    *,
    handle: Handler,
    idle_timeout: float,
    logger: logging.Logger = log,
) -> None:
    """Run handle on one connection; log how it ended, to logger."""
    logger.info("%s: connected", peer)
    # Each recv() and sendall() may wait this long, no more.
    conn.settimeout(idle_timeout)
    try:
        handle(conn, counts)
    except socket.timeout:  # TimeoutError from Python 3.10
        logger.info("%s: idle for %g s: closed", peer, idle_timeout)
    except (OSError, EOFError, ValueError) as exc:
        # reset by the peer, a message cut short, too large...
        logger.warning("%s: %s", peer, net.reason(exc))
    else:
        logger.info("%s: done", peer)


def parser(
    description: str | None, many: bool = False, unix: bool = False
) -> argparse.ArgumentParser:
    """The options of this server, for it and the servers built on it;
    many: for a server of many connections at once; unix: on a Unix
    socket (--path), not TCP."""
    new = net.parser(description, server=True, unix=unix)
    new.add_argument(
        "--idle-timeout",
        type=net.seconds,
        default=10.0,
        metavar="S",
        help="close a connection that sends nothing for this long "
        "(default: %(default)s)",
    )
    if many:
        new.add_argument(
            "--max-connections",
            type=lambda text: net.bounded_int(text, 1, 100_000),
            default=1000,  # a process may open 1,024 files by default
            metavar="N",
            help="close at once a connection over this many "
            "(default: %(default)s)",
        )
    return new


def run(args: argparse.Namespace, serve: Serve, backlog: int = BACKLOG) -> int:
    """Listen as args say, then serve(listener, counts) until SIGINT or
    SIGTERM; return the exit status."""
    net.setup_logging(args.verbose)
    # SIGTERM stops the server the way Ctrl+C does: KeyboardInterrupt
    # leaves whatever call is waiting, and with blocks close the sockets.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        family, _, _, _, address = socket.getaddrinfo(
            args.host, args.port, type=socket.SOCK_STREAM
        )[0]
        # create_server() sets SO_REUSEADDR: a restarted server may bind
        # while connections of the last one linger in TIME_WAIT. (3)
        listener = socket.create_server(
            address, family=family, backlog=backlog
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
        try:
            print(f"listening on {where}", flush=True)
            serve(listener, counts)
        except KeyboardInterrupt:  # SIGINT, or SIGTERM: see above
            pass
    print(stopped(counts))
    return 0


def stopped(counts: Counts) -> str:
    """The summary line a server prints when it stops."""
    return (
        f"stopped: served {counts.connections} "
        f"connection{'' if counts.connections == 1 else 's'}, "
        f"echoed {counts.bytes} bytes"
    )


def run_many(
    argv: list[str] | None, description: str | None, serve: ServeMany
) -> int:
    """main() of a server of many connections at once: its options, then
    serve(listener, counts, idle_timeout=..., max_connections=...)."""
    args = parser(description, many=True).parse_args(argv)
    return run(
        args,
        partial(
            serve,
            idle_timeout=args.idle_timeout,
            max_connections=args.max_connections,
        ),
        backlog=socket.SOMAXCONN,  # a queue as long as the system allows
    )


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__).parse_args(argv)
    return run(
        args, partial(serve, handle=echo, idle_timeout=args.idle_timeout)
    )


if __name__ == "__main__":
    sys.exit(main())
