"""Unix domain datagram echo client: send one datagram, wait for its echo.

Shows what a datagram client on a Unix socket must do that a UDP client
need not: bind an address of its own. A UDP socket gets a port when it
first sends; a Unix one gets nothing, and a server cannot answer a sender
with no address. bind("") asks Linux for a unique name in the abstract
namespace (autobind), so there is no file to remove afterwards. The
socket is then connected to the server, so only the server's datagrams
arrive. --timeout bounds the wait. Start a Unix datagram echo server,
then:

    python examples/unix_datagram_echo_client.py
    python examples/unix_datagram_echo_client.py --path /tmp/echo.sock -v
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import time

import net

log = logging.getLogger("unix_client")


# --8<-- [start:lesson]
def open_socket(address: str) -> socket.socket:
    """A datagram socket with an address of its own, connected to the
    server's Unix socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind("")  # autobind: an abstract name of its own (1)
        log.info("bound to %s", net.format_unix(sock.getsockname()))
        sock.connect(address)  # no such file, refused, no access
    except BaseException:
        sock.close()
        raise
    return sock


def echo(sock: socket.socket, message: bytes, timeout: float) -> float:
    """Send message, wait for its echo; return the seconds it took."""
    start = time.monotonic()
    deadline = start + timeout
    sock.settimeout(timeout)
    sock.send(message)  # waits while the server's queue is full (2)
    # Checked before each read: datagrams that keep coming cannot hold it.
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        data = sock.recv(len(message) + 1)  # one more: a longer reply shows
        if data == message:
            return time.monotonic() - start
        log.info("ignored %d bytes: not the echo", len(data))
    raise socket.timeout


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 echo received, 1 failure (no such file, refused,
permission denied, no echo in time), 2 bad usage, 130 interrupted
(Ctrl+C)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, unix=True, exits=EXITS)
    net.add_message(parser, "Hello, datagram!")
    net.add_timeout(
        parser,
        1.0,
        "seconds to wait for the echo (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    args.data = net.message_bytes(args.message)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    address = net.unix_address(args.path, args.abstract)
    where = net.format_unix(address)
    try:
        with open_socket(address) as sock:
            seconds = echo(sock, args.data, args.timeout)
    except socket.timeout:  # TimeoutError from Python 3.10
        return net.fail(f"{where}: no echo within {args.timeout:g} s")
    except (KeyboardInterrupt, OSError) as exc:  # refused, too long, ...
        return net.failed(exc, where, where)
    shown = net.shorten(args.data)
    print(f"sent {len(args.data)} bytes to {where}: {shown}")
    print(f"received {len(args.data)} bytes in {seconds * 1000:.1f} ms: "
          f"{shown}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
