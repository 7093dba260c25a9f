"""TCP framing server: echo length-prefixed messages on one connection.

Shows message framing on a byte stream. Each message is a 4-byte
big-endian length, then that many bytes (net.send_message and
net.recv_message, which read with an exact-length loop). The server echoes
each message as a message, one connection at a time, until the client's
EOF between two messages. A length over --max-size is refused before
anything is allocated for it: the server logs one line, closes that
connection and serves the next.

Everything else (options, "listening on", idle timeout, signals, summary)
is the blocking echo server's, imported from tcp_echo_server_blocking.py:
copy both files and net.py together.

    python examples/tcp_framing_server.py
    python examples/tcp_framing_server.py --port 0 -v --max-size 65536

Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage.
"""

from __future__ import annotations

import logging
import socket
import sys
from functools import partial

import net
from tcp_echo_server_blocking import Counts, parser, run, serve

log = logging.getLogger("tcp_server")


def echo_messages(conn: socket.socket, counts: Counts, max_size: int) -> None:
    """Echo each message until the peer ends between two of them."""
    peer = net.format_address(conn.getpeername())
    while (message := net.recv_message(conn, max_size)) is not None:
        counts.bytes += len(message)
        net.send_message(conn, message)
        log.info("%s: echoed a message of %d bytes", peer, len(message))


def main(argv: list[str] | None = None) -> int:
    options = parser(__doc__)
    options.add_argument(
        "--max-size",
        type=lambda text: net.bounded_int(text, 0, 2**30),
        default=2**20,
        metavar="BYTES",
        help="the largest message accepted, up to 1 GiB "
        "(default: %(default)s)",
    )
    args = options.parse_args(argv)
    handle = partial(echo_messages, max_size=args.max_size)
    return run(
        args, partial(serve, handle=handle, idle_timeout=args.idle_timeout)
    )


if __name__ == "__main__":
    sys.exit(main())
