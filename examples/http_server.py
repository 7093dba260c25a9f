"""HTTP/1.1 file server on asyncio: no http.server, no framework.

Shows what an HTTP server does with the bytes it is sent: it finds each
request's end (a blank line), parses the request line and the header
fields, refuses with the right status code what it will not serve, and
answers pipelined requests in order on a kept-alive connection. It
serves GET and HEAD of the files under --root; paths never leave it, and
hidden files (a name that starts with a dot) are never served. A
request has --timeout seconds to arrive; a reply waits while the client
is slow to read it. -v logs each request in the common log format.

    python examples/http_server.py --root examples/www
    curl -i http://127.0.0.1:8888/
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import functools
import logging
import mimetypes
import os
import re
import signal
import socket
import stat
import sys
import time
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import unquote_to_bytes

import net

log = logging.getLogger("http")

# --8<-- [start:lesson]
MAX_LINE = 8192  # bytes in the request line: 414 over
MAX_FIELDS_SIZE = 32_768  # bytes in the header fields: 431 over
MAX_FIELDS = 100  # header fields: 431 over
CHUNK = 65_536  # bytes of a file read and written at a time
LINGER = 2.0  # seconds to wait for the client's EOF after ours
TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")  # RFC 9110, 5.6.2
VERSION = re.compile(rb"HTTP/\d\.\d")
# Methods RFC 9110 and RFC 5789 define: 405 and Allow. Others: 501.
KNOWN = {b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE",
         b"PATCH"}  # fmt: skip
REASONS = {200: "OK", 301: "Moved Permanently", 400: "Bad Request",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 413: "Content Too Large",
           414: "URI Too Long", 431: "Request Header Fields Too Large",
           501: "Not Implemented", 503: "Service Unavailable",
           505: "HTTP Version Not Supported"}  # fmt: skip


class Status(Exception):
    """An answer other than a file: a status, and whether to close."""

    def __init__(self, code: int, close: bool = True, more: str = ""):
        super().__init__(code)
        self.code, self.close, self.more = code, close, more


@dataclass
class Request:
    method: bytes
    target: bytes
    version: bytes
    fields: dict[bytes, bytes]  # lower-case name: value
    line: bytes  # the request line, for the log


def parse(head: bytes) -> Request:
    """Parse a request's head: its request line, CRLF, its fields, each
    followed by CRLF (RFC 9112). Raise Status if it is not one."""
    lines = head.split(b"\r\n")
    line = lines[0]
    if len(line) > MAX_LINE:
        raise Status(414)
    if len(lines) > MAX_FIELDS + 1 or len(head) - len(line) > MAX_FIELDS_SIZE:
        raise Status(431)
    # A CR or LF on its own, or a NUL, would let two programs that read
    # the same bytes disagree on where a field or a request ends.
    if head.count(b"\n") != len(lines) - 1 or b"\0" in head:
        raise Status(400)
    if head.count(b"\r") != len(lines) - 1:
        raise Status(400)
    parts = line.split(b" ")
    if len(parts) != 3 or not TOKEN.fullmatch(parts[0]):
        raise Status(400)
    method, target, version = parts
    if not VERSION.fullmatch(version):
        raise Status(400)
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):  # HTTP/2's preface too
        raise Status(505)
    fields: dict[bytes, bytes] = {}
    for text in lines[1:]:
        name, colon, value = text.partition(b":")
        if not colon or not TOKEN.fullmatch(name):  # "Host :" is refused
            raise Status(400)
        name, value = name.lower(), value.strip(b" \t")
        if name in fields:  # sent twice: one, joined (RFC 9110, 5.3)
            value = fields[name] + b", " + value
        fields[name] = value
    return Request(method, target, version, fields, line)


def check(request: Request) -> bool:
    """Whether to serve the request: raise Status if not. Return whether
    the connection stays open after the reply."""
    if request.method not in (b"GET", b"HEAD"):
        raise Status(405 if request.method in KNOWN else 501,
                     more="Allow: GET, HEAD\r\n")  # fmt: skip
    fields = request.fields
    if request.version == b"HTTP/1.1" and b"host" not in fields:
        raise Status(400)  # RFC 9112, 3.2: 1.1 requests name their host
    length = fields.get(b"content-length", b"0")
    if not length.isdigit():  # "-1", "1, 2": nobody knows where it ends
        raise Status(400)
    if int(length) or b"transfer-encoding" in fields:
        raise Status(413)  # a body: this server takes none
    options = fields.get(b"connection", b"").lower().split(b",")
    if request.version == b"HTTP/1.1":
        return all(option.strip() != b"close" for option in options)
    return any(option.strip() == b"keep-alive" for option in options)


def find(root: int, target: bytes) -> tuple[int, os.stat_result, str]:
    """Open the file that target names under the folder open as root:
    (descriptor, stat, name). Raise Status for one not to serve."""
    scheme, sep, rest = target.partition(b"://")
    if sep and scheme.lower() in (b"http", b"https"):  # the absolute form
        target = b"/" + rest.partition(b"/")[2]  # (RFC 9112, 3.2.2)
    if not target.startswith(b"/"):
        raise Status(400)  # "*", "host:port", ...
    path = target.split(b"?", 1)[0]
    try:  # %2e%2e is "..", and %2f is "/": decode, then check
        parts = unquote_to_bytes(path).decode().split("/")[1:]
    except UnicodeDecodeError:
        raise Status(404, close=False) from None
    # Dot names ("..", ".", ".git", ".env") are never served.
    if any(part.startswith(".") or "\0" in part for part in parts):
        raise Status(404, close=False)
    try:
        fd = open_beneath(root, parts)
    except OSError:  # no such file, a symlink, not ours to read, ...
        raise Status(404, close=False) from None
    info = os.fstat(fd)
    if stat.S_ISREG(info.st_mode):
        return fd, info, parts[-1]
    os.close(fd)
    if not stat.S_ISDIR(info.st_mode):
        raise Status(403, close=False)  # a FIFO, a device, a socket
    if not path.endswith(b"/"):  # so that the page's links are relative
        location = path.decode("latin-1") + "/"  # to it: send it there
        raise Status(301, close=False, more=f"Location: {location}\r\n")
    return find(root, path + b"index.html")  # and no listing without one


def open_beneath(root: int, parts: list[str]) -> int:
    """Open root/part/part/..., a folder at a time, each relative to the
    one before, following no symlink: no name can lead out of root, even
    one changed while it is opened. An empty last part: the folder."""
    folder = root
    try:
        for part in parts[:-1]:
            inner = os.open(part, DIRECTORY, dir_fd=folder)
            if folder != root:
                os.close(folder)
            folder = inner
        return os.open(parts[-1] or ".", FILE, dir_fd=folder)
    finally:
        if folder != root:
            os.close(folder)


# O_NOFOLLOW: a symlink is an error (ELOOP). O_NONBLOCK: opening a FIFO
# does not wait for a writer.
DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK


# --8<-- [end:lesson]
@functools.lru_cache(maxsize=1024)
def http_date(when: int) -> str:
    """A time as HTTP writes it: Sun, 06 Dec 2026 11:00:00 GMT."""
    return email.utils.formatdate(when, usegmt=True)


@functools.lru_cache(maxsize=1024)
def content_type(name: str) -> str:
    """The media type for a file name, from mimetypes."""
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


# --8<-- [start:connection]
class Connection(asyncio.Protocol):
    """One client: read its requests, and answer them in order."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.buffer = bytearray()  # received, not answered yet
        self.file: int | None = None  # the file being sent
        self.left = 0  # its bytes still to send
        self.keep = True  # the connection outlives the reply
        self.eof = False  # the client will send no more
        self.ending = False  # the replies are over: see finish()
        self.paused = False  # the client is slow to read: wait
        self.reading = True
        self.deadline = self.loop.time() + server.timeout
        self.loop.call_later(server.timeout, self.check_time)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # or uvloop's
        self.peer = transport.get_extra_info("peername")[0]
        if len(self.server.connections) >= self.server.max_connections:
            self.reply(Status(503), None)
            return
        self.server.connections.add(self)
        self.server.served += 1

    def data_received(self, data: bytes) -> None:
        if not self.ending:  # else it is dropped
            self.buffer += data
            self.answer()

    def eof_received(self) -> bool:
        self.eof = True
        if self.ending:
            return False  # the transport closes
        self.answer()  # what came before it
        return True  # open, for the replies

    def answer(self) -> None:
        """Answer every complete request received, in order, while the
        client takes the replies; then read on, or wait."""
        while not (self.paused or self.file is not None or self.ending):
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buffer[:end])
                del self.buffer[: end + 4]
                self.deadline = self.loop.time() + self.server.timeout
                self.serve(head)
            elif not self.buffer and not self.eof:
                break  # the usual case: all answered
            elif (
                len(self.buffer) > MAX_LINE
                and self.buffer.find(b"\r\n", 0, MAX_LINE) < 0
            ):
                self.reply(Status(414), None)
            elif len(self.buffer) > MAX_LINE + MAX_FIELDS_SIZE:
                self.reply(Status(431), None)
            elif self.eof and self.buffer:  # a request cut short
                self.reply(Status(400), None)
            elif self.eof:
                self.finish()
            else:
                break
        busy = self.paused or self.file is not None
        full = len(self.buffer) > MAX_LINE + MAX_FIELDS_SIZE
        if self.reading == (busy and full) and not self.ending:
            self.read(not self.reading)  # a limit on what waits here

    def read(self, on: bool) -> None:
        self.reading = on
        if on:
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()

    def serve(self, head: bytes) -> None:
        """Answer one request with its file or a status."""
        request = None
        try:
            request = parse(head)
            self.keep = check(request)
            fd, info, name = find(self.server.root, request.target)
        except Status as status:
            self.reply(status, request)
            return
        self.left = 0 if request.method == b"HEAD" else info.st_size
        self.file = fd
        self.log(request, 200, self.left)
        self.pump(
            self.head(200, request, info.st_size, more=(
                f"Content-Type: {content_type(name)}\r\n"
                f"Last-Modified: {http_date(int(info.st_mtime))}\r\n")),
        )  # fmt: skip

    def pump(self, data: bytes = b"") -> None:
        """Send the file, a CHUNK at a time, after data, until it is all
        sent or the transport has more than it wants (pause_writing)."""
        while self.file is not None and not (self.paused or self.ending):
            chunk = os.read(self.file, min(CHUNK, self.left))
            self.left -= len(chunk)
            if not self.left:
                os.close(self.file)
                self.file = None
            self.transport.write(data + chunk)
            data = b""
            if not chunk and self.left:  # the file shrank as it was read:
                self.drop()  # the length sent is wrong
                return
        if self.file is None and not (self.keep or self.ending):
            self.finish()

    def reply(self, status: Status, request: Request | None) -> None:
        """Send a status and a one-line text saying what it means."""
        self.keep = self.keep and not status.close
        text = f"{status.code} {REASONS[status.code]}\n".encode()
        head = self.head(status.code, request, len(text), status.more + (
            "Content-Type: text/plain; charset=utf-8\r\n"))  # fmt: skip
        body = b"" if request and request.method == b"HEAD" else text
        self.transport.write(head + body)
        self.log(request, status.code, len(body))
        if not self.keep:
            self.finish()

    def head(
        self, code: int, request: Request | None, length: int, more: str
    ) -> bytes:
        """A response's status line and fields, and the blank line."""
        if not self.keep:
            more += "Connection: close\r\n"
        elif request and request.version == b"HTTP/1.0":
            more += "Connection: keep-alive\r\n"
        return (
            f"HTTP/1.1 {code} {REASONS[code]}\r\n"
            f"Date: {http_date(int(time.time()))}\r\n"
            f"Content-Length: {length}\r\n{more}\r\n"
        ).encode()

    def finish(self) -> None:
        """End the connection once the replies are sent: send EOF, then
        drop what the client still sends until its EOF (or LINGER
        seconds). Closing with bytes unread would send a reset, which can
        destroy replies the client has not read yet (RFC 9112, 9.6)."""
        self.ending = True
        self.buffer.clear()
        if self.eof:
            self.transport.close()
            return
        self.transport.write_eof()
        self.read(True)
        self.deadline = self.loop.time() + LINGER

    def drop(self) -> None:
        """End the connection now, throwing away what is not sent."""
        self.ending = True
        self.transport.abort()

    def pause_writing(self) -> None:
        self.paused = True
        log.info("%s: slow to read: waiting", self.peer)

    def resume_writing(self) -> None:
        self.paused = False
        self.deadline = self.loop.time() + self.server.timeout
        # Soon, not now: asyncio calls this from its write handler, which
        # would end the transport twice if it were closed here.
        self.loop.call_soon(self.carry_on)

    def carry_on(self) -> None:
        self.pump()
        self.answer()

    def check_time(self) -> None:
        """Close the connection if it has missed its deadline: the next
        request is late (408), or the client takes no reply."""
        if self.transport.is_closing():
            return
        left = self.deadline - self.loop.time()
        if left > 0:
            self.loop.call_later(left, self.check_time)
        elif self.ending:  # no EOF from the client in LINGER seconds
            self.drop()
        elif self.paused or self.file is not None:
            log.info("%s: not reading its replies: closed", self.peer)
            self.drop()
        else:
            self.keep = False
            self.reply(Status(408), None)
            self.check_time()  # again, at the end of LINGER

    def connection_lost(self, exc: Exception | None) -> None:
        if self.file is not None:
            os.close(self.file)
            self.file = None
        self.server.connections.discard(self)
        if not self.server.connections:
            self.server.idle.set()

    def log(self, request: Request | None, code: int, size: int) -> None:
        """One line in the common log format, if -v asked for it."""
        if not log.isEnabledFor(logging.INFO):
            return
        line = "-" if request is None else printable(request.line)
        when = time.strftime("%d/%b/%Y:%H:%M:%S %z")
        log.info('%s - - [%s] "%s" %d %s',
                 self.peer, when, line, code, size or "-")  # fmt: skip


