"""Chat server with asyncio: one line to everyone, and slow readers cut off.

Shows a line protocol over TCP: UTF-8 lines of at most --max-line bytes;
/nick NAME, /who and /quit; every other line goes to everyone, in the
order the server read it. Each client has a queue of at most --queue
lines waiting to be sent: a client whose queue is full has stopped
reading, and is disconnected, with the reason told to everyone else, so
that it cannot slow the others down or grow the server's memory. SIGINT
or SIGTERM sends everyone a last line, then EOF.

    python examples/chat_server_asyncio.py
    python examples/chat_client.py --nick ada
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import logging
import re
import signal
import socket
import sys
from dataclasses import dataclass, field

import net

log = logging.getLogger("chat")


# --8<-- [start:lesson]
@dataclass(eq=False)
class Client:
    """One connection: its nick, and the lines waiting to be sent to it."""

    nick: str
    writer: asyncio.StreamWriter
    queue: asyncio.Queue[bytes | None]  # None: send no more, and close
    sender: asyncio.Task[None] = field(init=False)


@dataclass
class Room:
    """Everyone connected, by nick."""

    queue_size: int
    clients: dict[str, Client] = field(default_factory=dict)
    joined: int = 0  # for the next guest's nick
    stopping: bool = False

    def say(self, *lines: str, to: list[Client] | None = None) -> None:
        """Queue each line for every client (or those in to), in the
        order said; a client that cannot take one is disconnected, not
        waited for, and everyone is told."""
        said = [(line, to) for line in lines]
        while said:
            line, clients = said.pop(0)
            data = (line + "\n").encode()
            for client in clients or list(self.clients.values()):
                try:
                    client.queue.put_nowait(data)
                except asyncio.QueueFull:  # it has stopped reading
                    said.append((self.drop(client, self.slow), None))

    def tell(self, client: Client, line: str) -> None:
        """Queue line for one client."""
        self.say(line, to=[client])

    @property
    def slow(self) -> str:
        return f"not reading: its queue of {self.queue_size} lines is full"

    def drop(self, client: Client, reason: str) -> str:
        """Disconnect client at once, its queue thrown away; what to say."""
        del self.clients[client.nick]
        client.writer.transport.abort()
        client.sender.cancel()
        log.info("%s: disconnected: %s", client.nick, reason)
        return f"* {client.nick} was disconnected: {reason}"

    def join(self, writer: asyncio.StreamWriter) -> Client:
        self.joined += 1
        client = Client(f"guest{self.joined}", writer,
                        asyncio.Queue(self.queue_size))  # fmt: skip
        client.sender = asyncio.create_task(send_lines(client))
        self.clients[client.nick] = client
        self.say(f"* {client.nick} joined")
        return client

    def rename(self, client: Client, nick: str) -> None:
        if not NICK.fullmatch(nick):
            self.tell(client, "! a nick is 1 to 32 letters, digits, _ or -")
        elif nick in self.clients:
            self.tell(client, f"! nick taken: {nick}")
        else:
            old = client.nick
            self.clients[nick] = self.clients.pop(old)
            client.nick = nick
            self.say(f"* {old} is now {nick}")


NICK = re.compile(r"[\w-]{1,32}")


async def send_lines(client: Client) -> None:
    """Write what is queued for client, in order; drain() waits while the
    client is behind, and meanwhile its queue fills."""
    while (data := await client.queue.get()) is not None:
        client.writer.write(data)
        await client.writer.drain()


async def chat(
    reader: asyncio.StreamReader, client: Client, room: Room, idle: float
) -> str:
    """Read client's lines and act on each; return why it left."""
    while True:
        line = await asyncio.wait_for(reader.readuntil(b"\n"), idle)
        try:
            text = line.decode().rstrip("\r\n")
        except UnicodeDecodeError:
            room.tell(client, "! not UTF-8: line ignored")
            continue
        if text == "/quit":
            room.tell(client, "* bye")
            return "quit"
        if text == "/who":
            room.tell(client, "* here: " + ", ".join(sorted(room.clients)))
        elif text.startswith("/nick "):
            room.rename(client, text[6:])
        elif text.startswith("/"):
            room.tell(client, "! commands: /nick NAME, /who, /quit")
        else:
            room.say(f"<{client.nick}> {text}")


