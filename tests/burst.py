"""Send a burst of UDP datagrams at an echo server; count what came back.

Bounded in count and in time, loopback only. Two uses:

    python tests/burst.py --port P [--count N] [--size B] [--seconds S]
        one burst at a running server; prints a JSON tally on stdout

    python tests/burst.py --table
        starts the example server at the default receive buffer and at a
        4 MiB one, sends bursts of 1,000 and 100,000 at each, and prints a
        Markdown table of what the kernel dropped at the server's socket
        (the drops column of /proc/net/udp)
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "examples" / "udp_echo_server_asyncio.py"


def udp_stats(port: int) -> tuple[int, int]:
    """Bytes queued at the UDP socket on port, and datagrams it dropped.

    From /proc/net/udp (Linux): the queues, and the last column, drops,
    which counts for this socket alone what a full buffer cost.
    """
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            return int(fields[4].split(":")[1], 16), int(fields[12])
    return 0, 0


def wait_drained(port: int, seconds: float = 30) -> None:
    """Wait, at most seconds, until the server has read all it was sent."""
    deadline = time.monotonic() + seconds
    while udp_stats(port)[0] and time.monotonic() < deadline:
        time.sleep(0.05)


def burst(
    port: int, count: int, size: int, seconds: float
) -> dict[str, float]:
    """Send up to count datagrams within seconds; drain echoes as they come."""
    with socket.socket(type=socket.SOCK_DGRAM) as sock:
        # A big buffer for the echoes: what is lost is lost at the server.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.connect(("127.0.0.1", port))
        payload, sent, echoes = b"x" * size, 0, 0
        start = time.monotonic()
        deadline = start + seconds
        while sent < count and time.monotonic() < deadline:
            sock.send(payload)
            sent += 1
            while True:  # take what has come back, without waiting
                try:
                    sock.recv(65_535, socket.MSG_DONTWAIT)
                    echoes += 1
                except BlockingIOError:
                    break
        elapsed = time.monotonic() - start
        sock.settimeout(0.2)  # then the stragglers, until 0.2 s of quiet
        try:
            while time.monotonic() < deadline + 1:
                sock.recv(65_535)
                echoes += 1
        except (TimeoutError, socket.timeout):
            pass
    return {"sent": sent, "echoes": echoes, "seconds": round(elapsed, 3)}


def table(size: int) -> str:
    rows = [
        f"Bursts of {size}-byte datagrams at the asyncio echo server; "
        f"Linux {platform.release()}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}.",
        "",
        "| server's SO_RCVBUF | sent | echoed | dropped by the kernel "
        "| lost |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for count, asked in itertools.product(
        (1_000, 100_000), (None, 4 * 1024 * 1024)
    ):
        option = [] if asked is None else ["--recv-bufsize", str(asked)]
        # -v logs every datagram: to a pipe nobody reads, it would block.
        with tempfile.TemporaryFile("w+") as log:
            server = subprocess.Popen(
                [sys.executable, str(SERVER), "--port", "0", "-v", *option],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            assert server.stdout is not None
            port = int(server.stdout.readline().rsplit(":", 1)[1])
            log.seek(0)
            rcvbuf = re.findall(r"SO_RCVBUF=(\d+)", log.read())[0]
            tally = burst(port, count, size, seconds=20)
            wait_drained(port)
            dropped = udp_stats(port)[1]
            server.terminate()
            summary, _ = server.communicate(timeout=30)
            echoed = int(re.findall(r"echoed (\d+)", summary)[0])
            lost = 1 - echoed / tally["sent"]
        rows.append(
            f"| {int(rcvbuf):,} | {tally['sent']:,} | {echoed:,} "
            f"| {dropped:,} | {lost:.0%} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--port", type=int)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args(argv)
    if args.table:
        print(table(args.size))
    elif args.port:
        tally = burst(args.port, args.count, args.size, args.seconds)
        print(json.dumps(tally))
    else:
        parser.error("give --port or --table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
