"""TCP framing server: echo length-prefixed messages on one connection.

Shows message framing on a byte stream. Each message is a 4-byte
big-endian length, then that many bytes, read with an exact-length loop.
The server echoes each message as a message, one connection at a time,
until the client's EOF between two messages. A length over --max-size is
refused before anything is allocated for it: the server logs one line,
closes that connection and serves the next.

    python examples/tcp_framing_server.py
    python examples/tcp_framing_server.py --port 0 -v --max-size 65536
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import struct
import sys

import net

log = logging.getLogger("tcp_server")

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


def serve(
    listener: socket.socket, counts: Counts, idle_timeout: float, max_size: int
) -> None:
    """Serve one connection after another, for ever."""
    while True:
        conn, addr = listener.accept()
        with conn:  # closed however the connection ends
            counts.connections += 1
            peer = net.format_address(addr)
            log.info("%s: connected", peer)
            conn.settimeout(idle_timeout)  # for each recv() and sendall()
            try:
                while (message := recv_message(conn, max_size)) is not None:
                    counts.bytes += len(message)
                    send_message(conn, message)
                    log.info("%s: echoed a message of %d bytes",
                             peer, len(message))  # fmt: skip
            except socket.timeout:  # TimeoutError from Python 3.10
                log.info("%s: idle for %g s: closed", peer, idle_timeout)
            except (OSError, EOFError, ValueError) as exc:
                # reset by the peer, a message cut short, too large...
                log.warning("%s: %s", peer, net.reason(exc))
            else:
                log.info("%s: done", peer)


# --8<-- [end:lesson]
class Counts:
    """What the server did, for the summary line."""

    connections = 0
    bytes = 0


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
        "--max-size",
        type=lambda text: net.bounded_int(text, 0, 2**30),
        default=2**20,
        metavar="BYTES",
        help="the largest message accepted, up to 1 GiB "
        "(default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    # SIGTERM stops the server the way Ctrl+C does: KeyboardInterrupt
    # leaves whatever call is waiting, and with blocks close the sockets.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        family, _, _, _, address = socket.getaddrinfo(
            args.host, args.port, type=socket.SOCK_STREAM
        )[0]
        # create_server() sets SO_REUSEADDR: a restarted server may bind
        # while connections of the last one linger in TIME_WAIT.
        listener = socket.create_server(address, family=family, backlog=16)
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
            serve(listener, counts, args.idle_timeout, args.max_size)
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
