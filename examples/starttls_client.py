"""STARTTLS client, blocking: plaintext first, then TLS, or nothing.

Shows the client's side of an upgrade, as SMTP does it: read the 220
greeting, EHLO, check that STARTTLS is offered, send STARTTLS, wait for
220, then the TLS handshake on the same socket, the server's certificate
checked against --cafile and --server-name. It refuses to go on in
plaintext when STARTTLS is not offered (an attacker on the path can
remove it), and refuses bytes that come after the 220, before the
handshake (an attacker can add them). Inside TLS it says EHLO again and
sends the message (a command, NOOP by default), then QUIT. It prints
the exchange: C: what it sent, S: what the server answered.

    python examples/starttls_client.py --cafile ca.pem
    python examples/starttls_client.py --cafile ca.pem "VRFY ada"
"""

from __future__ import annotations

import argparse
import logging
import socket
import ssl
import sys

import net

log = logging.getLogger("starttls")

# --8<-- [start:lesson]
MAX_LINE = 1000  # bytes in a reply line, CRLF too (RFC 5321, 4.5.3.1.5)


class Refused(Exception):
    """The server said no, or did what a server must not."""


class Lines:
    """Lines from a socket, each ending in LF. What was received after
    the last line read is kept in buffer."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def read(self) -> str:
        """The next line, without its line end."""
        while (end := self.buffer.find(b"\n")) < 0:
            if len(self.buffer) >= MAX_LINE:
                raise Refused(f"a reply line over {MAX_LINE} bytes")
            data = self.sock.recv(4096)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.buffer += data
        line = bytes(self.buffer[:end]).rstrip(b"\r")
        del self.buffer[: end + 1]
        text = line.decode("utf-8", "replace")
        print(f"S: {text}")
        return text


def command(lines: Lines, text: str) -> tuple[int, list[str]]:
    """Send a command; return the reply's code and its lines' texts:
    "250-a", "250-b", "250 c" is 250, [a, b, c]."""
    print(f"C: {text}")
    lines.sock.sendall(text.encode() + b"\r\n")
    return reply(lines)


def reply(lines: Lines) -> tuple[int, list[str]]:
    """Read one reply, all its lines."""
    texts = []
    while True:
        line = lines.read()
        if len(line) < 3 or not line[:3].isdigit():
            raise Refused(f"not a reply: {line!r}")
        texts.append(line[4:])
        if line[3:4] != "-":  # "250 ...": the last line
            return int(line[:3]), texts


def upgrade(
    sock: socket.socket, context: ssl.SSLContext, name: str
) -> ssl.SSLSocket:
    """The plaintext part: greeting, EHLO, STARTTLS; then the handshake.
    Raise Refused rather than go on in plaintext."""
    lines = Lines(sock)
    code, _ = reply(lines)
    if code != 220:
        raise Refused(f"greeted with {code}, not 220")
    code, offers = command(lines, "EHLO client.example")
    if code != 250 or "STARTTLS" not in (o.upper() for o in offers):
        raise Refused("STARTTLS not offered: nothing sent in plaintext")
    code, _ = command(lines, "STARTTLS")
    if code != 220:
        raise Refused(f"STARTTLS answered with {code}, not 220")
    if lines.buffer:  # bytes after the 220, before the handshake: not
        raise Refused("bytes after the 220 to STARTTLS")  # the server's
    tls = context.wrap_socket(sock, server_hostname=name)
    print(f"-- TLS: {net.describe_tls(tls)}")
    return tls


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 the server accepted the message inside TLS, 1 network
failure (refused, timed out, STARTTLS not offered or refused, a failed
handshake, a reply other than 2xx), 2 bad usage, 130 interrupted
(Ctrl+C)."""


def parser() -> argparse.ArgumentParser:
    parser = net.parser(__doc__, exits=EXITS)
    net.add_message(parser, "NOOP")
    net.add_timeout(
        parser,
        5.0,
        "the longest wait for the connection and for each reply "
        "(default: %(default)s)",
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
        help="the name the server's certificate must show (default: --host)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    options = parser()
    args = options.parse_args(argv)
    message = net.message_bytes(args.message).decode(errors="replace")
    if "\r" in message or "\n" in message:
        options.error("the message is one command: no CR or LF")
    try:
        context = ssl.create_default_context(cafile=args.cafile)
    except OSError as exc:
        options.error(f"cannot load --cafile {args.cafile}: "
                      f"{net.reason(exc)}")  # fmt: skip
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    net.setup_logging(args.verbose)
    peer = net.format_address((args.host, args.port))
    try:
        with net.connect(args.host, args.port, args.timeout) as sock:
            peer = net.format_address(sock.getpeername())
            name = args.server_name or args.host
            with upgrade(sock, context, name) as tls:
                lines = Lines(tls)
                command(lines, "EHLO client.example")  # again, in TLS
                code, _ = command(lines, message)
                command(lines, "QUIT")
    except socket.timeout:  # TimeoutError from Python 3.10 on
        return net.fail(f"{peer}: no reply within {args.timeout:g} s")
    except ssl.SSLError as exc:  # the certificate, a failed handshake...
        return net.fail(f"{peer}: TLS handshake failed: {net.reason(exc)}")
    except Refused as exc:
        return net.fail(f"{peer}: {exc}")
    except (KeyboardInterrupt, OSError) as exc:  # refused, reset, ...
        return net.failed(exc, args.host, peer)
    if not 200 <= code < 300:
        return net.fail(f"{peer}: {message!r} answered with {code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
