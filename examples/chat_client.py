"""Chat client: the terminal and the socket, read together.

Shows a client that waits on two things at once with selectors: what
the user types (standard input) goes to the server as it comes, and what
the server sends is printed as it comes, whichever is first. At the end
of its input (Ctrl+D) it half-closes, and prints what the server still
sends until the server closes. --nick sends /nick NAME first.

    python examples/chat_client.py --nick ada
    printf 'hello\\n/quit\\n' | python examples/chat_client.py
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import sys

import net


# --8<-- [start:lesson]
def chat(sock: socket.socket, typed: int) -> None:
    """Send what arrives on the file descriptor typed (the terminal) to
    sock, and print what arrives on sock, until the server closes."""
    # poll(), not epoll: epoll refuses a file or /dev/null as stdin.
    with selectors.PollSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        selector.register(typed, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is sock:
                    data = sock.recv(65_536)
                    if not data:  # the server closed the connection
                        return
                    sys.stdout.buffer.write(data)
                    sys.stdout.flush()
                    continue
                data = os.read(typed, 65_536)  # what is there, not a line
                if data:
                    sock.sendall(data)
                else:  # Ctrl+D: no more to say, but still listening
                    sock.shutdown(socket.SHUT_WR)
                    selector.unregister(typed)


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 the server closed the connection, 1 a network failure, 2
bad usage, 130 interrupted (Ctrl+C)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, exits=EXITS)
    parser.add_argument(
        "--nick",
        metavar="NAME",
        help="the nick to ask for first (default: the server's guestN)",
    )
    net.add_timeout(
        parser, 5.0, "seconds to wait for the connection and for each "
        "send (default: %(default)s)",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    peer = net.format_address((args.host, args.port))
    try:
        with net.connect(args.host, args.port, args.timeout) as sock:
            peer = net.format_address(sock.getpeername())
            if args.nick:
                sock.sendall(f"/nick {args.nick}\n".encode())
            chat(sock, sys.stdin.fileno())
    except (KeyboardInterrupt, OSError) as exc:  # Ctrl+C, refused, reset
        return net.failed(exc, args.host, peer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
