"""Happy Eyeballs: connect to a name the way RFC 8305 asks.

Shows a connect that a dead address cannot hold up. The addresses come
from getaddrinfo(), the families taken in turn (IPv6, IPv4, IPv6...).
Each attempt is a non-blocking connect(); the next one starts after
--delay while the last is still pending, or at once when it fails, and
the first to answer wins. It prints each attempt and how it ended.
--plain connects with socket.create_connection() instead, which waits
out --timeout on each address in turn, to compare.

    python examples/tcp_connect_happy_eyeballs.py --host localhost
    python examples/tcp_connect_happy_eyeballs.py --host dual.test --plain
"""

from __future__ import annotations

import argparse
import errno
import os
import queue
import selectors
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import net

# --8<-- [start:lesson]


@dataclass
class Attempt:
    """One address tried: when it started, and how it ended."""

    family: int
    address: Any
    started: float  # seconds after the first attempt
    ended: float | None = None
    outcome: str = "pending"


def interleave(infos: list[Any]) -> list[Any]:
    """The addresses in getaddrinfo()'s order, but the families taken in
    turn, the first one's first (RFC 8305, section 4)."""
    first = [info for info in infos if info[0] == infos[0][0]]
    rest = [info for info in infos if info[0] != infos[0][0]]
    mixed = [x for pair in zip(first, rest) for x in pair]
    return mixed + first[len(rest) :] + rest[len(first) :]


def happy_eyeballs(
    infos: list[Any], delay: float, timeout: float
) -> tuple[socket.socket | None, list[Attempt]]:
    """Race connects to infos' addresses, each started delay seconds
    after the last (at once if the last failed); return the first socket
    that connects, or None, with every attempt."""
    waiting = interleave(infos)
    attempts: list[Attempt] = []
    start = time.monotonic()
    deadline, next_start = start + timeout, start
    winner, won_at = None, 0.0
    with selectors.DefaultSelector() as pending:
        try:
            while (waiting or pending.get_map()) and winner is None:
                now = time.monotonic()
                if now >= deadline:
                    break
                if waiting and now >= next_start:  # the next address
                    family, _, _, _, address = waiting.pop(0)
                    attempts.append(Attempt(family, address, now - start))
                    if begin(pending, attempts[-1]):
                        next_start = now + delay
                    continue  # else it failed at once: the next, now
                until = min(deadline, next_start) if waiting else deadline
                for key, _ in pending.select(until - now):
                    sock, attempt = key.data
                    pending.unregister(sock)
                    at = time.monotonic() - start
                    if connected(sock, attempt, at):
                        winner, won_at = sock, at
                        break  # the rest, connected or not: abandoned
                    sock.close()  # failed: the next, at once
                    next_start = time.monotonic()
        finally:  # the losers and the late; or every one, on Ctrl+C
            at = won_at if winner else time.monotonic() - start
            for key in list(pending.get_map().values()):
                sock, attempt = key.data
                sock.close()
                end(attempt, at, "abandoned" if winner else "timed out")
    attempts += [Attempt(info[0], info[4], timeout, None, "not tried")
                 for info in waiting]  # fmt: skip
    if winner is not None:
        winner.setblocking(True)
    return winner, attempts


def begin(pending: selectors.BaseSelector, attempt: Attempt) -> bool:
    """Start a non-blocking connect and watch it; False if it failed at
    once (refused, no route), the attempt then ended."""
    sock = socket.socket(attempt.family, socket.SOCK_STREAM)
    sock.setblocking(False)
    code = sock.connect_ex(attempt.address)  # sends the SYN
    if code in (0, errno.EINPROGRESS):  # writable once it is decided
        pending.register(sock, selectors.EVENT_WRITE, (sock, attempt))
        return True
    sock.close()
    end(attempt, attempt.started, os.strerror(code))
    return False


