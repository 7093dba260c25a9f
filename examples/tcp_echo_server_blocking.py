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
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
from dataclasses import dataclass

import net

log = logging.getLogger("tcp_server")

# --8<-- [start:lesson]
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


def serve(
    listener: socket.socket, counts: Counts, idle_timeout: float
) -> None:
    """Serve one connection after another, for ever."""
    while True:
        conn, addr = listener.accept()
        with conn:  # closed however serving it ends
            counts.connections += 1
            peer = net.format_address(addr)
            log.info("%s: connected", peer)
            # Each recv() and sendall() may wait this long, no more.
            conn.settimeout(idle_timeout)
            try:
                echo(conn, counts)
            except socket.timeout:  # TimeoutError from Python 3.10
                log.info("%s: idle for %g s: closed", peer, idle_timeout)
            except OSError as exc:  # reset by the peer, ...
                log.warning("%s: %s", peer, net.reason(exc))
            else:
                log.info("%s: done", peer)


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket listening on host:port (a name, or an address)."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    )[0]
    # create_server() sets SO_REUSEADDR: a restarted server may bind
    # while connections of the last one linger in TIME_WAIT. (3)
    return socket.create_server(address, family=family, backlog=BACKLOG)


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage."""


def parser() -> argparse.ArgumentParser:
    new = net.parser(__doc__, exits=EXITS, server=True)
    new.add_argument(
        "--idle-timeout",
        type=net.seconds,
        default=10.0,
        metavar="S",
        help="close a connection that sends nothing for this long "
        "(default: %(default)s)",
    )
    return new


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    net.setup_logging(args.verbose)
    # SIGTERM stops the server the way Ctrl+C does: KeyboardInterrupt
    # leaves whatever call is waiting, and with blocks close the sockets.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        listener = listen(args.host, args.port)
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
            serve(listener, counts, args.idle_timeout)
        except KeyboardInterrupt:  # SIGINT, or SIGTERM: see above
            pass
    print(
        f"stopped: served {counts.connections} "
        f"connection{'' if counts.connections == 1 else 's'}, "
        f"echoed {counts.bytes} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
