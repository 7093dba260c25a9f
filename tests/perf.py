"""Compare UDP echo servers with examples/udp_echo_bench.py; one command.

    python tests/perf.py            measure, then write the page's files
    python tests/perf.py --render   only rewrite them from the saved JSON
    python tests/perf.py --syscalls count system calls per echo (strace)

Each server runs pinned to CPU 0 and the load generator to CPU 1, on
loopback, for a few seconds per case. Results go to
docs/output/performance.json; the table (docs/output/performance.md) and
the chart (docs/images/performance.svg) are made from that file alone.

Servers: a blocking recvfrom/sendto loop and a selectors loop (both below),
the textbook asyncio server, the same with asyncio's read size cut from
256 KiB to 2 KiB (the cause, isolated), the fast asyncio server, and both
asyncio servers on uvloop where it is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import platform
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "output" / "performance.json"
TABLE = ROOT / "docs" / "output" / "performance.md"
CHART = ROOT / "docs" / "images" / "performance.svg"
SYSCALLS = ROOT / "docs" / "output" / "performance_syscalls.md"
SERVERS = {
    "blocking loop": "blocking",
    "selectors loop": "selectors",
    "asyncio textbook": "textbook",
    "asyncio textbook, 2 KiB reads": "textbook-2k",
    "asyncio fast": "fast",
    "uvloop textbook": "textbook-uvloop",
    "uvloop fast": "fast-uvloop",
}
CASES = [(1, 64), (32, 64), (1, 1400), (32, 1400)]  # (window, size)


def announce(sock: socket.socket) -> None:
    print(f"listening on 127.0.0.1:{sock.getsockname()[1]}", flush=True)


def serve_blocking(sock: socket.socket) -> None:
    announce(sock)
    while True:
        data, addr = sock.recvfrom(65_535)
        sock.sendto(data, addr)


def serve_selectors(sock: socket.socket) -> None:
    sock.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    announce(sock)
    while True:
        selector.select()
        try:
            while True:
                data, addr = sock.recvfrom(65_535)
                sock.sendto(data, addr)
        except BlockingIOError:
            pass


def serve(kind: str) -> None:
    """Run one server on a free port, until the harness kills it."""
    sys.path.insert(0, str(ROOT / "examples"))
    if kind.endswith("uvloop"):
        import uvloop  # type: ignore[import-not-found, unused-ignore]

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if kind == "textbook-2k":
        from asyncio import selector_events

        selector_events._SelectorDatagramTransport.max_size = 2048  # type: ignore[attr-defined]
    if kind.startswith("textbook"):
        import udp_echo_server_asyncio

        sys.exit(udp_echo_server_asyncio.main(["--port", "0"]))
    if kind.startswith("fast"):
        import udp_echo_server_fast

        sys.exit(udp_echo_server_fast.main(["--port", "0"]))
    sock = socket.socket(type=socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    {"blocking": serve_blocking, "selectors": serve_selectors}[kind](sock)


def measure(kind: str, seconds: float) -> list[dict[str, Any]]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = server.stdout.readline().rsplit(":", 1)[1].strip()
        os.sched_setaffinity(server.pid, {0})
        rows = []
        for window, size in CASES:
            bench = subprocess.run(
                [sys.executable, str(ROOT / "examples" / "udp_echo_bench.py"),
                 "--port", port, "--server-pid", str(server.pid), "--json",
                 "--window", str(window), "--size", str(size),
                 "--duration", str(seconds)],
                capture_output=True, text=True, timeout=seconds + 30,
                preexec_fn=lambda: os.sched_setaffinity(0, {1}),
            )  # fmt: skip
            rows.append(json.loads(bench.stdout))
        return rows
    finally:
        server.kill()
        server.wait(timeout=30)


def syscalls(seconds: float) -> str:
    """System calls per echo of some servers, counted by strace -c."""
    lines = [
        "System calls per echo, W=32, 64-byte datagrams, counted with "
        "`strace -c -f`. The textbook server's counts do not depend on its "
        "speed. The fast server's wake-ups per echo do: strace slows it, "
        "so more datagrams wait at each wake-up than at full speed.",
        "",
        "| server | epoll_wait | recvfrom | sendto |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in ("blocking loop", "asyncio textbook", "asyncio fast"):
        with tempfile.NamedTemporaryFile("r") as counts:
            server = subprocess.Popen(
                ["strace", "-c", "-f", "-o", counts.name, sys.executable,
                 __file__, "--serve", SERVERS[name]],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            assert server.stdout is not None
            port = server.stdout.readline().rsplit(":", 1)[1].strip()
            bench = subprocess.run(
                [sys.executable, str(ROOT / "examples" / "udp_echo_bench.py"),
                 "--port", port, "--json", "--duration", str(seconds)],
                capture_output=True, text=True, timeout=seconds + 30,
            )  # fmt: skip
            echoes = json.loads(bench.stdout)["replies"]
            # Stop the traced server itself: strace, signalled, would
            # detach and leave it running.
            children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
            os.kill(int(children.read_text().split()[0]), signal.SIGINT)
            server.wait(timeout=30)
            calls = {
                f[-1]: int(f[3])
                for f in (line.split() for line in counts.read().splitlines())
                if len(f) >= 5 and f[3].isdigit()
            }
        per = [calls.get(c, 0) / echoes for c in ("epoll_wait", "recvfrom")]
        per.append(calls.get("sendto", 0) / echoes)
        lines.append(
            f"| {name} | " + " | ".join(f"{n:.2f}" for n in per) + " |"
        )
    return "\n".join(lines) + "\n"


def render(results: dict[str, Any]) -> None:
    """Write the table and the chart from saved results."""
    rows = results["rows"]
    cell = {}  # the median of the rounds, per server and case
    for key in {(r["server"], r["window"], r["size"]) for r in rows}:
        runs = [
            r for r in rows if (r["server"], r["window"], r["size"]) == key
        ]
        cell[key] = {
            figure: statistics.median(r[figure] for r in runs)
            for figure in ("replies_per_s", "server_cpu_us")
        }
    names = [n for n in SERVERS if any(r["server"] == n for r in rows)]
    base = {(w, s): cell[("blocking loop", w, s)] for w, s in CASES}
    lines = [
        f"Measured {results['date']} on {results['machine']}, "
        f"Python {results['python']}; the median of {results['rounds']} "
        f"runs of {results['seconds']} s per case. Replies per second, and "
        "server CPU per echo in microseconds, each with its ratio to the "
        "blocking loop's.",
        "",
        "| server | " + " | ".join(f"W={w}, {s} B" for w, s in CASES) + " |",
        "| --- |" + " ---: |" * len(CASES),
    ]
    for name in names:
        parts = []
        for w, s in CASES:
            r, b = cell[(name, w, s)], base[(w, s)]
            parts.append(
                f"{r['replies_per_s']:,.0f} "
                f"({r['replies_per_s'] / b['replies_per_s']:.2f})<br>"
                f"{r['server_cpu_us']:.1f} µs "
                f"({r['server_cpu_us'] / b['server_cpu_us']:.2f})"
            )
        lines.append(f"| {name} | " + " | ".join(parts) + " |")
    TABLE.write_text("\n".join(lines) + "\n")
    CHART.parent.mkdir(exist_ok=True)
    CHART.write_text(chart(names, cell))


def chart(names: list[str], cell: dict[Any, Any]) -> str:
    """Two bar charts, W=32 with 64-byte datagrams: replies/s, CPU/echo."""
    colours = ["#546e7a", "#78909c", "#e53935", "#fb8c00", "#43a047",
               "#8e24aa", "#1e88e5"]  # fmt: skip
    width, bar, gap, left = 760, 22, 6, 230
    out = []
    y = 30
    for title, key, unit in (
        ("Replies per second (W=32, 64 B): more is better",
         "replies_per_s", ""),
        ("Server CPU per echo (W=32, 64 B): less is better",
         "server_cpu_us", " µs"),
    ):  # fmt: skip
        values = [cell[(n, 32, 64)][key] for n in names]
        top = max(values)
        out.append(f'<text x="10" y="{y}" class="t">{title}</text>')
        y += 14
        for i, (name, value) in enumerate(zip(names, values)):
            length = (width - left - 90) * value / top
            out.append(
                f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">'
                f"{html.escape(name)}</text>"
                f'<rect x="{left}" y="{y}" width="{length:.1f}" '
                f'height="{bar}" fill="{colours[i % len(colours)]}"/>'
                f'<text x="{left + length + 6:.1f}" y="{y + 16}">'
                f"{value:,.1f}{unit}</text>"
            )
            y += bar + gap
        y += 30
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{y}" font-family="sans-serif" font-size="13">'
        "<style>.t{font-weight:bold;font-size:14px}</style>"
        f'<rect width="{width}" height="{y}" fill="white"/>'
        + "".join(out)
        + "</svg>\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--serve", choices=SERVERS.values())
    parser.add_argument("--render", action="store_true")
    parser.add_argument("--syscalls", action="store_true")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="server names to run")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.syscalls:
        SYSCALLS.write_text(syscalls(args.seconds))
        return 0
    if not args.render:
        try:
            import uvloop  # noqa: F401

            kinds = SERVERS
        except ImportError:
            kinds = {k: v for k, v in SERVERS.items() if "uvloop" not in k}
        if args.only:
            kinds = {k: v for k, v in kinds.items() if k in args.only}
        rows = []
        for round_ in range(args.rounds):  # servers take turns: the noise
            for name, kind in kinds.items():  # of a shared VM is spread
                for row in measure(kind, args.seconds):
                    rows.append({"server": name, "round": round_, **row})
                    figures = (row["replies_per_s"], row["server_cpu_us"])
                    print(name, row["window"], row["size"], figures)
        RESULTS.write_text(json.dumps({
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{os.cpu_count()} CPUs, Linux {platform.release()}",
            "python": platform.python_version(),
            "seconds": args.seconds,
            "rounds": args.rounds,
            "rows": rows,
        }, indent=1) + "\n")  # fmt: skip
    render(json.loads(RESULTS.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
