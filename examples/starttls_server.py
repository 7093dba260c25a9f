"""STARTTLS server, blocking: plaintext first, then TLS on the same socket.

Shows the SMTP way to upgrade a connection: a 220 greeting, EHLO
answered with 250-STARTTLS, STARTTLS answered with 220, then the TLS
handshake on the connected socket (ssl.SSLContext.wrap_socket), and the
protocol again inside TLS. The injection that Postfix had (CVE-2011-0411)
is refused: bytes that arrive after STARTTLS and before the handshake
are never read as commands inside TLS; the server says so and closes.
After the upgrade nothing from before is kept: the client must EHLO
again, and is told the capabilities again, without STARTTLS. A thread
a client, at most --max-connections. Python 3.9 and up.

    python examples/starttls_server.py
    python examples/starttls_client.py --cafile ca.pem
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import signal
import socket
import ssl
import sys
import threading
import time
from dataclasses import dataclass, field

import net

log = logging.getLogger("starttls")

# --8<-- [start:lesson]
MAX_LINE = 1000  # bytes in a command line, CRLF too (RFC 5321, 4.5.3.1.4)


class Lines:
    """Lines from a socket, each ending in LF (CRLF in SMTP). What was
    received after the last line read is kept in buffer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def read(self) -> bytes | None:
        """The next line without its line end; None at EOF."""
        while (end := self.buffer.find(b"\n")) < 0:
            if len(self.buffer) >= MAX_LINE:
                raise ConnectionError(f"a line over {MAX_LINE} bytes")
            data = self.sock.recv(4096)
            if not data:
                return None
            self.buffer += data
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 1]
        return line.rstrip(b"\r")


def reply(sock: socket.socket, code: int, *lines: str) -> None:
    """Send a reply: every line but the last as "250-...", the last as
    "250 ..." (RFC 5321, 4.2.1)."""
    text = "".join(
        f"{code}{' ' if i == len(lines) - 1 else '-'}{line}\r\n"
        for i, line in enumerate(lines)
    )
    sock.sendall(text.encode())


def session(sock: socket.socket, context: ssl.SSLContext, name: str) -> str:
    """Talk to one client, in plaintext, then in TLS; return how it
    ended."""
    lines = Lines(sock)
    reply(sock, 220, f"{name} ESMTP starttls_server.py ready")
    while (line := lines.read()) is not None:
        verb = line.split(b" ", 1)[0].upper()
        if verb in (b"EHLO", b"HELO"):
            reply(sock, 250, name, "STARTTLS", "HELP")
        elif verb == b"STARTTLS":
            if lines.buffer:  # sent after STARTTLS, before the handshake:
                # never to be read as if it came inside TLS (the injection)
                reply(sock, 554, "5.5.1 data after STARTTLS: closing")
                return "bytes after STARTTLS: refused"
            reply(sock, 220, "2.0.0 ready to start TLS")
            with context.wrap_socket(sock, server_side=True) as tls:
                log.info("TLS: %s", net.describe_tls(tls))
                why = in_tls(Lines(tls), name)
                with contextlib.suppress(OSError):  # gone already
                    tls.unwrap()  # close_notify: TLS ends, not cut
                return "in TLS: " + why
        else:
            answer(sock, verb)
            if verb == b"QUIT":
                return "quit"
    return "EOF"


def in_tls(lines: Lines, name: str) -> str:
    """The protocol again, inside TLS, from a new start: nothing read
    before the handshake is kept, and the client must EHLO again, to be
    told the capabilities again, without STARTTLS."""
    while (line := lines.read()) is not None:
        verb = line.split(b" ", 1)[0].upper()
        if verb in (b"EHLO", b"HELO"):
            reply(lines.sock, 250, name, "HELP")
        elif verb == b"STARTTLS":
            reply(lines.sock, 503, "5.5.1 TLS already")
        else:
            answer(lines.sock, verb)
            if verb == b"QUIT":
                return "quit"
    return "EOF"


