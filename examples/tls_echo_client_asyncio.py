"""TLS echo client with asyncio streams: the blocking TLS client's twin.

Shows asyncio.open_connection(ssl=context, server_hostname=...), with the
blocking TLS client's context (tls_echo_client.py): the server's
certificate is checked against trusted CAs and must name the server.
asyncio's TLS transport cannot half-close (write_eof() raises
NotImplementedError), so, as in the blocking TLS client, the echo's
length tells its end: the client writes 16 KiB at a time, reading the
echo as it comes, then ends TLS with close_notify (writer.close()) and
waits for the server's. asyncio.wait_for() bounds every wait by
--timeout: the connect with the handshake, each read and the close.

The options, output and exit statuses are the blocking TLS client's
(copy tls_echo_client.py, tcp_echo_client_blocking.py and net.py).
Start a TLS echo server, then:

    python examples/tls_echo_client_asyncio.py --cafile ca.pem \\
        --host localhost

Exit status: 0 the echo matched, 1 network failure (refused, timed out,
a certificate that fails its checks, any other failed handshake, or an
echo that is cut short or different), 2 bad usage, 130 interrupted
(Ctrl+C).
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
from tcp_echo_client_blocking import Checker, EchoError, echoed, parse_args
from tls_echo_client import BLOCK, client_context, tls_parser

log = logging.getLogger("tls_client")

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
                checker.end()  # the server closed early: raises EchoError
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
        except ssl.SSLError as exc:  # a certificate check, or the server
            reason = net.reason(exc)
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
            writer.close()  # close_notify: "that was all"
            await within(writer.wait_closed(), args.timeout,
                         "no close_notify from the server within")  # fmt: skip
            seconds = time.perf_counter() - start
            log.info("sent %d bytes, then close_notify", len(args.data))
        finally:
            writer.transport.abort()  # at once, unless closed already
            with contextlib.suppress(OSError):  # told above
                await writer.wait_closed()
    except ssl.SSLError as exc:  # after the handshake: an alert, ...
        return net.fail(f"{peer}: TLS failed: {net.reason(exc)}")
    except (OSError, EchoError) as exc:  # refused, rejected, timed out...
        return net.failed(exc, args.host, peer)
    return echoed(args.data, peer, seconds)


def main(argv: list[str] | None = None) -> int:
    options = tls_parser(__doc__)
    args = parse_args(argv, options)
    context = client_context(args, options)
    net.setup_logging(args.verbose)
    try:
        return asyncio.run(client(args, context))
    except KeyboardInterrupt as exc:  # Ctrl+C
        return net.failed(exc, args.host, "")


if __name__ == "__main__":
    sys.exit(main())
