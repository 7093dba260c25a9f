"""Small socket helpers shared by the cookbook's examples.

Standard library only, Python 3.9 or newer: copy it next to an example.
Where the platform lacks something (/proc, SO_REUSEPORT), helpers return
None or False instead of failing.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import re
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for the types: the TCP examples import neither
    import asyncio  # asyncio nor ssl, and start faster without them
    import ssl

log = logging.getLogger("net")

MAX_WAIT = 3600.0  # seconds: the longest wait any option may ask for
SYSCTLS = Path("/proc/sys/net/core")  # Linux's; other systems have none


def format_address(address: Any) -> str:
    """Return "host:port", or "[host]:port" for an IPv6 address."""
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def max_buffer_size(option: int) -> int | None:
    """Return the system's cap for SO_RCVBUF or SO_SNDBUF (Linux's sysctl
    net.core.rmem_max or wmem_max), None if unknown."""
    name = {socket.SO_RCVBUF: "rmem_max", socket.SO_SNDBUF: "wmem_max"}
    try:
        return int((SYSCTLS / name[option]).read_text())
    except (KeyError, OSError, ValueError):
        return None


def set_buffer_sizes(
    sock: socket.socket,
    recv: int | None = None,
    send: int | None = None,
) -> tuple[int, int]:
    """Ask for receive and send buffer sizes; return what the kernel gave.

    Call it before the socket carries traffic. Linux doubles the value it is
    given (the extra room is for its own bookkeeping) after capping it at
    net.core.rmem_max or wmem_max, so the result is rarely the request.
    """
    for option, size in ((socket.SO_RCVBUF, recv), (socket.SO_SNDBUF, send)):
        if size is None:
            continue
        sock.setsockopt(socket.SOL_SOCKET, option, size)
        got = sock.getsockopt(socket.SOL_SOCKET, option)
        name = "SO_RCVBUF" if option == socket.SO_RCVBUF else "SO_SNDBUF"
        cap = max_buffer_size(option) or "unknown here"
        log.info("%s: asked for %d, the kernel gave %d (Linux doubles the "
                 "request after capping it at the system maximum, %s)",
                 name, size, got, cap)  # fmt: skip
    return buffer_sizes(sock)


def buffer_sizes(sock: socket.socket) -> tuple[int, int]:
    """Return the socket's (receive, send) buffer sizes in bytes."""
    return (
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
        sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
    )


def reuse_port(sock: socket.socket) -> bool:
    """Set SO_REUSEPORT before bind(); return False where there is none.

    Sockets of the same user (only) may then share one address, and the
    kernel spreads incoming datagrams across them.
    """
    option = getattr(socket, "SO_REUSEPORT", None)
    try:
        if option is None:  # Windows has none
            raise OSError("not defined on this system")
        sock.setsockopt(socket.SOL_SOCKET, option, 1)
    except OSError as exc:
        log.warning("SO_REUSEPORT is not available here: %s", exc)
        return False
    return True


def describe(sock: socket.socket) -> str:
    """Return one line of facts about a socket, for logs."""
    kinds = {socket.SOCK_DGRAM: "UDP", socket.SOCK_STREAM: "TCP"}
    kind = kinds.get(sock.type, str(sock.type))
    where = format_address(sock.getsockname())
    try:
        where += " -> " + format_address(sock.getpeername())
    except OSError:  # not connected
        pass
    options = ["SO_RCVBUF", "SO_SNDBUF", "SO_REUSEADDR", "SO_REUSEPORT"]
    values = [
        f"{name}={sock.getsockopt(socket.SOL_SOCKET, getattr(socket, name))}"
        for name in options
        if hasattr(socket, name)  # Windows has no SO_REUSEPORT
    ]
    return f"{kind} {where} " + " ".join(values)


def describe_tls(tls: ssl.SSLSocket | ssl.SSLObject) -> str:
    """One line for logs: TLS version, cipher, the peer's subject."""
    cert: dict[str, Any] | None = tls.getpeercert()
    subject = "none"  # the peer showed no certificate: {} or None
    if cert:  # ((("commonName", "localhost"),), ...): one name per part
        subject = ", ".join(
            f"{name}={value}"
            for part in cert["subject"]
            for name, value in part
        )
    cipher = tls.cipher()
    return f"{tls.version()} {cipher[0] if cipher else ''}, peer: {subject}"


