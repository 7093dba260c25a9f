"""TCP echo benchmark: C connections, each with one message in flight.

Shows how to load-test a TCP server fairly. It opens --connections
connections, sends a --size message on each, and sends the next one on a
connection as soon as the whole echo of the last has come back, checking
every byte, for --duration seconds. It prints messages per second, the
median and 99th-percentile round-trip time and, given --server-pid (Linux,
/proc), the server's CPU time per message and how busy the server was:
near 100% means the server, not this load generator, set the pace.
Loopback only. It never sleeps: it polls its sockets, so it keeps one CPU
busy while it runs.

    python examples/tcp_echo_server_fast.py --port 9000 &
    python examples/tcp_echo_bench.py --port 9000 --server-pid $!
    kill $!

It first waits up to --timeout for the server to accept a connection and
echo (a server started just before it may not be listening yet), then
opens the connections and starts the clock. The UDP benchmark's options
and checks are imported from udp_echo_bench.py: copy both and net.py.

Exit status: 0 done, 1 no server answered, or it failed mid-run (the
figures so far are printed), 2 bad usage, 130 interrupted (Ctrl+C).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import selectors
import socket
import struct
import sys
import time
from typing import Any

import net
from udp_echo_bench import (
    ServerCPU,
    add_options,
    check_options,
    finish,
    report_cpu,
)

log = logging.getLogger("tcp_bench")

SEQUENCE = struct.Struct("!Q")  # each message starts with its number


class EchoFailed(Exception):
    """A connection's echo was not the message, or the connection ended."""


