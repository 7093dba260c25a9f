"""UDP echo benchmark: keep W datagrams in flight against an echo server.

Shows how to load-test a UDP server fairly. It sends datagrams tagged with
a sequence number and keeps --window of them in flight for --duration
seconds: each echo sends the next. It prints replies per second, loss, the
median and 99th-percentile round-trip time and, given --server-pid (Linux,
/proc), the server's CPU time per echoed datagram and how busy the server
was: near 100% means the server, not this load generator, set the pace.
Loopback only. It never sleeps, so it keeps one CPU busy while it runs. A
window that goes unanswered for --timeout is counted lost and sent afresh;
there is no --retries, since a benchmark counts losses instead of hiding
them.

    python examples/udp_echo_server_asyncio.py --port 9000 &
    python examples/udp_echo_bench.py --port 9000 --server-pid $!

Exit status: 0 done, 1 no echo at all, 2 bad usage.
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

SEQUENCE = struct.Struct("!Q")  # each datagram starts with its number


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()  # after the name
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    clock, send, recv_into = time.perf_counter, sock.send, sock.recv_into
    start = now = last_echo = clock()
    to_send = window
    while now < start + seconds:
        for _ in range(to_send):
            SEQUENCE.pack_into(datagram, 0, sent)
            in_flight[sent] = clock()
            send(datagram)
            sent += 1
        to_send = 0
        try:
            recv_into(echo)
        except BlockingIOError:  # nothing yet
            now = clock()
            if now - last_echo > timeout:  # the whole window is gone
                lost += len(in_flight)
                in_flight.clear()
                to_send = window
                last_echo = now
            continue
        now = clock()
        sent_at = in_flight.pop(SEQUENCE.unpack_from(echo)[0], None)
        if sent_at is not None:  # else a late echo, already counted lost
            last_echo = now
            round_trips.append(now - sent_at)
            to_send = 1
    elapsed = now - start
    if not round_trips:
        raise TimeoutError(f"no echo in {elapsed:.1f} s")
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
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--size", type=int, default=64, metavar="BYTES")
    parser.add_argument("--window", type=int, default=32, metavar="W")
    parser.add_argument("--duration", type=float, default=5.0, metavar="S")
    parser.add_argument("--timeout", type=float, default=1.0, metavar="S")
    parser.add_argument("--server-pid", type=int, metavar="PID")
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        parser.error("--host must be a loopback address, such as 127.0.0.1")
    if not 1 <= args.port <= 65535:
        parser.error("--port must be from 1 to 65535")
    if not SEQUENCE.size <= args.size <= 65_507:
        parser.error(f"--size must be from {SEQUENCE.size} to 65507")
    if args.window < 1:
        parser.error("--window must be 1 or more")
    if not (args.duration > 0 and args.timeout > 0):
        parser.error("--duration and --timeout must be more than 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    peer = net.format_address((args.host, args.port))
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(name)s: %(message)s",
    )
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((args.host, args.port))
        logging.getLogger("udp_bench").info("%s", net.describe(sock))
        try:
            cpu_before = cpu_seconds(args.server_pid) if args.server_pid else 0
            result = bench(
                sock, args.size, args.window, args.duration, args.timeout
            )
            if args.server_pid:
                cpu = cpu_seconds(args.server_pid) - cpu_before
                result["server_cpu_us"] = cpu * 1e6 / result["replies"]
                result["server_busy"] = cpu / result["seconds"]
        except ConnectionRefusedError:
            print(f"error: nothing is listening at {peer}", file=sys.stderr)
            return 1
        except OSError as exc:  # TimeoutError, no such process, ...
            print(f"error: {peer}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps({**vars(args), **result}))
        return 0
    sent = result["replies"] + result["lost"]
    print(f"{peer}, {args.size}-byte datagrams, window {args.window}:")
    print(f"  replies/s   {result['replies_per_s']:12,.0f}")
    print(f"  lost        {result['lost']:12,} of {sent:,}")
    print(f"  rtt p50     {result['rtt_p50_us']:12,.0f} us")
    print(f"  rtt p99     {result['rtt_p99_us']:12,.0f} us")
    if "server_cpu_us" in result:
        print(f"  server CPU  {result['server_cpu_us']:12.2f} us per echo")
        print(f"  server busy {result['server_busy']:12.0%} of one CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
