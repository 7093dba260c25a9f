"""TCP framing client: several messages on one connection, each echoed.

Shows the client side of length-prefixed framing: each message goes out as
a 4-byte big-endian length and its bytes (net.send_message), and each reply
is read back whole, however the stream splits it (net.recv_message). The
messages are the arguments, or the lines of stdin for "-"; an empty one is
a message too. A reply longer than --max-size is refused unread.

Start a framing server, then:

    python examples/tcp_framing_client.py
    python examples/tcp_framing_client.py one "" three
    printf 'one line\nanother\n' | python examples/tcp_framing_client.py -

Exit status: 0 every reply matched, 1 network failure (refused, timed out,
reset, a reply cut short, too long or different), 2 bad usage, 130
interrupted (Ctrl+C).
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import time

import net

log = logging.getLogger("tcp_client")


def exchange(
    sock: socket.socket, messages: list[bytes], max_size: int
) -> None:
    """Send each message and read its echo before sending the next."""
    for number, message in enumerate(messages, 1):
        net.send_message(sock, message)
        reply = net.recv_message(sock, max_size)
        if reply is None:
            raise EOFError(f"the server closed the connection before reply "
                           f"{number}")  # fmt: skip
        if reply != message:
            raise ValueError(f"reply {number} is not the message sent")
        print(f"echoed {len(reply)} bytes: {net.shorten(reply)}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__)
    parser.add_argument(
        "messages",
        nargs="*",
        default=["Hello", "framed", "world"],
        metavar="MESSAGE",
        help='messages to send, as typed; "-" reads one a line from stdin '
        "(default: Hello framed world)",
    )
    net.add_timeout(
        parser,
        5.0,
        "the longest wait for the connection, and for each send "
        "and each reply (default: %(default)s)",
    )
    parser.add_argument(
        "--max-size",
        type=lambda text: net.bounded_int(text, 0, 2**30),
        default=2**20,
        metavar="BYTES",
        help="the largest reply accepted (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.messages == ["-"]:
        args.data = sys.stdin.buffer.read().splitlines()
    else:
        args.data = [net.message_bytes(text) for text in args.messages]
    for message in args.data:
        if len(message) > args.max_size:
            parser.error(f"a message of {len(message)} bytes is over "
                         f"--max-size {args.max_size}")  # fmt: skip
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    peer = net.format_address((args.host, args.port))
    try:
        with net.connect(args.host, args.port, args.timeout) as sock:
            peer = net.format_address(sock.getpeername())
            log.info("%s", net.describe(sock))
            start = time.perf_counter()
            exchange(sock, args.data, args.max_size)
            seconds = time.perf_counter() - start
    except socket.timeout:  # a reply did not come within --timeout
        return net.fail(f"{peer}: no reply within {args.timeout:g} s")
    except (KeyboardInterrupt, OSError, EOFError, ValueError) as exc:
        return net.failed(exc, args.host, peer)  # refused, cut short, ...
    count = len(args.data)
    print(f"{count} message{'' if count == 1 else 's'} to {peer} and back "
          f"in {seconds * 1000:.1f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
