"""TCP relay on asyncio: each connection forwarded, both ways at once.

Shows a port forwarder: every connection accepted on --host and --port
is forwarded to --to HOST:PORT, the two directions copied at once. Each
copy awaits drain(), so a slow side slows the relay instead of growing
its memory. An EOF one way is passed on as a half-close and the other
way goes on; a reset is passed on as a reset; a destination that
refuses is a reset too. -v logs each connection: the bytes each way,
and how it ended. --idle-timeout and --max-connections bound the rest.

    python examples/tcp_relay.py --to 127.0.0.1:8000
    curl http://127.0.0.1:8888/
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import signal
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import net

log = logging.getLogger("relay")
T = TypeVar("T")

# --8<-- [start:lesson]
CHUNK = 65_536  # the most one read() returns


@dataclass
class Relayed:
    """One connection through the relay: what moved, and when last."""

    idle_timeout: float
    up: int = 0  # bytes from the client to the destination
    down: int = 0  # and back
    last: float = field(default_factory=time.monotonic)

    async def within(self, start: Callable[[], Awaitable[T]]) -> T:
        """Await start() until it is done, or until neither direction
        has moved a byte for idle_timeout: then raise TimeoutError."""
        while True:
            left = self.last + self.idle_timeout - time.monotonic()
            try:
                result = await asyncio.wait_for(start(), max(left, 0))
            except asyncio.TimeoutError:
                if time.monotonic() - self.last < self.idle_timeout:
                    continue  # the other direction moved meanwhile
                raise
            self.last = time.monotonic()
            return result


async def copy(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    relayed: Relayed,
    up: bool,
) -> None:
    """Copy what reader gives to writer until reader's EOF, then pass the
    EOF on (a half-close: the other direction goes on)."""
    while data := await relayed.within(lambda: reader.read(CHUNK)):
        if up:
            relayed.up += len(data)
        else:
            relayed.down += len(data)
        writer.write(data)
        # Returns at once unless the destination is slow to read: then it
        # waits, and this direction reads no more meanwhile.
        await relayed.within(writer.drain)
    writer.write_eof()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close a connection with a reset (RST), not an EOF: SO_LINGER on,
    with a time of 0, makes close() throw away what is unsent."""
    linger = struct.pack("ii", 1, 0)  # on, 0 s
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    writer.transport.abort()


async def relay(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    to: tuple[str, int],
    relayed: Relayed,
    connect_timeout: float,
) -> str:
    """Connect to the destination, then copy both ways at once until
    both have ended; return how it ended."""
    reader, writer = client
    connect = asyncio.open_connection(*to)
    try:
        far_reader, far_writer = await asyncio.wait_for(
            connect, connect_timeout
        )
    except asyncio.TimeoutError:
        reset(writer)  # as a destination that refuses does
        return f"{net.format_address(to)}: no answer to connect"
    except OSError as exc:
        reset(writer)
        return f"{net.format_address(to)}: {net.reason(exc)}"
    directions = [
        asyncio.ensure_future(copy(reader, far_writer, relayed, up=True)),
        asyncio.ensure_future(copy(far_reader, writer, relayed, up=False)),
    ]
    try:
        await asyncio.gather(*directions)
    except ConnectionError:  # a reset (or a broken pipe) on one side,
        # whose transport it closed: the other side is reset too.
        if writer.transport.is_closing():
            reset(far_writer)
            return "reset by the client"
        reset(writer)
        return "reset by the destination"
    except asyncio.TimeoutError:
        return f"idle for {relayed.idle_timeout:g} s"
    finally:
        for direction in directions:
            direction.cancel()
        far_writer.close()
        writer.close()
    return "closed by both"


# --8<-- [end:lesson]
EXITS = "Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage."


@dataclass
class Counts:
    """What the relay did, for the summary line."""

    connections: int = 0
    up: int = 0
    down: int = 0


async def serve(listener: socket.socket, args: argparse.Namespace) -> Counts:
    """Relay every connection until SIGINT or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    counts = Counts()
    tasks: set[asyncio.Task[None]] = set()

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = net.format_address(writer.get_extra_info("peername"))
        if len(tasks) >= args.max_connections:
            log.warning("%s: refused: %d connections open", peer, len(tasks))
            writer.close()
            return
        me = asyncio.current_task()
        assert me is not None
        tasks.add(me)
        counts.connections += 1
        relayed = Relayed(args.idle_timeout)
        why = "the relay is stopping"
        try:
            why = await relay((reader, writer), args.to, relayed, args.timeout)
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            tasks.discard(me)
            counts.up += relayed.up
            counts.down += relayed.down
            log.info("%s: %d bytes up, %d down: %s",
                     peer, relayed.up, relayed.down, why)  # fmt: skip

    server = await asyncio.start_server(
        handle, sock=listener, backlog=socket.SOMAXCONN
    )
    print(f"listening on {net.format_address(listener.getsockname())}",
          flush=True)  # fmt: skip
    await stop.wait()
    server.close()
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return counts


def destination(text: str) -> tuple[str, int]:
    """Parse --to for argparse: HOST:PORT, or [IPV6]:PORT."""
    host, colon, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT, not {text!r}")
    return net.host_name(host), net.bounded_int(port, 1, 65_535)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, server=True, exits=EXITS)
    parser.add_argument(
        "--to",
        type=destination,
        required=True,
        metavar="HOST:PORT",
        help="where to forward each connection (required)",
    )
    parser.add_argument(
        "--timeout",
        type=net.seconds,
        default=10.0,
        metavar="S",
        help="how long to wait for the destination to accept "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=net.seconds,
        default=300.0,
        metavar="S",
        help="close a connection idle both ways for this long "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-connections",
        type=functools.partial(net.bounded_int, lowest=1, highest=100_000),
        default=500,  # two sockets each: a process may open 1,024 files
        metavar="N",
        help="close at once a connection over this many "
        "(default: %(default)s)",
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
        counts = asyncio.run(serve(listener, args))
    s = "" if counts.connections == 1 else "s"
    print(f"stopped: relayed {counts.connections} connection{s}, "
          f"{counts.up} bytes up, {counts.down} down")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
