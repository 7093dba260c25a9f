"""TCP echo server, a thread per connection: socketserver.ThreadingTCPServer.

Shows the shortest way to serve many clients at once: the blocking
server's recv()/sendall() loop, unchanged, run in a thread of its own for
each connection by socketserver.ThreadingTCPServer. Each thread costs
memory (its stack) and the operating system's time, so --max-connections
bounds them: a connection over the limit is closed at once, and logged.
An idle connection is closed after --idle-timeout, as in the blocking
server. Ctrl+C (SIGINT) or SIGTERM shuts every connection down, waits for
the threads, and prints a one-line summary.

Options, "listening on" and the summary are the blocking server's,
imported from tcp_echo_server_blocking.py: copy both files and net.py.

    python examples/tcp_echo_server_threads.py
    python examples/tcp_echo_server_threads.py --port 0 -v

Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import socketserver
import sys
import threading
from typing import Any

import net
from tcp_echo_server_blocking import Counts, echo, run_many, serve_one

log = logging.getLogger("tcp_server")


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
        # socketserver makes a socket of its own; use the one run() made,
        # which is listening already.
        self.socket.close()
        self.socket = listener
        self.counts = counts
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.lock = threading.Lock()  # for what the threads share:
        self.open: set[socket.socket] = set()  # the connections, counts

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
            for conn in self.open:
                with contextlib.suppress(OSError):  # unless it is gone
                    conn.shutdown(socket.SHUT_RDWR)  # the thread sees EOF
        self.server_close()  # waits for every thread (block_on_close)


class EchoHandler(socketserver.BaseRequestHandler):
    """Echoes one connection, in its own thread."""

    server: EchoServer

    def handle(self) -> None:
        mine = Counts()  # counted apart, then added under the lock
        peer = net.format_address(self.client_address)
        idle = self.server.idle_timeout
        serve_one(self.request, peer, mine, handle=echo, idle_timeout=idle)
        with self.server.lock:
            self.server.counts.bytes += mine.bytes


def serve(
    listener: socket.socket,
    counts: Counts,
    *,
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
    try:
        signal.sigwait(stopping)
    finally:
        server.shutdown()  # serve_forever() returns within 0.5 s
        server.stop()


def main(argv: list[str] | None = None) -> int:
    return run_many(argv, __doc__, serve)


if __name__ == "__main__":
    sys.exit(main())
