"""TLS echo client, blocking: the TCP echo client, encrypted and verified.

Shows ssl.create_default_context() on the client side: the server's
certificate is checked against trusted CAs (the system's, or --cafile)
and must name the server (--server-name, else --host). TLS 1.2 at least;
--cert and --key present a client certificate. TLS has no half-close, so
the echo's end is its length: 16 KiB at a time, the echo read as it
comes, then close_notify (unwrap()). Every wait is bounded by --timeout.
Start a TLS echo server, then:

    python examples/tls_echo_client.py --cafile ca.pem --host localhost
    head -c 16M /dev/urandom | python examples/tls_echo_client.py \\
        --cafile ca.pem --host localhost -v -
"""

from __future__ import annotations

import argparse
import logging
import socket
import ssl
import sys
import time

import net

log = logging.getLogger("tls_client")

# --8<-- [start:lesson]


def client_context(
    args: argparse.Namespace, options: argparse.ArgumentParser
) -> ssl.SSLContext:
    """The TLS settings of the client: safe defaults, and args' files.

    A file that cannot be loaded is a usage error (exit status 2).
    """
    try:
        # For a client: verify the server's certificate and its name.
        context = ssl.create_default_context(cafile=args.cafile)
    except OSError as exc:  # no such file, not PEM...
        options.error(f"cannot load --cafile {args.cafile}: "
                      f"{net.reason(exc)}")  # fmt: skip
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # 3.9's default: 1.0
    if args.cert:
        try:
            context.load_cert_chain(args.cert, args.key)
        except OSError as exc:  # not PEM, no key, key does not match...
            files = f"--cert {args.cert} and --key {args.key or args.cert}"
            options.error(f"cannot load {files}: {net.reason(exc)}")
    return context


BLOCK = 16_384  # bytes per send: one TLS record's worth


def echo(tls: ssl.SSLSocket, message: bytes) -> None:
    """Send the message a block at a time, reading the echo as it comes."""
    checker = Checker(message)
    buffer = bytearray(BLOCK)
    view = memoryview(message)
    for start in range(0, len(message), BLOCK):
        tls.sendall(view[start : start + BLOCK])
        # Read the echo of all but the last two blocks sent: no more than
        # three in flight, far less than the buffers on the way hold. (1)
        read_echo(tls, checker, buffer, start - BLOCK)
    read_echo(tls, checker, buffer, len(message))  # the echo's length (2)


def close(tls: ssl.SSLSocket) -> None:
    """End TLS with close_notify, and wait for the server's."""
    try:
        tls.unwrap()  # close_notify: "that was all", then the server's (3)
    except ssl.SSLEOFError:  # asyncio servers before Python 3.11 send none
        log.info("the server closed without close_notify")  # echo complete
    except socket.timeout:  # the echo is whole: only the end is late
        log.warning("no close_notify from the server within %g s; the "
                    "echo was whole", tls.gettimeout())  # fmt: skip
        return
    log.info("sent close_notify, and the server answered")


def read_echo(
    tls: ssl.SSLSocket, checker: Checker, buffer: bytearray, upto: int
) -> None:
    """Read and check the echo until upto bytes of it have come."""
    while checker.got < upto:
        count = tls.recv_into(buffer)
        if not count:
            raise EchoError(
                f"the server closed the connection after "
                f"{checker.got} of {len(checker.message)} bytes"
            )
        checker.add(memoryview(buffer)[:count])


def handshake(tls: ssl.SSLSocket, timeout: float) -> None:
    """Do the TLS handshake: the certificate checks happen here."""
    try:
        tls.do_handshake()
    except socket.timeout:  # the socket's timeout bounds it
        raise ConnectionError(f"no TLS handshake within {timeout:g} s") \
            from None  # fmt: skip
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):  # its EOF
        raise ConnectionError("TLS handshake failed: the server closed the "
                              "connection") from None  # fmt: skip
    except ssl.SSLError as exc:  # a certificate check, or the server
        reason = net.reason(exc)
        raise ConnectionError(f"TLS handshake failed: {reason}") from None
    log.info("%s", net.describe_tls(tls))


# --8<-- [end:lesson]
class EchoError(Exception):
    """The server's reply is not the echo of the message."""


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


EXITS = """\
Exit status: 0 the echo matched, 1 network failure (refused, timed out,
a certificate that fails its checks, any other failed handshake, or an
echo that is cut short or different), 2 bad usage, 130 interrupted
(Ctrl+C)."""


def parser() -> argparse.ArgumentParser:
    parser = net.parser(__doc__, exits=EXITS)
    net.add_message(parser, "Hello, stream!")
    net.add_timeout(
        parser,
        5.0,
        "the longest wait for the connection, for each 64 KiB "
        "sent and for each read (default: %(default)s)",
    )
    parser.add_argument(
        "--cafile",
        metavar="FILE",
        help="trust the CA certificates in this PEM file "
        "(default: the system's trusted CAs)",
    )
    parser.add_argument(
        "--server-name",
        metavar="NAME",
        help="the name the server's certificate must show, also sent as "
        "SNI (default: --host)",
    )
    parser.add_argument(
        "--cert",
        metavar="FILE",
        help="a client certificate to present, PEM (default: none)",
    )
    parser.add_argument(
        "--key",
        metavar="FILE",
        help="the client certificate's key, PEM (default: in --cert)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    options = parser()
    args = options.parse_args(argv)
    args.data = net.message_bytes(args.message)
    context = client_context(args, options)
    net.setup_logging(args.verbose)
    peer = net.format_address((args.host, args.port))
    try:
        with net.connect(args.host, args.port, args.timeout) as sock:
            peer = net.format_address(sock.getpeername())
            with context.wrap_socket(
                sock,
                server_hostname=args.server_name or args.host,
                do_handshake_on_connect=False,
            ) as tls:
                handshake(tls, args.timeout)
                start = time.perf_counter()
                echo(tls, args.data)
                seconds = time.perf_counter() - start
                close(tls)
    except socket.timeout:  # a read waited --timeout
        return net.fail(f"{peer}: nothing received for {args.timeout:g} s")
    except ssl.SSLError as exc:  # after the handshake: an alert, ...
        return net.fail(f"{peer}: TLS failed: {net.reason(exc)}")
    except (KeyboardInterrupt, OSError, EchoError) as exc:  # refused, ...
        return net.failed(exc, args.host, peer)
    shown = net.shorten(args.data)
    print(f"sent {len(args.data)} bytes to {peer}: {shown}")
    print(f"received {len(args.data)} bytes in {seconds * 1000:.1f} ms: "
          f"{shown}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