def wait_for_server(host: str, port: int, timeout: float) -> None:
    """Return once a connection echoes a byte; raise after timeout seconds.

    A refusal, or a connection closed without an echo, may only mean that
    the server is still starting: try again, every 50 ms.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            with net.connect(host, port, timeout) as sock:
                sock.sendall(b"?")
                if sock.recv(1) == b"?":  # within timeout: see connect()
                    return  # and closed: the server is warmed up, too
                raise EchoFailed("the server did not echo the probe")
        except socket.timeout:
            raise EchoFailed("the server did not echo the probe") from None
        except (ConnectionError, EchoFailed):  # refused, reset, closed
            if time.monotonic() + 0.05 > deadline:
                raise
            time.sleep(0.05)


class Connection:
    """One connection: its message in flight and how much has come back."""

    def __init__(self, sock: socket.socket, size: int) -> None:
        self.sock = sock
        self.message = bytearray(size)  # its sequence number, then zeros
        self.view = memoryview(self.message)
        self.sent = self.got = 0
        self.number = 0
        self.started = 0.0


def bench(
    socks: list[socket.socket], size: int, seconds: float, timeout: float
) -> dict[str, Any]:
    """Keep a message in flight on each socket; return the figures."""
    round_trips: list[float] = []
    stopped = None  # why the run ended early, if it did
    buffer = bytearray(65_536)
    clock = time.perf_counter
    with selectors.DefaultSelector() as selector:
        conns = [Connection(sock, size) for sock in socks]
        for number, conn in enumerate(conns):
            conn.sock.setblocking(False)
            selector.register(conn.sock, selectors.EVENT_READ, conn)
            conn.number = number * 2**32  # numbers apart on each
            start_message(conn, clock())
        start = now = last_echo = clock()
        try:
            while now < start + seconds:
                ready = selector.select(0)  # polls: see the docstring
                now = clock()
                if not ready and now - last_echo > timeout:
                    raise EchoFailed(f"no echo for {timeout:g} s")
                for key, _ in ready:
                    conn = key.data
                    if receive(conn, buffer):  # the whole echo is back
                        round_trips.append(now - conn.started)
                        last_echo = now
                        conn.number += 1
                        start_message(conn, now)
                    elif conn.sent < size:  # a large message: send on
                        send_more(conn)
        except (OSError, EchoFailed) as exc:  # reset, closed, different
            stopped = net.reason(exc)
    elapsed = now - start
    if not round_trips:
        raise EchoFailed(stopped or f"no echo in {elapsed:.1f} s")
    ordered = sorted(round_trips)

    def percentile(p: int) -> float:  # nearest rank, in microseconds
        return ordered[min(len(ordered) - 1, len(ordered) * p // 100)] * 1e6

    return {
        "messages_per_s": len(ordered) / elapsed,
        "messages": len(ordered),
        "rtt_p50_us": percentile(50),
        "rtt_p99_us": percentile(99),
        "seconds": elapsed,
        "stopped": stopped,
    }


def start_message(conn: Connection, now: float) -> None:
    """Number the next message and send what the socket takes of it."""
    SEQUENCE.pack_into(conn.message, 0, conn.number)
    conn.started = now
    conn.got = conn.sent = 0
    send_more(conn)


def send_more(conn: Connection) -> None:
    with contextlib.suppress(BlockingIOError):  # the buffer is full: later
        conn.sent += conn.sock.send(conn.view[conn.sent :])


def receive(conn: Connection, buffer: bytearray) -> bool:
    """Read what has come back and check it; True once all of it has."""
    wanted = min(len(buffer), len(conn.message) - conn.got)
    count = conn.sock.recv_into(buffer, wanted)  # ready: it will not block
    if not count:
        raise EchoFailed("the server closed a connection")
    if buffer[:count] != conn.view[conn.got : conn.got + count]:
        raise EchoFailed("an echo differs from its message")
    conn.got += count
    return conn.got == len(conn.message)


def hang_up(socks: list[socket.socket], timeout: float) -> None:
    """Half-close each connection and read the rest of its echo.

    Closing a socket with unread bytes sends a reset: the server would log
    an error for each connection. This way it sees each one end.
    """
    for sock in socks:
        with contextlib.suppress(OSError):  # unless it is gone already
            sock.shutdown(socket.SHUT_WR)
    for sock in socks:
        sock.settimeout(timeout)
        with contextlib.suppress(OSError):  # reset, or timed out
            while sock.recv(65_536):
                pass


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__)
    parser.add_argument(
        "--connections",
        type=lambda text: net.bounded_int(text, 1, 10_000),
        default=10,
        metavar="C",
        help="connections, 1 to 10000 (default: %(default)s)",
    )
    parser.add_argument(
        "--size",
        type=lambda text: net.bounded_int(text, SEQUENCE.size, 2**24),
        default=1024,
        metavar="BYTES",
        help=f"message size, {SEQUENCE.size} to 16 MiB (default: %(default)s)",
    )
    add_options(parser, "seconds without an echo on any connection")
    args = parser.parse_args(argv)
    check_options(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    peer = net.format_address((args.host, args.port))
    net.setup_logging(args.verbose)
    socks: list[socket.socket] = []
    with contextlib.ExitStack() as closing:  # every socket, however it ends
        try:
            wait_for_server(args.host, args.port, args.timeout)
            for _ in range(args.connections):
                sock = net.connect(args.host, args.port, args.timeout)
                socks.append(closing.enter_context(sock))
            peer = net.format_address(socks[0].getpeername())
            log.info("%s", net.describe(socks[0]))
            with ServerCPU(args.server_pid) as cpu:
                result = bench(socks, args.size, args.duration, args.timeout)
            hang_up(socks, args.timeout)
        except (KeyboardInterrupt, OSError, EchoFailed) as exc:
            return net.failed(exc, args.host, peer)

    def report(result: dict[str, Any]) -> None:
        print(f"{peer}, {args.connections} connections x {args.size} bytes:")
        print(f"  messages/s  {result['messages_per_s']:12,.0f}")
        print(f"  rtt p50     {result['rtt_p50_us']:12,.0f} us")
        print(f"  rtt p99     {result['rtt_p99_us']:12,.0f} us")
        report_cpu(result, "message")

    return finish(args, peer, result, cpu, result["messages"], report)


if __name__ == "__main__":
    sys.exit(main())
