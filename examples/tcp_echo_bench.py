"""TCP echo benchmark: C connections, each with one message in flight.

Shows how to load-test a TCP server fairly. Each connection has one
--size message in flight: the next is sent once the whole echo of the
last is back, every byte checked. It prints messages per second, the
median and 99th-percentile round trip and, given --server-pid (Linux),
the server's CPU time per message and how busy it was: near 100% means
the server set the pace. Loopback only; it keeps one CPU busy.

    python examples/tcp_echo_server_fast.py --port 9000 &
    python examples/tcp_echo_bench.py --port 9000 --server-pid $!
    kill $!
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import os
import selectors
import socket
import struct
import sys
import time
from typing import Any

import net

log = logging.getLogger("tcp_bench")

# --8<-- [start:lesson]
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


# --8<-- [end:lesson]
def cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time of a process so far (Linux /proc); None
    without a pid, or once it has exited (its CPU time goes with it)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # after the name
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerCPU:
    """The CPU time process pid uses while a with block runs, if known."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.seconds: float | None = None

    def __enter__(self) -> ServerCPU:
        self.before = cpu_seconds(self.pid)
        return self

    def __exit__(self, *exc_info: object) -> None:
        after = cpu_seconds(self.pid)
        if self.before is not None and after is not None:
            self.seconds = after - self.before


def report(
    args: argparse.Namespace, peer: str, result: dict[str, Any], cpu: ServerCPU
) -> int:
    """Print the figures, the server's CPU if known; return the status."""
    if cpu.seconds is not None:
        result["server_cpu_us"] = cpu.seconds * 1e6 / result["messages"]
        result["server_busy"] = cpu.seconds / result["seconds"]
    elif args.server_pid is not None:
        print(f"warning: process {args.server_pid} exited during the run: "
              "no server CPU figures", file=sys.stderr)  # fmt: skip
    if args.json:
        print(json.dumps({**vars(args), **result}))
    else:
        print(f"{peer}, {args.connections} connections x {args.size} bytes:")
        print(f"  messages/s  {result['messages_per_s']:12,.0f}")
        print(f"  rtt p50     {result['rtt_p50_us']:12,.0f} us")
        print(f"  rtt p99     {result['rtt_p99_us']:12,.0f} us")
        if cpu.seconds is not None:
            cpu_us = result["server_cpu_us"]
            print(f"  server CPU  {cpu_us:12.2f} us per message")
            print(f"  server busy {result['server_busy']:12.0%} of one CPU")
    if result["stopped"]:
        print(f"error: {peer}: {result['stopped']} after "
              f"{result['seconds']:.1f} s; the figures cover that time",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


EXITS = """\
Exit status: 0 done, 1 no server answered, or it failed mid-run (the
figures so far are printed), 2 bad usage, 130 interrupted (Ctrl+C)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, exits=EXITS)
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
    parser.add_argument(
        "--duration",
        type=net.seconds,
        default=5.0,
        metavar="S",
        help="seconds to run (default: %(default)s)",
    )
    net.add_timeout(
        parser,
        1.0,
        "seconds without an echo on any connection, and the longest wait "
        "for the server to answer at the start (default: %(default)s)",
    )
    parser.add_argument(
        "--server-pid",
        type=int,
        metavar="PID",
        help="the server's process ID, to report its CPU time (Linux; "
        "default: none, no CPU figures)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON line instead"
    )
    args = parser.parse_args(argv)
    try:  # a name will do if every address it has is a loopback one
        found = socket.getaddrinfo(args.host, None, type=socket.SOCK_STREAM)
    except socket.gaierror:
        found = []
    if not found or not all(
        ipaddress.ip_address(address[0]).is_loopback
        for _, _, _, _, address in found
    ):
        parser.error("--host must be a loopback address or name, such as "
                     "127.0.0.1 or localhost")  # fmt: skip
    if args.server_pid is not None and cpu_seconds(args.server_pid) is None:
        parser.error(f"--server-pid: no process {args.server_pid} here")
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
    return report(args, peer, result, cpu)


if __name__ == "__main__":
    sys.exit(main())