def answer(sock: socket.socket, verb: bytes) -> None:
    """The commands the same in plaintext and in TLS."""
    if verb == b"NOOP":
        reply(sock, 250, "2.0.0 OK")
    elif verb == b"QUIT":
        reply(sock, 221, "2.0.0 bye")
    else:
        reply(sock, 502, "5.5.2 not implemented here")


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 stopped by a signal, 1 cannot listen, 2 bad usage (a
certificate or key that cannot be loaded)."""


def serve_one(
    conn: socket.socket,
    spare: socket.socket,
    peer: str,
    args: argparse.Namespace,
    served: Served,
) -> None:
    """One client, in a thread of its own: its session, then one line."""
    with conn, spare:
        conn.settimeout(args.idle_timeout)
        try:
            why = session(conn, args.context, args.name)
        except socket.timeout:  # TimeoutError from Python 3.10 on
            why = f"idle for {args.idle_timeout:g} s"
        except OSError as exc:  # a reset, a failed handshake, ...
            why = net.reason(exc)
        finally:
            with served.lock:
                served.open.discard(spare)
        log.info("%s: %s", peer, why)


def serve(listener: socket.socket, args: argparse.Namespace) -> Served:
    """Accept clients, a thread each, until SIGINT or SIGTERM; then shut
    every connection down (each thread's recv() returns) and wait for
    the threads, LAST_WORDS seconds at most."""
    served = Served()
    threads: list[threading.Thread] = []
    try:
        while True:
            conn, addr = listener.accept()
            peer = net.format_address(addr)
            with served.lock:
                full = len(served.open) >= args.max_connections
                # A copy of the socket (the same connection) that stays
                # plaintext: for the stop, to shut it down.
                spare = None if full else conn.dup()
                if spare is not None:
                    served.open.add(spare)
            if spare is None:
                log.warning("%s: refused: %d connections open", peer,
                            args.max_connections)  # fmt: skip
                conn.close()
                continue
            served.clients += 1
            threads = [thread for thread in threads if thread.is_alive()]
            threads.append(threading.Thread(
                target=serve_one, args=(conn, spare, peer, args, served)
            ))  # fmt: skip
            threads[-1].start()
    except KeyboardInterrupt:  # SIGINT, or SIGTERM: see main()
        pass
    with served.lock:
        for spare in served.open:
            with contextlib.suppress(OSError):  # it has just ended
                spare.shutdown(socket.SHUT_RDWR)
    deadline = time.monotonic() + LAST_WORDS
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    return served


@dataclass
class Served:
    """The clients served, and the connections open (their spares)."""

    clients: int = 0
    open: set[socket.socket] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


LAST_WORDS = 2.0  # seconds the threads have to end, at the stop


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, server=True, exits=EXITS)
    parser.add_argument(
        "--cert",
        default="localhost.pem",
        metavar="FILE",
        help="the server's certificate, PEM (default: %(default)s)",
    )
    parser.add_argument(
        "--key",
        default="localhost-key.pem",
        metavar="FILE",
        help="the certificate's private key, PEM (default: %(default)s)",
    )
    parser.add_argument(
        "--name",
        default="localhost",
        metavar="NAME",
        help="the name the server gives in its replies (default: %(default)s)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=net.seconds,
        default=60.0,
        metavar="S",
        help="close a connection that sends nothing for this long "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--max-connections",
        type=functools.partial(net.bounded_int, lowest=1, highest=10_000),
        default=100,
        metavar="N",
        help="close at once a connection over this many (a thread each; "
        "default: %(default)s)",
    )
    args = parser.parse_args(argv)
    args.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    args.context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        args.context.load_cert_chain(args.cert, args.key)
    except OSError as exc:
        files = f"--cert {args.cert} and --key {args.key}"
        parser.error(f"cannot load {files}: {net.reason(exc)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        listener = socket.create_server((args.host, args.port))
    except OSError as exc:
        where = net.format_address((args.host, args.port))
        return net.fail(f"cannot listen on {where}: {net.reason(exc)}")
    with listener:
        print(f"listening on {net.format_address(listener.getsockname())}",
              flush=True)  # fmt: skip
        served = serve(listener, args)
    s = "" if served.clients == 1 else "s"
    print(f"stopped: served {served.clients} client{s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
