"""TCP echo client, naive: send everything, then read. It deadlocks.

Shows why a TCP client must read while it writes. This one sends --size
bytes before reading. The unread echo fills this client's receive buffer
and the server's send buffer; the server blocks in send() and stops
reading; the message fills the other two buffers, and this client blocks
too. When send() makes no progress for --timeout seconds, it says how far
it got and exits 1. Start an echo server, then:

    python examples/tcp_echo_client_naive.py --size 1000
    python examples/tcp_echo_client_naive.py
"""

from __future__ import annotations

import argparse
import socket
import sys

import net

# --8<-- [start:lesson]
CHUNK = 65_536


def send_then_read(sock: socket.socket, size: int) -> int:
    """Send size bytes, then read the echo; return the bytes sent."""
    message = memoryview(bytes(size))
    sent = 0
    while sent < size:
        try:
            # Blocks while the send buffer is full, up to --timeout. (1)
            sent += sock.send(message[sent : sent + CHUNK])
        except socket.timeout:
            return sent  # stalled: the buffers on both sides are full
    sock.shutdown(socket.SHUT_WR)
    received = 0
    while data := sock.recv(CHUNK):
        received += len(data)
    if received != size:
        raise EOFError(f"{received} of {size} bytes came back")
    return sent


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 the whole echo came back, 1 stalled or a network failure,
2 bad usage, 130 interrupted (Ctrl+C)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, exits=EXITS)
    parser.add_argument(
        "--size",
        type=lambda text: net.bounded_int(text, 1, 2**30),
        default=64 * 2**20,
        metavar="BYTES",
        help="how much to send, up to 1 GiB (default: %(default)s, 64 MiB)",
    )
    net.add_timeout(
        parser,
        2.0,
        "the longest wait for the connection, for each send() and "
        "for each read (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    peer = net.format_address((args.host, args.port))
    try:
        with net.connect(args.host, args.port, args.timeout) as sock:
            peer = net.format_address(sock.getpeername())
            sent = send_then_read(sock, args.size)
    except (KeyboardInterrupt, OSError, EOFError) as exc:  # a short echo
        return net.failed(exc, args.host, peer)
    if sent < args.size:
        return net.fail(
            f"{peer}: deadlock: sent {sent:,} of {args.size:,} bytes, then "
            f"no progress for {args.timeout:g} s"
        )
    print(f"sent {sent:,} bytes, then read all {sent:,} back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