def connected(sock: socket.socket, attempt: Attempt, at: float) -> bool:
    """Whether a watched connect succeeded (SO_ERROR 0); record how it
    ended, at seconds after the first."""
    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    end(attempt, at, os.strerror(code) if code else "connected")
    return code == 0


def end(attempt: Attempt, at: float, outcome: str) -> None:
    """Record how and when (seconds after the first) an attempt ended."""
    attempt.ended = at
    attempt.outcome = outcome[:1].lower() + outcome[1:]  # an errno's words


# --8<-- [end:lesson]
EXITS = """\
Exit status: 0 connected, 1 no address answered, 2 bad usage, 130
interrupted (Ctrl+C)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, exits=EXITS)
    parser.set_defaults(host="localhost")
    net.add_timeout(
        parser,
        5.0,
        "seconds for the whole connect, the lookup included "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--delay",
        type=net.seconds,
        default=0.25,
        metavar="S",
        help="seconds before the next address is tried while one is "
        "pending; RFC 8305 says 0.25 (default: %(default)s)",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="connect with socket.create_connection() instead, to compare",
    )
    return parser.parse_args(argv)


def within(call: Any, timeout: float) -> Any:
    """call() in a daemon thread, waited for up to timeout seconds (the
    lookup: getaddrinfo() cannot be cancelled; see resolve.py's page)."""
    results: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()

    def run() -> None:
        try:
            results.put((True, call()))
        except Exception as exc:  # gaierror, ...
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
    return result


def plain(host: str, port: int, timeout: float) -> int:
    """Connect with socket.create_connection(), for comparison."""
    # From Python 3.11: every address's error, not the last one alone.
    new = sys.version_info >= (3, 11)
    extra: dict[str, Any] = {"all_errors": True} if new else {}
    start = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout, **extra)
    except Exception as exc:  # 3.11: an ExceptionGroup of every error
        errors = getattr(exc, "exceptions", [exc])
        said = "; ".join(net.reason(error) for error in errors)
        return net.fail(f"cannot connect to {host} port {port}: {said}")
    with sock:
        where = net.format_address(sock.getpeername())
    took = time.monotonic() - start
    print(f"connected to {where} in {took:.3f} s (create_connection)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    try:
        if args.plain:
            return plain(args.host, args.port, args.timeout)
        start = time.monotonic()
        infos = within(
            lambda: socket.getaddrinfo(
                args.host, args.port, type=socket.SOCK_STREAM
            ),
            args.timeout,
        )
        left = args.timeout - (time.monotonic() - start)
        sock, attempts = happy_eyeballs(infos, args.delay, max(left, 0.0))
    except KeyboardInterrupt:  # the terminal has shown ^C
        return 128 + signal.SIGINT
    except socket.gaierror as exc:
        return net.fail(f"cannot resolve {args.host}: {exc.strerror}")
    except TimeoutError as exc:
        return net.fail(f"cannot resolve {args.host}: {exc}")
    for attempt in attempts:
        ended = "" if attempt.ended is None else f" at {attempt.ended:.3f} s"
        print(f"{attempt.started:6.3f} s  "
              f"{net.format_address(attempt.address):24} "
              f"{attempt.outcome}{ended}")  # fmt: skip
    if sock is None:
        said = "; ".join(
            f"{net.format_address(a.address)} {a.outcome}" for a in attempts
        )
        return net.fail(
            f"cannot connect to {args.host} port {args.port}: {said}"
        )
    with sock:
        where = net.format_address(sock.getpeername())
    print(f"connected to {where} in {time.monotonic() - start:.3f} s")
    return 0


if __name__ == "__main__":
    status = main()
    if threading.active_count() > 1:  # a lookup still waits in its thread:
        sys.stdout.flush()  # leave at once, without finalizing Python under
        sys.stderr.flush()  # it (Python 3.9 may crash), and flush first,
        os._exit(status)  # for os._exit() skips the rest of the shutdown
    sys.exit(status)
