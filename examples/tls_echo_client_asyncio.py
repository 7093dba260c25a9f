"""TLS echo client with asyncio streams: the blocking TLS client's twin.

Shows asyncio.open_connection(ssl=context, server_hostname=...): the
server's certificate must be signed by a trusted CA and name the server.
asyncio's TLS transport cannot half-close, so the echo's length tells its
end: the client writes 16 KiB at a time, reading as it goes, then sends
close_notify (writer.close()) and waits for the server's. wait_for()
bounds every wait by --timeout. Start a TLS echo server, then:

    python examples/tls_echo_client_asyncio.py --cafile ca.pem \\
        --host localhost
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import ssl
import sys
import time
from collections.abc import Awaitable
from typing import TypeVar

import net

log = logging.getLogger("tls_client")

# --8<-- [start:lesson]
BLOCK = 16_384  # bytes per write: one TLS record's worth
T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout: float, what: str) -> T:
    """Await within timeout seconds, else raise TimeoutError(what S s)."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:  # not TimeoutError before Python 3.11
        raise TimeoutError(f"{what} {timeout:g} s") from None


async def echo(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    message: bytes,
    timeout: float,
) -> None:
    """Send the message a block at a time, reading the echo as it comes."""
    checker = Checker(message)

    async def read_echo(upto: int) -> None:
        while checker.got < upto:
            data = await within(
                reader.read(BLOCK), timeout, "nothing received for"
            )
            if not data:
                raise EchoError(
                    f"the server closed the connection after "
                    f"{checker.got} of {len(checker.message)} bytes"
                )
            checker.add(data)

    view = memoryview(message)
    for start in range(0, len(message), BLOCK):
        # No drain() needed: reading the echo of all but the last two
        # blocks keeps what waits to be sent to three blocks at most.
        writer.write(view[start : start + BLOCK])
        await read_echo(start - BLOCK)
    await read_echo(len(message))  # the echo is as long as the message


async def client(args: argparse.Namespace, context: ssl.SSLContext) -> int:
    """Connect, echo args.data, say how it went; return the exit status."""
    peer = net.format_address((args.host, args.port))
    try:
        try:
            reader, writer = await within(
                asyncio.open_connection(
                    args.host,
                    args.port,
                    ssl=context,  # the handshake is part of connecting
                    server_hostname=args.server_name or args.host,
                ),
                args.timeout,
                "no connection and TLS handshake within",
            )
        except (ssl.SSLError, ConnectionResetError) as exc:
            # A certificate check, or the server's alert; or its EOF, which
            # asyncio raises as a ConnectionResetError with no words.
            reason = net.reason(exc) or "the server closed the connection"
            raise ConnectionError(f"TLS handshake failed: {reason}") from None
        try:
            given = (args.host, args.port)  # if the server has closed
            address = writer.get_extra_info("peername") or given
            peer = net.format_address(address)
            # TLS 1.3: the server checks our certificate, if it asks for
            # one, after our side of the handshake is done; its verdict
            # may have come already, and the connection ended with it.
            with contextlib.suppress(ValueError):  # the read tells why
                ssl_object = writer.get_extra_info("ssl_object")
                log.info("%s", net.describe_tls(ssl_object))
            start = time.perf_counter()
            await echo(reader, writer, args.data, args.timeout)
            seconds = time.perf_counter() - start
            writer.close()  # close_notify: "that was all"
            # shield(): a timeout must not cancel what wait_closed() waits
            # for, which the finally below waits for again.
            closed = asyncio.shield(writer.wait_closed())
            try:
                await asyncio.wait_for(closed, args.timeout)
                log.info("sent close_notify, and the server answered")
            except asyncio.TimeoutError:  # the echo is whole: only the end
                log.warning("no close_notify from the server within %g s; "
                            "the echo was whole", args.timeout)  # fmt: skip
        finally:
            writer.transport.abort()  # at once, unless closed already
            with contextlib.suppress(OSError):  # told above
                await writer.wait_closed()
    except ssl.SSLError as exc:  # after the handshake: an alert, ...
        return net.fail(f"{peer}: TLS failed: {net.reason(exc)}")
    except (OSError, EchoError) as exc:  # refused, rejected, timed out...
        return net.failed(exc, args.host, peer)
    shown = net.shorten(args.data)
    print(f"sent {len(args.data)} bytes to {peer}: {shown}")
    print(f"received {len(args.data)} bytes in {seconds * 1000:.1f} ms: "
          f"{shown}")  # fmt: skip
    return 0


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
    try:
        return asyncio.run(client(args, context))
    except KeyboardInterrupt as exc:  # Ctrl+C
        return net.failed(exc, args.host, "")


if __name__ == "__main__":
    sys.exit(main())
