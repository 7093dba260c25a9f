"""Ending a TCP connection: FIN or RST, TIME_WAIT, and SO_REUSEADDR.

Shows a client and a server in one program, over loopback. The client
sends --size bytes and ends the connection four ways: close(),
shutdown(SHUT_WR) (a half-close: the server still answers), close()
after SO_LINGER with a zero timeout, and close() with data unread. Only
then does the server read: all the bytes and a FIN, or some and a RST.
Then the server ends a connection first, so that its side waits in
TIME_WAIT, and a new server tries its port without and with SO_REUSEADDR.

    python examples/tcp_close.py
    python examples/tcp_close.py --size 1000
"""

from __future__ import annotations

import argparse
import select
import signal
import socket
import struct
import sys

import net


# --8<-- [start:lesson]
def end(client: socket.socket, how: str) -> None:
    """End the client's side of the connection the way how names."""
    if how == "shutdown(SHUT_WR)":  # FIN; the client can still read
        client.shutdown(socket.SHUT_WR)
        return
    if how == "SO_LINGER 0, close()":  # RST; unsent data thrown away
        linger = struct.pack("ii", 1, 0)  # struct linger: on, 0 seconds
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    client.close()  # FIN, or RST if data arrived that it never read


def read_to_end(server: socket.socket) -> str:
    """Read until the client's FIN or RST; say how much, and which."""
    got = 0
    try:
        while data := server.recv(65_536):
            got += len(data)
    except ConnectionResetError:  # the peer sent RST
        return f"{got:,} bytes, then RST"
    return f"{got:,} bytes, then FIN"


def try_way(listener: socket.socket, how: str, data: bytes) -> str:
    """Send data, end the connection the way how names, then let the
    server read. Return what the server saw."""
    with socket.create_connection(listener.getsockname()[:2]) as client:
        server, _ = listener.accept()
        with server:
            if how == "close(), data unread":
                server.sendall(b"unread")  # arrives, is never read
                select.select([client], [], [], client.gettimeout())
            client.sendall(data)  # queued; the server has not read yet
            end(client, how)
            seen = read_to_end(server)
            if how == "shutdown(SHUT_WR)":  # the other way is still open
                server.sendall(b"got it")
                seen += f"; answer: {client.recv(64)!r}"
    return seen


def restart(address: tuple[str, int]) -> list[tuple[str, str]]:
    """Leave a connection in TIME_WAIT on the server's port (the server
    closes first), then listen there again without and with
    SO_REUSEADDR. Return what each bind() said."""
    listener = socket.create_server(address)  # sets SO_REUSEADDR
    with listener, socket.create_connection(address) as client:
        server, _ = listener.accept()
        server.close()  # FIN first: the server's side goes TIME_WAIT
        client.recv(1)  # b"": the client's close() completes it
    said = []
    for reuse in (0, 1):
        with socket.socket() as again:
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, reuse)
            try:
                again.bind(address)
                outcome = "bound"
            except OSError as exc:  # EADDRINUSE
                outcome = net.reason(exc)
        said.append(
            (f"{'with' if reuse else 'without'} SO_REUSEADDR", outcome)
        )
    return said


# --8<-- [end:lesson]
WAYS = [
    "close()",
    "shutdown(SHUT_WR)",
    "SO_LINGER 0, close()",
    "close(), data unread",
]
EXITS = """\
Exit status: 0 shown, 1 a network failure, 2 bad usage, 130 interrupted
(Ctrl+C)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, server=True, exits=EXITS)
    parser.set_defaults(port=0)
    parser.add_argument(
        "--size",
        type=lambda text: net.bounded_int(text, 1, 1_000_000),
        default=200_000,
        metavar="BYTES",
        help="what the client sends each way, 1 to 1000000 "
        "(default: %(default)s)",
    )
    net.add_timeout(
        parser, 5.0, "seconds each step may wait (default: %(default)s)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    socket.setdefaulttimeout(args.timeout)  # every socket's every wait
    try:
        listener = socket.create_server((args.host, args.port))
    except OSError as exc:
        where = net.format_address((args.host, args.port))
        return net.fail(f"cannot listen on {where}: {net.reason(exc)}")
    address = listener.getsockname()[:2]
    where = net.format_address(address)
    try:
        with listener:
            print(f"the client sends {args.size:,} bytes to {where} and "
                  "ends; the server reads:")  # fmt: skip
            for how in WAYS:
                print(f"  {how:22} {try_way(listener, how, b'x' * args.size)}")
        print(f"the server closes first, then a new one binds {where}:")
        for what, outcome in restart(address):
            print(f"  {what:22} {outcome}")
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except OSError as exc:  # timed out
        return net.fail(f"{where}: {net.reason(exc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