def send_datagram(
    transport: asyncio.DatagramTransport,
    sock: socket.socket,
    data: bytes,
    addr: Any = None,
) -> None:
    """Send one datagram through an asyncio transport, empty ones included:
    before Python 3.13, transport.sendto(b"") sends nothing, so those go
    straight to the socket (errors then raised here, not given to
    error_received())."""
    if data:
        transport.sendto(data, addr)
    elif addr is None:
        sock.send(data)
    else:
        sock.sendto(data, addr)


def setup_logging(verbose: bool) -> None:
    """Log to stderr as "name: message"; -v shows INFO, else WARNING up."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(name)s: %(message)s",
    )


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """Connect over TCP within timeout seconds (for each address the name
    has), which the socket keeps; a timeout says it was the connect."""
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except socket.timeout:  # TimeoutError from Python 3.10 on
        raise ConnectionError(f"no connection within {timeout:g} s") from None


def reachable_from_elsewhere(sock: socket.socket) -> bool:
    """Whether other machines can reach the address sock is bound to."""
    return not ipaddress.ip_address(sock.getsockname()[0]).is_loopback


TLS_NOISE = re.compile(r"^\[\w+(: \w+)?\] | \(_ssl\.c:\d+\)$")


def reason(exc: BaseException) -> str:
    """What went wrong, in words: the system's for its errno (the same on
    every Python), else its text; for an ssl.SSLError, OpenSSL's, without
    the "[SSL: ...]" tag and the "(_ssl.c:1006)" source line."""
    ssl = sys.modules.get("ssl")  # imported by the TLS examples only
    if ssl is not None and isinstance(exc, ssl.SSLError):
        return TLS_NOISE.sub("", str(exc.strerror or exc))
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and errno > 0:
        return os.strerror(errno)
    return getattr(exc, "strerror", None) or str(exc)


def shorten(data: bytes | bytearray, limit: int = 40) -> str:
    """repr() of data as bytes, cut to about limit characters."""
    text = repr(bytes(data[:limit]))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fail(message: str) -> int:
    """Report a network failure on stderr; return exit status 1."""
    print(f"error: {message}", file=sys.stderr)
    return 1


def failed(exc: BaseException, host: str, peer: str) -> int:
    """Say in one line what ended a client; return its exit status: 1,
    or 130 (128 + SIGINT) and no words for Ctrl+C (the terminal shows ^C).
    """
    if isinstance(exc, KeyboardInterrupt):
        return 128 + signal.SIGINT
    if isinstance(exc, socket.gaierror):
        return fail(f"cannot resolve {host}: {exc.strerror}")
    if isinstance(exc, ConnectionRefusedError):
        return fail(f"nothing is listening at {peer}")
    return fail(f"{peer}: {reason(exc)}")


def parser(
    description: str | None,
    server: bool = False,
    unix: bool = False,
    exits: str | None = None,
) -> argparse.ArgumentParser:
    """An argument parser with the options every example takes.

    --host, --port (0 for a server: any free port) and -v/--verbose; unix:
    --path and --abstract instead. The description (the docstring) is
    shown as written; exits (the exit statuses) after the options.
    """
    new = argparse.ArgumentParser(
        description=description,
        epilog=exits,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if unix:
        new.add_argument(
            "--path",
            type=unix_path,
            default="echo.sock",
            help=("socket file to create" if server else "server's socket "
                  "file") + " (default: %(default)s)",
        )  # fmt: skip
        new.add_argument(
            "--abstract",
            action="store_true",
            help="use --path as a name in Linux's abstract namespace: no file",
        )
    else:
        new.add_argument(
            "--host",
            type=host_name,
            default="127.0.0.1",
            help=("address to listen on" if server else "server address")
            + " (default: %(default)s)",
        )
        new.add_argument(
            "--port",
            type=lambda text: bounded_int(text, 0 if server else 1, 65_535),
            default=8888,
            help=("port to listen on, 0 for any free one" if server else
                  "port") + " (default: %(default)s)",
        )  # fmt: skip
    if unix and server:
        new.add_argument(
            "--mode",
            type=octal_mode,
            default=0o600,
            metavar="OCTAL",
            help="permissions of the socket file: who may connect or send "
            "to it (default: 600, only this user)",
        )
    new.add_argument(
        "-v", "--verbose", action="store_true", help="log on stderr"
    )
    return new


# sun_path, the path's room in a Unix socket address, is 108 bytes on
# Linux (104 on macOS and the BSDs), its NUL at the end included.
MAX_UNIX_PATH = 107


def octal_mode(text: str) -> int:
    """Parse file permissions such as 600 or 0660, for argparse."""
    try:
        mode = int(text, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o777:
        raise argparse.ArgumentTypeError(
            f"must be octal permissions from 000 to 777, not {text!r}"
        )
    return mode


def unix_path(text: str) -> str:
    """Parse a Unix socket path for argparse: 1 to MAX_UNIX_PATH bytes."""
    size = len(os.fsencode(text))
    if not 0 < size <= MAX_UNIX_PATH:
        raise argparse.ArgumentTypeError(
            f"must be 1 to {MAX_UNIX_PATH} bytes (a Unix socket address "
            f"has room for {MAX_UNIX_PATH + 1}, with a NUL), not {size}"
        )
    return text


def unix_address(path: str, abstract: bool) -> str:
    """The address to bind or connect to. Abstract: a NUL byte, then the
    name; the kernel keeps the name, with no file (Linux only)."""
    return "\0" + path if abstract else path


def format_unix(address: str | bytes) -> str:
    """A Unix socket address as ss(8) shows it: the path; "@name" for an
    abstract one; "unnamed" for a socket bound to nothing. Bytes that are
    not UTF-8 show as \\xNN: the text prints to any stdout."""
    text = os.fsencode(address).decode(errors="backslashreplace")
    if text.startswith("\0"):
        return "@" + text[1:]
    return text or "unnamed"


def add_message(parser: argparse.ArgumentParser, default: str) -> None:
    """Add the message a client sends: see message_bytes()."""
    parser.add_argument(
        "message",
        nargs="?",
        default=default,
        help='what to send, as typed; "-" reads it from stdin '
        "(default: %(default)s)",
    )


def add_timeout(
    parser: argparse.ArgumentParser, default: float, help: str
) -> None:
    """Add --timeout S, a wait in seconds: see seconds()."""
    parser.add_argument(
        "--timeout", type=seconds, default=default, metavar="S", help=help
    )


def add_buffer_options(parser: argparse.ArgumentParser) -> None:
    """Add --recv-bufsize and --send-bufsize: see set_buffer_sizes()."""
    for option, name in (
        ("--recv-bufsize", "SO_RCVBUF"),
        ("--send-bufsize", "SO_SNDBUF"),
    ):
        parser.add_argument(
            option,
            type=lambda text: bounded_int(text, 1, 2**31 - 1),
            metavar="BYTES",
            help=f"{name} to ask for (default: the system's)",
        )


def bounded_int(text: str, lowest: int, highest: int) -> int:
    """Parse a whole number from lowest to highest, for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not lowest <= value <= highest:
        raise argparse.ArgumentTypeError(
            f"must be from {lowest} to {highest}, not {text}"
        )
    return value


def host_name(text: str) -> str:
    """Parse a host for argparse: a name or an address, 1 to 253 bytes (the
    longest name DNS can carry, RFC 1035)."""
    size = len(os.fsencode(text))
    if not 0 < size <= 253:
        raise argparse.ArgumentTypeError(f"must be 1 to 253 bytes, not {size}")
    return text


def seconds(text: str) -> float:
    """Parse a wait for argparse: more than 0 and at most MAX_WAIT seconds.

    float() accepts "inf" and "nan"; a wait must end, so both are refused.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= MAX_WAIT:  # false for nan too
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {MAX_WAIT:g} seconds, not {text}"
        )
    return value


def message_bytes(arg: str) -> bytes:
    """The bytes of a message argument, exactly as the user typed them.

    Python decodes the command line with the file system encoding; fsencode
    undoes that, so even bytes that are not UTF-8 reach the wire unchanged.
    "-" means: read the message from standard input, to its end. Ctrl+C
    meanwhile exits 130 (128 + SIGINT) with no traceback.
    """
    if arg != "-":
        return os.fsencode(arg)
    try:
        return sys.stdin.buffer.read()
    except KeyboardInterrupt:
        raise SystemExit(128 + signal.SIGINT) from None
