"""TCP echo server, a thread per connection: socketserver.ThreadingTCPServer.

Shows the shortest way to serve many clients at once: the blocking
server's recv()/sendall() loop, unchanged, run in a thread of its own for
each connection by socketserver.ThreadingTCPServer. Each thread costs
memory (its stack) and the operating system's time, so --max-connections
bounds them: a connection over the limit is closed at once, and logged.
An idle connection is closed after --idle-timeout, as in the blocking
server. Ctrl+C (SIGINT) or SIGTERM shuts every connection down, waits for
the threads, and prints a one-line summary.

    python examples/tcp_echo_server_threads.py
    python examples/tcp_echo_server_threads.py --port 0 -v
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import socket
import socketserver
import sys
import threading
from dataclasses import dataclass
from typing import Any

import net

log = logging.getLogger("tcp_server")

# --8<-- [start:lesson]


class EchoServer(socketserver.ThreadingTCPServer):
    """Starts a thread per connection, up to max_connections at once."""

    def __init__(
        self,
        listener: socket.socket,
        counts: Counts,
        idle_timeout: float,
        max_connections: int,
    ) -> None:
        super().__init__(
            listener.getsockname(), EchoHandler, bind_and_activate=False
        )
        # socketserver makes a socket of its own; use the one main() made,
        # which is listening already.
        self.socket.close()
        self.socket = listener
        self.counts = counts
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.lock = threading.Lock()  # for what the threads share:
        self.open: set[socket.socket] = set()  # the connections, counts
        self.stopping = False

    def verify_request(self, request: Any, client_address: Any) -> bool:
        # Called for each new connection before its thread starts.
        with self.lock:
            if len(self.open) >= self.max_connections:
                log.warning("%s: refused: %d connections open",
                            net.format_address(client_address),
                            len(self.open))  # fmt: skip
                return False  # socketserver closes it
            self.open.add(request)
            self.counts.connections += 1
        return True

    def shutdown_request(self, request: Any) -> None:
        # Called when a connection's thread ends, or it was refused.
        with self.lock:
            self.open.discard(request)
        super().shutdown_request(request)

    def stop(self) -> None:
        """End every connection's recv() or sendall(), then join them."""
        with self.lock:
            self.stopping = True
            for conn in self.open:
                with contextlib.suppress(OSError):  # unless it is gone
                    conn.shutdown(socket.SHUT_RDWR)  # the thread sees EOF
        self.server_close()  # waits for every thread (block_on_close)


class EchoHandler(socketserver.BaseRequestHandler):
    """Echoes one connection, in its own thread."""

    server: EchoServer

    def handle(self) -> None:
        conn, idle = self.request, self.server.idle_timeout
        peer = net.format_address(self.client_address)
        log.info("%s: connected", peer)
        echoed = 0  # counted apart, then added under the lock
        conn.settimeout(idle)  # each recv() and sendall() waits this long
        try:
            while data := conn.recv(65_536):  # b"": the client's EOF
                echoed += len(data)
                conn.sendall(data)
        except socket.timeout:  # TimeoutError from Python 3.10
            why, level = f"idle for {idle:g} s: closed", logging.INFO
        except OSError as exc:  # reset by the peer, ...
            why, level = net.reason(exc), logging.WARNING
        else:
            why, level = "done", logging.INFO
        if self.server.stopping:  # stop() ended it: neither done nor failed
            why, level = "closed: the server is stopping", logging.INFO
        log.log(level, "%s: %s", peer, why)
        with self.server.lock:
            self.server.counts.bytes += echoed


def serve(
    listener: socket.socket,
    counts: Counts,
    idle_timeout: float,
    max_connections: int,
) -> None:
    """Serve every connection in a thread of its own until SIGINT or
    SIGTERM."""
    server = EchoServer(listener, counts, idle_timeout, max_connections)
    # The kernel may hand a signal to any thread that does not block it,
    # and Python would then raise KeyboardInterrupt wherever the main
    # thread is: perhaps in socketserver, starting a connection's thread
    # (it would close that connection under it). So every thread blocks
    # SIGINT and SIGTERM (new threads inherit the mask), socketserver
    # accepts in a thread of its own, and the main thread takes the
    # signal when it comes, here.
    stopping = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stopping)
    threading.Thread(target=server.serve_forever).start()
    where = net.format_address(listener.getsockname())
    print(f"listening on {where}", flush=True)  # signals are ours now
    try:
        signal.sigwait(stopping)
    finally:
        server.shutdown()  # serve_forever() returns within 0.5 s
        server.stop()


# --8<-- [end:lesson]
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
        serve(listener, counts, args.idle_timeout, args.max_connections)
    print(
        f"stopped: served {counts.connections} "
        f"connection{'' if counts.connections == 1 else 's'}, "
        f"echoed {counts.bytes} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
