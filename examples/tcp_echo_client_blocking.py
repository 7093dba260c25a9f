"""TCP echo client, blocking: send a message, read the echo to its end.

Shows a TCP client that cannot deadlock: a thread sends the message and
half-closes (shutdown(SHUT_WR), "that was all"), while the main thread
reads the echo to the server's EOF and compares it. Sending everything
before reading would stall once the buffers on both sides filled. Every
wait is bounded by --timeout. Start an echo server, then:

    python examples/tcp_echo_client_blocking.py
    python examples/tcp_echo_client_blocking.py --port 9999 -v "Hi there"
    head -c 64M /dev/urandom | python examples/tcp_echo_client_blocking.py -
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
import time

import net

log = logging.getLogger("tcp_client")

# --8<-- [start:lesson]
CHUNK = 65_536  # bytes per send, so that each one is bounded by --timeout


class EchoError(Exception):
    """The server's reply is not the echo of the message."""


def send_all_then_eof(sock: socket.socket, message: bytes) -> None:
    """Send the message, then half-close: the server sees EOF."""
    view = memoryview(message)
    for start in range(0, len(message), CHUNK):
        sock.sendall(view[start : start + CHUNK])
    sock.shutdown(socket.SHUT_WR)  # "that was all"; reading goes on (1)
    log.info("sent %d bytes, then EOF", len(message))


class Checker:
    """Compares the bytes that arrive with the message, as they arrive."""

    def __init__(self, message: bytes) -> None:
        self.message = message
        self.got = 0

    def add(self, data: bytes | memoryview) -> None:
        """Check the next bytes; raise EchoError if they are not the echo."""
        got, count, message = self.got, len(data), self.message
        if got + count > len(message):
            raise EchoError(f"the server sent more than {len(message)} bytes")
        if data != message[got : got + count]:
            first = next(
                i for i in range(count) if data[i] != message[got + i]
            )
            raise EchoError(f"the echo differs from the message at byte "
                            f"{got + first}")  # fmt: skip
        self.got += count

    def end(self) -> None:
        """At the server's EOF: raise EchoError unless it echoed all."""
        if self.got < len(self.message):
            raise EchoError(
                f"the server closed the connection after {self.got} of "
                f"{len(self.message)} bytes"
            )


def read_echo(sock: socket.socket, message: bytes) -> None:
    """Read until the server's EOF; raise EchoError unless it echoed all."""
    checker = Checker(message)
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    while count := sock.recv_into(buffer):
        checker.add(view[:count])
    checker.end()


def echo(sock: socket.socket, message: bytes) -> None:
    """Send and read at once: a thread sends, this thread reads."""
    resets: list[ConnectionResetError] = []

    def send() -> None:
        try:
            send_all_then_eof(sock, message)
        except ConnectionResetError as exc:
            resets.append(exc)
        except OSError:  # timed out, or shut down below: the reader knows
            pass

    sender = threading.Thread(target=send)  # writes while we read (2)
    # Ctrl+C must reach this thread, which waits in recv(): the sender
    # starts with SIGINT blocked, as a new thread inherits the mask.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        sender.start()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        read_echo(sock, message)
    except BaseException:  # a failure, or Ctrl+C: stop the sender too
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes a send() that waits
        except OSError:  # the connection is gone already
            pass
        raise
    finally:
        sender.join()
        # The kernel reports a reset to one call only. If the send got it,
        # the read saw just an early end: the reset is what to report.
        if resets:
            raise resets[0]


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 the echo matched, 1 network failure (refused, timed out,
reset, or an echo that is cut short or different), 2 bad usage, 130
interrupted (Ctrl+C)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, exits=EXITS)
    net.add_message(parser, "Hello, stream!")
    net.add_timeout(
        parser,
        5.0,
        "the longest wait for the connection, for each 64 KiB "
        "sent and for each read (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    args.data = net.message_bytes(args.message)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    peer = net.format_address((args.host, args.port))
    try:
        # The timeout bounds the connect, then each send and each read.
        with net.connect(args.host, args.port, args.timeout) as sock:
            peer = net.format_address(sock.getpeername())
            log.info("%s", net.describe(sock))
            start = time.perf_counter()
            echo(sock, args.data)
            seconds = time.perf_counter() - start
    except socket.timeout:  # a read waited --timeout
        return net.fail(f"{peer}: nothing received for {args.timeout:g} s")
    except (KeyboardInterrupt, OSError, EchoError) as exc:  # refused, reset
        return net.failed(exc, args.host, peer)
    shown = net.shorten(args.data)
    print(f"sent {len(args.data)} bytes to {peer}: {shown}")
    print(f"received {len(args.data)} bytes in {seconds * 1000:.1f} ms: "
          f"{shown}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
