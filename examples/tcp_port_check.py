"""Check many TCP ports at once: open, refused, timed out or unreachable.

Shows non-blocking connect() to many ports at once: connect_ex() starts
each, one selector says when each is done, and SO_ERROR says how it went.
At most --concurrency are in flight (never more than the process may
open files) and each has its own deadline, --timeout. Refused ports are
counted, and listed with -v. --wait tries again until every port
answers, for --timeout in all: what a start-up script needs.

    python examples/tcp_port_check.py --ports 1-1024
    python examples/tcp_port_check.py --port 8888 --wait --timeout 30
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import queue
import resource
import selectors
import signal
import socket
import sys
import threading
import time
from typing import Any

import net

log = logging.getLogger("port_check")

# --8<-- [start:lesson]
OUTCOMES = {
    0: "open",
    errno.ECONNREFUSED: "refused",
    errno.ETIMEDOUT: "timed out",
    errno.EHOSTUNREACH: "unreachable",
    errno.ENETUNREACH: "unreachable",
}


def check(
    address: Any, ports: list[int], concurrency: int, timeout: float
) -> dict[int, str]:
    """Try a TCP connection to each port of address (a getaddrinfo()
    family and sockaddr), concurrency at a time; return how each went."""
    family, sockaddr = address
    results: dict[int, str] = {}
    todo = iter(ports)
    with selectors.DefaultSelector() as in_flight:
        while True:
            while len(in_flight.get_map()) < concurrency:
                port = next(todo, None)
                if port is None:
                    break
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.setblocking(False)
                code = sock.connect_ex((sockaddr[0], port, *sockaddr[2:]))
                if code in (0, errno.EINPROGRESS):  # wait until writable
                    deadline = time.monotonic() + timeout
                    in_flight.register(
                        sock, selectors.EVENT_WRITE, (port, deadline, sock)
                    )
                else:  # refused or unreachable at once
                    sock.close()
                    results[port] = outcome(code)
            attempts = in_flight.get_map().values()
            if not attempts:
                return results
            first = min(key.data[1] for key in attempts)
            for key, _ in in_flight.select(first - time.monotonic()):
                port, _, sock = key.data
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if not code and sock.getsockname() == sock.getpeername():
                    # Its own port: on loopback, a connect whose source
                    # port is the port it asks for meets itself. Nothing
                    # listens there.
                    code = errno.ECONNREFUSED
                results[port] = outcome(code)
                in_flight.unregister(sock)
                sock.close()
            now = time.monotonic()
            for key in list(in_flight.get_map().values()):
                port, deadline, sock = key.data
                if deadline <= now:  # its own deadline has passed
                    results[port] = "timed out"
                    in_flight.unregister(sock)
                    sock.close()


def outcome(code: int) -> str:
    """What an errno from connect() means for a port check."""
    return OUTCOMES.get(code) or os.strerror(code)


def max_concurrency() -> int:
    """How many sockets this process may have open, less a few for the
    files it has (stdin, stdout, stderr, the selector...)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, min(soft, 10_000) - 16)


# --8<-- [end:lesson]
def port_range(text: str) -> list[int]:
    """Parse LOW-HIGH (or one port) for argparse."""
    low, _, high = text.partition("-")
    first = net.bounded_int(low, 1, 65_535)
    last = net.bounded_int(high, 1, 65_535) if high else first
    if last < first:
        raise argparse.ArgumentTypeError(f"out of order: {text}")
    return list(range(first, last + 1))


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


EXITS = """\
Exit status: 0 every port open, 1 a port not open (or the host not
found), 2 bad usage, 130 interrupted (Ctrl+C)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, exits=EXITS)
    parser.add_argument(
        "--ports",
        type=port_range,
        metavar="LOW-HIGH",
        help="the ports to check, instead of --port (default: none)",
    )
    highest = max_concurrency()
    parser.add_argument(
        "--concurrency",
        type=lambda text: net.bounded_int(text, 1, highest),
        default=min(100, highest),
        metavar="N",
        help=f"connects in flight at once, 1 to {highest} here (the "
        "process's file limit) (default: %(default)s)",
    )
    net.add_timeout(
        parser,
        1.0,
        "seconds each connect may take; with --wait, the whole wait "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="try again until every port is open, for --timeout in all",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    net.setup_logging(args.verbose)
    ports = args.ports or [args.port]
    start = time.monotonic()
    try:
        family, _, _, _, sockaddr = within(
            lambda: socket.getaddrinfo(
                args.host, None, type=socket.SOCK_STREAM
            ),
            args.timeout,
        )[0]
        # With --wait, each try may take a second at most, and what is
        # not open yet is tried again every 0.1 s, until --timeout.
        each = min(args.timeout, 1.0) if args.wait else args.timeout
        target = (family, sockaddr)
        results = check(target, ports, args.concurrency, each)
        while args.wait and set(results.values()) != {"open"}:
            left = args.timeout - (time.monotonic() - start)
            if left <= 0:
                break
            time.sleep(min(0.1, left))
            again = [port for port, said in results.items() if said != "open"]
            each = max(0.001, min(1.0, left))
            results.update(check(target, again, args.concurrency, each))
    except KeyboardInterrupt:  # the terminal has shown ^C
        return 128 + signal.SIGINT
    except socket.gaierror as exc:
        return net.fail(f"cannot resolve {args.host}: {exc.strerror}")
    except TimeoutError as exc:
        return net.fail(f"cannot resolve {args.host}: {exc}")
    seconds = time.monotonic() - start
    counts: dict[str, int] = {}
    for port in ports:
        said = results[port]
        counts[said] = counts.get(said, 0) + 1
        where = net.format_address((sockaddr[0], port))
        if said == "refused":
            log.info("%s refused", where)
        else:
            print(f"{where} {said}")
    summary = ", ".join(f"{count} {said}" for said, count in counts.items())
    s = "" if len(ports) == 1 else "s"
    print(f"{len(ports)} port{s} in {seconds:.2f} s: {summary}")
    return 0 if counts == {"open": len(ports)} else 1


if __name__ == "__main__":
    status = main()
    if threading.active_count() > 1:  # a lookup still waits in its thread:
        sys.stdout.flush()  # leave at once, without finalizing Python under
        sys.stderr.flush()  # it (Python 3.9 may crash), and flush first,
        os._exit(status)  # for os._exit() skips the rest of the shutdown
    sys.exit(status)
