"""TCP echo client with asyncio streams: send a message, read the echo.

Shows asyncio.open_connection() and both halves of a stream: a task
writes the message (write(), then `await drain()`) and half-closes with
write_eof(), while the main coroutine reads the echo to the server's EOF
and compares it: reading while writing keeps a large message from
deadlocking. asyncio.wait_for() bounds every wait by --timeout. Start an
echo server, then:

    python examples/tcp_echo_client_asyncio.py
    python examples/tcp_echo_client_asyncio.py --port 9999 -v "Hi there"
    head -c 64M /dev/urandom | python examples/tcp_echo_client_asyncio.py -
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time

import net

log = logging.getLogger("tcp_client")

# --8<-- [start:lesson]
CHUNK = 65_536  # bytes per write, so that each drain is bounded by --timeout


async def send_all_then_eof(
    writer: asyncio.StreamWriter, message: bytes, timeout: float
) -> None:
    """Send the message, then half-close: the server sees EOF."""
    view = memoryview(message)
    for start in range(0, len(message), CHUNK):
        writer.write(view[start : start + CHUNK])
        await asyncio.wait_for(writer.drain(), timeout)  # the server is behind
    writer.write_eof()  # "that was all"; reading goes on
    log.info("sent %d bytes, then EOF", len(message))


async def echo(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    message: bytes,
    timeout: float,
) -> None:
    """Send and read at once: a task sends, this coroutine reads."""
    sender = asyncio.ensure_future(send_all_then_eof(writer, message, timeout))
    try:
        checker = Checker(message)
        try:
            while data := await asyncio.wait_for(reader.read(CHUNK), timeout):
                checker.add(data)
        except asyncio.TimeoutError:
            raise TimeoutError(f"nothing received for {timeout:g} s") from None
        checker.end()
        await sender  # done, since all came back: raises what it raised
    finally:  # a failure, or Ctrl+C: stop the sender too
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)


class EchoError(Exception):
    """The server's reply is not the echo of the message."""


class Checker:
    """Compares the bytes that arrive with the message, as they arrive."""

    def __init__(self, message: bytes) -> None:
        self.message = message
        self.got = 0

    def add(self, data: bytes) -> None:
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


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 the echo matched, 1 network failure (refused, timed out,
reset, or an echo that is cut short or different), 2 bad usage, 130
interrupted (Ctrl+C)."""


async def client(args: argparse.Namespace) -> int:
    """Connect, echo args.data, say how it went; return the exit status."""
    peer = net.format_address((args.host, args.port))
    try:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(args.host, args.port), args.timeout
            )
        except asyncio.TimeoutError:
            raise ConnectionError(
                f"no connection within {args.timeout:g} s"
            ) from None
        try:
            peer = net.format_address(writer.get_extra_info("peername"))
            log.info("%s", net.describe(writer.get_extra_info("socket")))
            start = time.perf_counter()
            await echo(reader, writer, args.data, args.timeout)
            seconds = time.perf_counter() - start
        finally:
            writer.transport.abort()  # nothing more to send or to read
            await writer.wait_closed()
    except (OSError, EchoError) as exc:  # refused, reset, timed out, ...
        return net.failed(exc, args.host, peer)
    shown = net.shorten(args.data)
    print(f"sent {len(args.data)} bytes to {peer}: {shown}")
    print(f"received {len(args.data)} bytes in {seconds * 1000:.1f} ms: "
          f"{shown}")  # fmt: skip
    return 0


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
    try:
        return asyncio.run(client(args))
    except KeyboardInterrupt as exc:  # Ctrl+C
        return net.failed(exc, args.host, "")


if __name__ == "__main__":
    sys.exit(main())
