"""Resolve a name: what getaddrinfo() returns, and the way back.

Shows what a client gets before it connects: each address the name has,
in the order to try them (RFC 6724 sorts them), its family and socket
type, the canonical name, and each address's own name.
getaddrinfo() has no timeout and cannot be cancelled, so each lookup
runs in a daemon thread that the program waits for, up to --timeout;
one that the resolver never answers is left behind, and ends with the
program. Every failure is one line.

    python examples/resolve.py
    python examples/resolve.py --host example.com --port 443 --family 6
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import net

# --8<-- [start:lesson]
T = TypeVar("T")
FAMILIES = {"any": socket.AF_UNSPEC, "4": socket.AF_INET, "6": socket.AF_INET6}


def within(call: Callable[[], T], timeout: float) -> T:
    """call() in a thread of its own; its result if it ends within timeout
    seconds, else TimeoutError. The thread is a daemon: when the program
    ends, a call still waiting (for a resolver that never answers) ends
    with it, instead of holding the exit."""
    results: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()

    def run() -> None:
        try:
            results.put((True, call()))
        except Exception as exc:  # gaierror, ...: raised in the caller
            results.put((False, exc))

    threading.Thread(target=run, daemon=True).start()
    try:
        done, result = results.get(timeout=timeout)
    except queue.Empty:
        raise TimeoutError(
            f"no answer from the resolver within {timeout:g} s"
        ) from None
    if not done:
        raise result
    return result  # type: ignore[no-any-return]


def lookup(
    host: str, port: int, family: int, timeout: float
) -> list[tuple[Any, ...]]:
    """getaddrinfo() for TCP, with the canonical name, within timeout."""
    return within(
        lambda: socket.getaddrinfo(
            host, port, family, socket.SOCK_STREAM, 0, socket.AI_CANONNAME
        ),
        timeout,
    )


def name_of(address: str, timeout: float) -> str:
    """The name an address has (a reverse lookup), or why it has none.

    gethostbyaddr(), not getnameinfo(): before Python 3.11, getnameinfo()
    keeps the GIL while it waits, and no thread could time it out."""
    try:
        name, _, _ = within(lambda: socket.gethostbyaddr(address), timeout)
    except OSError as exc:  # herror: no name, or no answer; or too late
        return f"no name ({exc.strerror or exc})"
    return str(name)


def why_none(host: str, port: int, family: int, timeout: float) -> str | None:
    """Why host has no address of family, if it has some of another: glibc
    says "Name or service not known" for both."""
    if family == socket.AF_UNSPEC:
        return None
    try:
        others = lookup(host, port, socket.AF_UNSPEC, timeout)
    except OSError:
        return None
    version = "IPv6" if family == socket.AF_INET6 else "IPv4"
    found = ", ".join(dict.fromkeys(info[4][0] for info in others))
    return f"no {version} address (it has {found})"


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 resolved, 1 not resolved (no such name, no answer from the
resolver, no address of the family asked for), 2 bad usage, 130
interrupted (Ctrl+C)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, exits=EXITS)
    parser.set_defaults(host="localhost")
    parser.add_argument(
        "--family",
        choices=FAMILIES,
        default="any",
        help="the addresses to ask for: any, 4 or 6 (default: %(default)s)",
    )
    net.add_timeout(
        parser,
        2.0,
        "seconds to wait for each lookup (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    family = FAMILIES[args.family]
    start = time.monotonic()
    try:
        infos = lookup(args.host, args.port, family, args.timeout)
    except socket.gaierror as exc:
        reason = why_none(args.host, args.port, family, args.timeout)
        return net.fail(f"cannot resolve {args.host}: "
                        f"{reason or exc.strerror}")  # fmt: skip
    except TimeoutError as exc:
        return net.fail(f"cannot resolve {args.host}: {exc}")
    except KeyboardInterrupt:  # the terminal has shown ^C
        return 128 + signal.SIGINT
    seconds = time.monotonic() - start
    count = len(infos)
    print(f"{args.host} port {args.port}: {count} "
          f"address{'' if count == 1 else 'es'} in {seconds * 1000:.1f} ms, "
          "in the order to try them")  # fmt: skip
    for family_, kind, _, _, address in infos:
        version = "IPv6" if family_ == socket.AF_INET6 else "IPv4"
        kind_name = "TCP" if kind == socket.SOCK_STREAM else str(kind)
        print(f"  {version}  {kind_name}  {net.format_address(address)}")
    print(f"canonical name: {infos[0][3] or '(none given)'}")
    for address in dict.fromkeys(info[4][0] for info in infos):
        print(f"name of {address}: {name_of(address, args.timeout)}")
    return 0


if __name__ == "__main__":
    status = main()
    if threading.active_count() > 1:  # a lookup still waits in its thread:
        sys.stdout.flush()  # leave at once, without finalizing Python under
        sys.stderr.flush()  # it (Python 3.9 may crash), and flush first,
        os._exit(status)  # for os._exit() skips the rest of the shutdown
    sys.exit(status)