# --8<-- [end:lesson]
EXITS = "Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage."
LAST_WORDS = 2.0  # seconds each client has to take its last lines


async def serve_client(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    room: Room,
    args: argparse.Namespace,
) -> None:
    """One client, from its first line to its last: it joins, chats,
    and leaves; say how."""
    if len(room.clients) >= args.max_clients:
        writer.write(b"! the room is full\n")
        writer.close()
        return
    client = room.join(writer)
    why = "the server is stopping"
    try:
        why = await chat(reader, client, room, args.idle_timeout)
    except asyncio.IncompleteReadError:  # EOF
        why = "left"
    except asyncio.LimitOverrunError:
        why = f"a line over {args.max_line} bytes"
        room.tell(client, f"! {why}")
    except asyncio.TimeoutError:
        why = f"idle for {args.idle_timeout:g} s"
        room.tell(client, f"! {why}")
    except OSError as exc:  # reset
        why = net.reason(exc)
    except asyncio.CancelledError:  # the server is stopping: the handler
        pass  # ends as if done (3.11's streams log one that ends cancelled)
    finally:
        await leave(room, client, why)


async def leave(room: Room, client: Client, why: str) -> None:
    """Take client out of the room, send it what is queued (for at most
    LAST_WORDS seconds), close it, and tell the others."""
    if room.clients.get(client.nick) is not client:
        return  # dropped already
    del room.clients[client.nick]
    if not room.stopping:
        room.say(f"* {client.nick} left ({why})")
    with contextlib.suppress(asyncio.QueueFull):
        client.queue.put_nowait(None)
    try:
        await asyncio.wait_for(client.sender, LAST_WORDS)
    except (OSError, asyncio.TimeoutError, asyncio.CancelledError):
        client.writer.transport.abort()
    client.writer.close()
    log.info("%s: %s", client.nick, why)


async def serve(listener: socket.socket, args: argparse.Namespace) -> Room:
    """Run the room until SIGINT or SIGTERM; then everyone gets a last
    line and EOF."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    room = Room(args.queue)
    handlers: set[asyncio.Task[None]] = set()

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        me = asyncio.current_task()
        assert me is not None
        handlers.add(me)
        try:
            await serve_client(reader, writer, room, args)
        finally:
            handlers.discard(me)

    # The limit is on a line's bytes before its newline.
    server = await asyncio.start_server(
        handle, sock=listener, limit=args.max_line - 1
    )
    print(f"listening on {net.format_address(listener.getsockname())}",
          flush=True)  # fmt: skip
    async with server:
        await stop.wait()
        server.close()
        room.stopping = True
        room.say("* the server is shutting down")
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
    return room


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, server=True, exits=EXITS)
    for option, low, high, default, what in [
        ("--max-line", 16, 65_536, 1024, "bytes in a line, its newline too"),
        ("--queue", 1, 10_000, 256, "lines waiting for a client"),
        ("--max-clients", 1, 10_000, 1000, "clients at once"),
    ]:
        parser.add_argument(
            option,
            type=functools.partial(net.bounded_int, lowest=low, highest=high),
            default=default,
            metavar="N",
            help=f"the most {what}, {low} to {high} (default: %(default)s)",
        )
    parser.add_argument(
        "--idle-timeout",
        type=net.seconds,
        default=600.0,
        metavar="S",
        help="disconnect a client that sends nothing for this long "
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
        room = asyncio.run(serve(listener, args))
    print(f"stopped: {room.joined} clients joined")
    return 0


if __name__ == "__main__":
    sys.exit(main())
