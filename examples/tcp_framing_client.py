"""TCP framing client: several messages on one connection, each echoed.

Shows the client side of length-prefixed framing: each message goes out as
a 4-byte big-endian length and its bytes, and each reply is read back
whole, however the stream splits it. The messages are the arguments, or
the lines of stdin for "-". A reply over --max-size is refused unread.
Start a framing server, then:

    python examples/tcp_framing_client.py
    python examples/tcp_framing_client.py one "" three
    printf 'one line\nanother\n' | python examples/tcp_framing_client.py -
"""

from __future__ import annotations

import argparse
import logging
import socket
import struct
import sys
import time

import net

log = logging.getLogger("tcp_client")

# --8<-- [start:lesson]
HEADER = struct.Struct("!I")  # a message's length: 4 bytes, big-endian


def send_message(sock: socket.socket, data: bytes | bytearray) -> None:
    """Send one message: its length, then its bytes, in one call."""
    sock.sendall(HEADER.pack(len(data)) + data)


def recv_message(sock: socket.socket, max_size: int) -> bytearray | None:
    """Receive one message; None if the peer ended cleanly between two.

    Raises EOFError when the connection ends inside a message and
    ValueError for a length over max_size, before allocating it.
    """
    header = recv_exactly(sock, HEADER.size)
    if not header:
        return None
    if len(header) < HEADER.size:
        raise EOFError(
            f"connection closed inside a header ({len(header)} of 4 bytes)"
        )
    (size,) = HEADER.unpack(header)
    if size > max_size:
        raise ValueError(f"message of {size} bytes is over {max_size}")
    data = recv_exactly(sock, size)
    if len(data) < size:
        raise EOFError(
            f"connection closed inside a message ({len(data)} of {size} bytes)"
        )
    return data


def recv_exactly(sock: socket.socket, size: int) -> bytearray:
    """Receive size bytes, fewer only if the peer closes first.

    recv() returns what has arrived, which may be less than asked for:
    loop, reading into the rest of one buffer, until it is full.
    """
    buffer = bytearray(size)
    view = memoryview(buffer)
    got = 0
    while got < size:
        count = sock.recv_into(view[got:])
        if not count:  # EOF
            break
        got += count
    view.release()
    del buffer[got:]
    return buffer


def exchange(
    sock: socket.socket, messages: list[bytes], max_size: int
) -> None:
    """Send each message and read its echo before sending the next."""
    for number, message in enumerate(messages, 1):
        send_message(sock, message)
        reply = recv_message(sock, max_size)
        if reply is None:
            raise EOFError(f"the server closed the connection before reply "
                           f"{number}")  # fmt: skip
        if reply != message:
            raise ValueError(f"reply {number} is not the message sent")
        print(f"echoed {len(reply)} bytes: {net.shorten(reply)}")


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 every reply matched, 1 network failure (refused, timed out,
reset, a reply cut short, too long or different), 2 bad usage, 130
interrupted (Ctrl+C)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, exits=EXITS)
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
        args.data = net.message_bytes("-").splitlines()  # one per line
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
