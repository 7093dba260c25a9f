"""UDP echo benchmark: keep W datagrams in flight against an echo server.

Shows how to load-test a UDP server fairly: datagrams tagged with a
sequence number, --window of them in flight for --duration seconds, each
echo sending the next. It prints replies per second, loss, the median and
99th-percentile round-trip time and, given --server-pid (Linux), the
server's CPU time per echo. A window unanswered for --timeout is counted
lost. Loopback only; it keeps one CPU busy while it runs.

    python examples/udp_echo_server_asyncio.py --port 9000 &
    python examples/udp_echo_bench.py --port 9000 --server-pid $!
    kill $!
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import socket
import struct
import sys
import time
from typing import Any

import net

# --8<-- [start:lesson]
SEQUENCE = struct.Struct("!Q")  # each datagram starts with its number
PROBE = SEQUENCE.pack(2**64 - 1)  # a number no timed datagram will have


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


def wait_for_server(sock: socket.socket, timeout: float) -> None:
    """Return once the server echoes a probe; raise after timeout seconds.

    A refusal only means nothing is listening yet: probe again, every 50 ms.
    """
    sock.settimeout(0.05)
    deadline = time.monotonic() + timeout
    error: OSError = TimeoutError(f"no echo within {timeout:g} s")
    while time.monotonic() < deadline:
        try:
            sock.send(PROBE)
            sock.recv(65_535)  # any reply: the socket is connected to it
            return
        except ConnectionRefusedError as exc:
            error = exc
            time.sleep(0.05)  # an ICMP error comes back at once
        except socket.timeout:  # TimeoutError, from Python 3.10 on
            pass
    raise error


def bench(
    sock: socket.socket, size: int, window: int, seconds: float, timeout: float
) -> dict[str, Any]:
    """Keep window datagrams in flight for seconds; return the figures."""
    # It never sleeps: waiting for an echo, it polls the socket again. A
    # load generator asleep in recv() would have to be woken by each echo,
    # and the server would be charged for the wake-up.
    sock.setblocking(False)
    datagram = bytearray(size)  # its sequence number, then zeros
    echo = bytearray(65_535)
    in_flight: dict[int, float] = {}  # sequence number -> time sent
    round_trips: list[float] = []
    lost = sent = 0
    stopped = None  # why the run ended early, if it did
    clock, send, recv_into = time.perf_counter, sock.send, sock.recv_into
    start = now = last_echo = clock()
    to_send = window
    while now < start + seconds:
        try:
            for _ in range(to_send):
                SEQUENCE.pack_into(datagram, 0, sent)
                in_flight[sent] = clock()
                send(datagram)
                sent += 1
            to_send = 0
            recv_into(echo)
        except BlockingIOError:  # nothing yet
            now = clock()
            if now - last_echo > timeout:  # the whole window is gone
                lost += len(in_flight)
                in_flight.clear()
                to_send = window
                last_echo = now
            continue
        except ConnectionRefusedError:  # the server went away mid-run
            now = clock()
            stopped = "the server stopped answering (refused)"
            break
        now = clock()
        sent_at = in_flight.pop(SEQUENCE.unpack_from(echo)[0], None)
        if sent_at is not None:  # else a late echo, already counted lost
            last_echo = now
            round_trips.append(now - sent_at)
            to_send = 1
    elapsed = now - start
    if not round_trips:
        raise TimeoutError(stopped or f"no echo in {elapsed:.1f} s")
    ordered = sorted(round_trips)

    def percentile(p: int) -> float:  # nearest rank, in microseconds
        return ordered[min(len(ordered) - 1, len(ordered) * p // 100)] * 1e6

    return {
        "replies_per_s": len(ordered) / elapsed,
        "replies": len(ordered),
        "lost": lost,
        "rtt_p50_us": percentile(50),
        "rtt_p99_us": percentile(99),
        "seconds": elapsed,
        "stopped": stopped,
    }


# --8<-- [end:lesson]
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
        result["server_cpu_us"] = cpu.seconds * 1e6 / result["replies"]
        result["server_busy"] = cpu.seconds / result["seconds"]
    elif args.server_pid is not None:
        print(f"warning: process {args.server_pid} exited during the run: "
              "no server CPU figures", file=sys.stderr)  # fmt: skip
    if args.json:
        print(json.dumps({**vars(args), **result}))
    else:
        sent = result["replies"] + result["lost"]
        print(f"{peer}, {args.size}-byte datagrams, window {args.window}:")
        print(f"  replies/s   {result['replies_per_s']:12,.0f}")
        print(f"  lost        {result['lost']:12,} of {sent:,}")
        print(f"  rtt p50     {result['rtt_p50_us']:12,.0f} us")
        print(f"  rtt p99     {result['rtt_p99_us']:12,.0f} us")
        if cpu.seconds is not None:
            print(f"  server CPU  {result['server_cpu_us']:12.2f} us per echo")
            print(f"  server busy {result['server_busy']:12.0%} of one CPU")
    if result["stopped"]:
        print(f"error: {peer}: {result['stopped']} after "
              f"{result['seconds']:.1f} s; the figures cover that time",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


EXITS = """\
Exit status: 0 done, 1 no server answered or it stopped mid-run, 2 bad
usage, 130 interrupted (Ctrl+C)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = net.parser(__doc__, exits=EXITS)
    parser.add_argument(
        "--size",
        type=lambda text: net.bounded_int(text, SEQUENCE.size, 65_507),
        default=64,
        metavar="BYTES",
        help=f"datagram size, {SEQUENCE.size} to 65507 (default: %(default)s)",
    )
    parser.add_argument(
        "--window",
        type=lambda text: net.bounded_int(text, 1, 10_000),
        default=32,
        metavar="W",
        help="datagrams in flight, 1 to 10000 (default: %(default)s)",
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
        "seconds without an echo before the window counts as lost, and the "
        "longest wait for the server to answer at the start "
        "(default: %(default)s)",
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
        found = socket.getaddrinfo(args.host, None, type=socket.SOCK_DGRAM)
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
    family, _, _, _, address = socket.getaddrinfo(
        args.host, args.port, type=socket.SOCK_DGRAM
    )[0]  # parse_args() has checked that it is a loopback address
    peer = net.format_address(address)
    net.setup_logging(args.verbose)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        logging.getLogger("udp_bench").info("%s", net.describe(sock))
        try:
            wait_for_server(sock, args.timeout)
            with ServerCPU(args.server_pid) as cpu:
                result = bench(
                    sock, args.size, args.window, args.duration, args.timeout
                )
        except (KeyboardInterrupt, OSError) as exc:  # refused, no echo
            return net.failed(exc, args.host, peer)
    return report(args, peer, result, cpu)


if __name__ == "__main__":
    sys.exit(main())
