"""Nagle's algorithm and delayed ACKs: why a small request waits 40 ms.

Shows a client and a server in one program, over loopback TCP. Each
request is a header and a body; the server answers once it has both. The
client sends them three ways and times --count requests each: two writes
with Nagle's algorithm on (the second waits for the ACK of the first,
which the server delays), two writes with TCP_NODELAY, and one write
(sendmsg() with both buffers). It prints the median and 99th percentile
round trip of each.

    python examples/tcp_nodelay.py
    python examples/tcp_nodelay.py --count 200 --size 1000
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import struct
import sys
import threading
import time

import net

# --8<-- [start:lesson]
HEADER = struct.Struct("!I")  # each request: its body's length, then it
ANSWER = b"ok"


def ask(sock: socket.socket, body: bytes, how: str) -> None:
    """Send one request: a header and a body, in the way how says."""
    header = HEADER.pack(len(body))
    if how == "one write":  # both buffers in one system call
        sock.sendmsg([header, body])
    else:  # two writes: the second may wait (Nagle)
        sock.sendall(header)
        sock.sendall(body)
    sock.recv(len(ANSWER))  # the answer, which the server sends at once


def time_requests(
    listener: socket.socket, how: str, count: int, size: int, timeout: float
) -> list[float]:
    """Round trips, in seconds, of count requests sent the way how says,
    to the server: listener's end of the connection, in a thread."""
    body = b"x" * size
    address = listener.getsockname()[:2]
    with socket.create_connection(address, timeout) as sock:
        conn, _ = listener.accept()  # queued already: no wait
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
        if how == "two writes, TCP_NODELAY":  # Nagle's algorithm off
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ask(sock, body, how)  # the first exchanges run in quick-ACK mode
        times = []
        for _ in range(count):
            start = time.perf_counter()
            ask(sock, body, how)
            times.append(time.perf_counter() - start)
        return times


def answer(conn: socket.socket) -> None:
    """The server's side: read each request whole, answer it at once."""
    with conn:
        while header := read_exactly(conn, HEADER.size):
            (size,) = HEADER.unpack(header)
            read_exactly(conn, size)
            conn.sendall(ANSWER)  # one write, with nothing unacknowledged


# --8<-- [end:lesson]
WAYS = ["two writes, Nagle on", "two writes, TCP_NODELAY", "one write"]
SERVER_WAIT = 10.0  # seconds the server waits for the rest of a request


def read_exactly(conn: socket.socket, size: int) -> bytes:
    """size bytes from conn, or b"" at its end."""
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return b""
        data += chunk
    return bytes(data)


def serve(conn: socket.socket) -> None:
    """The server's end of one connection, in a thread of its own."""
    conn.settimeout(SERVER_WAIT)
    with contextlib.suppress(OSError):  # the client gave up: it says why
        answer(conn)


def percentile(times: list[float], p: int) -> float:
    """The p-th percentile (nearest rank) of times, in microseconds."""
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, len(ordered) * p // 100)] * 1e6


EXITS = """\
Exit status: 0 measured, 1 a network failure, 2 bad usage, 130
interrupted (Ctrl+C)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, server=True, exits=EXITS)
    parser.set_defaults(port=0)
    parser.add_argument(
        "--count",
        type=lambda text: net.bounded_int(text, 1, 10_000),
        default=40,
        metavar="N",
        help="requests to time each way, 1 to 10000 (default: %(default)s)",
    )
    parser.add_argument(
        "--size",
        type=lambda text: net.bounded_int(text, 1, 65_536),
        default=100,
        metavar="BYTES",
        help="each request's body, 1 to 65536 (default: %(default)s)",
    )
    net.add_timeout(
        parser, 2.0, "seconds each read may wait (default: %(default)s)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    try:
        listener = socket.create_server((args.host, args.port))
    except OSError as exc:
        where = net.format_address((args.host, args.port))
        return net.fail(f"cannot listen on {where}: {net.reason(exc)}")
    with listener:
        address = listener.getsockname()[:2]
        where = net.format_address(address)
        print(f"{args.count} requests of {HEADER.size} + {args.size} bytes "
              f"to {address[0]}, each answered at once:")  # fmt: skip
        try:
            for how in WAYS:
                times = time_requests(
                    listener, how, args.count, args.size, args.timeout
                )
                print(f"  {how:24} p50 {percentile(times, 50):9,.0f} us   "
                      f"p99 {percentile(times, 99):9,.0f} us")  # fmt: skip
        except KeyboardInterrupt:
            return 128 + signal.SIGINT
        except OSError as exc:  # timed out, reset...
            return net.fail(f"{where}: {net.reason(exc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