# --8<-- [end:connection]
def printable(data: bytes) -> str:
    """Bytes from the network, safe to log: anything but printable ASCII
    (and the quote and backslash) as \\xNN."""
    return re.sub(
        rb'[^ -~]|["\\]', lambda m: b"\\x%02x" % m[0][0], data
    ).decode()


EXITS = "Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage."
LAST_WORDS = 2.0  # seconds the replies being sent have, at the end


@dataclass(eq=False)
class Server:
    """What every connection shares: settings, and who is connected."""

    root: int  # the folder served, open
    timeout: float
    max_connections: int
    connections: set[Connection] = field(default_factory=set)
    served: int = 0  # connections, for the summary line
    idle: asyncio.Event = field(default_factory=asyncio.Event)


async def serve(listener: socket.socket, args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; return how many connections."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    root = os.open(args.root, os.O_RDONLY | os.O_DIRECTORY)
    server = Server(root, args.timeout, args.max_connections)
    # create_server() listens again, with a backlog of 100 unless told:
    # a burst of connections over it would wait a second to retry.
    listening = await loop.create_server(
        lambda: Connection(server), sock=listener, backlog=socket.SOMAXCONN
    )
    print(f"listening on {net.format_address(listener.getsockname())}",
          flush=True)  # fmt: skip
    await stop.wait()
    listening.close()
    for connection in list(server.connections):
        connection.keep = False
        if connection.file is None:  # close now, or after the reply
            connection.transport.close()
    if server.connections:
        try:
            await asyncio.wait_for(server.idle.wait(), LAST_WORDS)
        except asyncio.TimeoutError:
            for connection in list(server.connections):
                connection.transport.abort()
    os.close(root)
    return server.served


def folder(text: str) -> str:
    """Parse --root for argparse: a folder."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"not a folder: {text!r}")
    return text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, server=True, exits=EXITS)
    parser.add_argument(
        "--root",
        type=folder,
        default=".",
        metavar="FOLDER",
        help="serve the files under this folder (default: the current one)",
    )
    parser.add_argument(
        "--timeout",
        type=net.seconds,
        default=10.0,
        metavar="S",
        help="close a connection whose next request has not arrived "
        "after this long, or that takes no reply (default: %(default)s)",
    )
    parser.add_argument(
        "--max-connections",
        type=functools.partial(net.bounded_int, lowest=1, highest=100_000),
        default=1000,  # a process may open 1,024 files by default
        metavar="N",
        help="answer 503 to a connection over this many "
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
        served = asyncio.run(serve(listener, args))
    s = "" if served == 1 else "s"
    print(f"stopped: served {served} connection{s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
