"""Compare UDP echo servers with examples/udp_echo_bench.py; one command.

    python tests/perf.py            measure, then write the page's files
    python tests/perf.py --render   only rewrite them from the saved JSON
    python tests/perf.py --syscalls count system calls per echo (strace)

Each server runs pinned to CPU 0 and the load generator to CPU 1, on
loopback, for a few seconds per case. Results go to
docs/output/performance.json; the table (docs/output/performance.md) and
the chart (docs/images/performance.svg) are made from that file alone.

Servers: the blocking example (a recvfrom_into/sendto loop), a selectors
loop (below), the textbook asyncio server, the same with asyncio's read
size cut from 256 KiB to 2 KiB (the cause, isolated) or with glibc's
malloc tuned so that a 256 KiB block no longer costs system calls (the
cause, worked around), the fast asyncio server, and both asyncio servers
on uvloop where it is installed.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
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

from conftest import children_of

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "output" / "performance.json"
TABLE = ROOT / "docs" / "output" / "performance.md"
CHART = ROOT / "docs" / "images" / "performance.svg"
SYSCALLS = ROOT / "docs" / "output" / "performance_syscalls.md"
TARGETS = ROOT / "docs" / "output" / "performance_targets.md"
SERVERS = {
    "blocking loop": "blocking",
    "selectors loop": "selectors",
    "asyncio textbook": "textbook",
    "asyncio textbook, 2 KiB reads": "textbook-2k",
    "asyncio textbook, glibc tuned": "textbook-tuned",
    "asyncio fast": "fast",
    "uvloop textbook": "textbook-uvloop",
    "uvloop fast": "fast-uvloop",
}
CASES = [(1, 64), (32, 64), (1, 1400), (32, 1400)]  # (window, size)
TARGETED = ("asyncio fast", "asyncio textbook")
TARGET_ROUNDS, TARGET_SECONDS = 40, 0.5
FIGURES = ("replies_per_s", "server_cpu_us", "server_busy")


def announce(sock: socket.socket) -> None:
    print(f"listening on 127.0.0.1:{sock.getsockname()[1]}", flush=True)


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


def serve() -> None:
    """Run the selectors loop on a free port, until the harness kills it."""
    sock = socket.socket(type=socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    serve_selectors(sock)


# Keeps 256 KiB blocks on the heap, and the heap from shrinking after each.
TUNED = (
    "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=524288"
    ":glibc.malloc.trim_threshold=1048576"
)
# Variants of the examples: the same script, run by this launcher.
LAUNCH = """\
import asyncio, runpy, sys
kind, sys.argv = sys.argv[1], sys.argv[2:]
if kind.endswith("uvloop"):
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
if kind == "textbook-2k":
    from asyncio import selector_events
    selector_events._SelectorDatagramTransport.max_size = 2048
sys.path.insert(0, sys.argv[0].rpartition("/")[0])
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def command(kind: str) -> list[str]:
    """How to start one server on a free port.

    The examples run as their pages show, each in a process of its own: a
    server imported into this script would inherit its memory allocator's
    state, which changes what the textbook server costs (see the page).
    """
    if kind == "selectors":
        return [sys.executable, __file__, "--serve"]
    name = kind.split("-")[0].replace("textbook", "asyncio")
    script = str(ROOT / "examples" / f"udp_echo_server_{name}.py")
    if kind in ("blocking", "textbook", "fast"):
        return [sys.executable, script, "--port", "0"]
    if kind == "textbook-tuned":
        return ["env", TUNED, sys.executable, script, "--port", "0"]
    return [sys.executable, "-c", LAUNCH, kind, script, "--port", "0"]


def bench(port: str, *args: str) -> dict[str, Any]:
    """Run the benchmark recipe on CPU 1; return its figures."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "udp_echo_bench.py"),
         "--port", port, "--json", *args],
        capture_output=True, text=True, timeout=60, check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {1}),
    )  # fmt: skip
    return dict(json.loads(run.stdout))


def measure(
    kinds: dict[str, str],
    rounds: int,
    seconds: float,
    cases: list[tuple[int, int]] = CASES,
) -> list[dict[str, Any]]:
    """Bench every server in turn, case by case, for some rounds.

    All servers run at once, idle but for the one under load, so that the
    runs compared with each other are seconds apart: a shared VM's speed
    drifts over minutes.
    """
    servers: dict[str, subprocess.Popen[str]] = {}
    ports = {}
    try:
        for name, kind in kinds.items():
            server = servers[name] = subprocess.Popen(
                command(kind), stdout=subprocess.PIPE, text=True
            )
            assert server.stdout is not None
            ports[name] = server.stdout.readline().rsplit(":", 1)[1].strip()
            os.sched_setaffinity(server.pid, {0})
        rows = []
        for round_ in range(rounds):
            for window, size in cases:
                turn = list(servers)  # a different one first each round
                turn = turn[round_ % len(turn) :] + turn[: round_ % len(turn)]
                for name in turn:
                    rows.append({
                        "server": name, "round": round_,
                        **bench(ports[name], "--server-pid",
                                str(servers[name].pid), "--window",
                                str(window), "--size", str(size),
                                "--duration", str(seconds)),
                    })  # fmt: skip
                    figures = [rows[-1][figure] for figure in FIGURES]
                    print(name, window, size, figures, flush=True)
        return rows
    finally:
        for server in servers.values():
            server.kill()
            server.wait(timeout=30)


def syscalls(seconds: float) -> str:
    """System calls per echo of some servers, counted by strace -c."""
    counted = ("epoll_wait", "recvfrom", "sendto",
               "mmap", "mremap", "munmap", "brk")  # fmt: skip
    lines = [
        "System calls per echo, W=32, 64-byte datagrams, counted with "
        "`strace -c -f`. The textbook server's counts do not depend on its "
        "speed. The fast server's wake-ups per echo do: strace slows it, "
        "so more datagrams wait at each wake-up than at full speed.",
        "",
        "| server | " + " | ".join(counted) + " |",
        "| --- |" + " ---: |" * len(counted),
    ]
    for name in [n for n in SERVERS if "uvloop" not in n]:
        with tempfile.NamedTemporaryFile("r") as counts:
            server = subprocess.Popen(
                ["strace", "-c", "-f", "-o", counts.name,
                 *command(SERVERS[name])],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )  # fmt: skip
            assert server.stdout is not None
            port = server.stdout.readline().rsplit(":", 1)[1].strip()
            echoes = bench(port, "--duration", str(seconds))["replies"]
            # Stop the traced server itself: strace, signalled, would
            # detach and leave it running.
            os.kill(children_of(server.pid)[0], signal.SIGKILL)
            server.wait(timeout=30)
            calls = {
                f[-1]: int(f[3])
                for f in (line.split() for line in counts.read().splitlines())
                if len(f) >= 5 and f[3].isdigit()
            }
        per = [calls.get(call, 0) / echoes for call in counted]
        lines.append(
            f"| {name} | " + " | ".join(f"{n:.2f}" for n in per) + " |"
        )
    return "\n".join(lines) + "\n"


Runs = dict[Any, list[dict[str, Any]]]  # per server and case, by round


def summarize(rows: list[dict[str, Any]]) -> tuple[Runs, dict[Any, Any]]:
    """Group rows per server and case; take medians over the rounds."""
    runs: Runs = {}
    for r in rows:
        runs.setdefault((r["server"], r["window"], r["size"]), []).append(r)
    cell = {}
    for (server, w, s), each in runs.items():
        base = runs[("blocking loop", w, s)]  # in the same rounds
        cell[(server, w, s)] = {
            **{f: statistics.median(r[f] for r in each) for f in FIGURES},
            **{
                f"{f}_ratio": statistics.median(
                    r[f] / b[f] for r, b in zip(each, base)
                )
                for f in ("replies_per_s", "server_cpu_us")
            },
        }
    return runs, cell


def render(results: dict[str, Any]) -> dict[Path, str]:
    """The tables and the chart, made from saved results alone."""
    rows = results["rows"]
    _, cell = summarize(rows)
    names = [n for n in SERVERS if any(r["server"] == n for r in rows)]
    lines = [
        f"Measured {results['date']} on {results['machine']}, "
        f"Python {results['python']}; the median of {results['rounds']} "
        f"runs of {results['seconds']} s per case. Replies per second, and "
        "server CPU per echo in microseconds, each with its ratio to the "
        "blocking loop's (the median of the ratios within each round), "
        "and how busy the server's CPU was.",
        "",
        "| server | " + " | ".join(f"W={w}, {s} B" for w, s in CASES) + " |",
        "| --- |" + " ---: |" * len(CASES),
    ]
    for name in names:
        parts = []
        for w, s in CASES:
            r = cell[(name, w, s)]
            parts.append(
                f"{r['replies_per_s']:,.0f} "
                f"({r['replies_per_s_ratio']:.2f})<br>"
                f"{r['server_cpu_us']:.1f} µs "
                f"({r['server_cpu_us_ratio']:.2f})<br>"
                f"{r['server_busy']:.0%} busy"
            )
        lines.append(f"| {name} | " + " | ".join(parts) + " |")
    return {
        TABLE: "\n".join(lines) + "\n",
        TARGETS: targets(results["targets"]),
        CHART: chart(names, cell),
    }


def targets(results: dict[str, Any]) -> str:
    """The targets at W=32: the fast server against the blocking loop,
    with the textbook server's ratios for comparison."""
    runs, cell = summarize(results["rows"])
    lines = [
        f"{results['rounds']} rounds of {results['seconds']} s per case, "
        "the three servers taking turns; each ratio is the median of the "
        "ratios within each round.",
        "",
        "| W = 32 | 64 B | 1,400 B | target |",
        "| --- | ---: | ---: | --- |",
    ]
    for server, figure, label, goal in (
        ("asyncio fast", "replies_per_s", "replies/s", 0.9),
        ("asyncio fast", "server_cpu_us", "CPU per echo", 1.1),
        ("asyncio textbook", "replies_per_s", "replies/s", None),
        ("asyncio textbook", "server_cpu_us", "CPU per echo", None),
    ):
        ratios = [
            cell[(server, 32, size)][f"{figure}_ratio"] for size in (64, 1400)
        ]
        target = ""
        if goal is not None:
            met = all(
                r >= goal if figure == "replies_per_s" else r <= goal
                for r in ratios
            )
            least = "at least" if figure == "replies_per_s" else "at most"
            target = f"{least} {goal}: {'met' if met else '**not met**'}"
        lines.append(
            f"| {label}, {server.split()[1]} / blocking | "
            + " | ".join(f"{r:.2f}" for r in ratios)
            + f" | {target} |"
        )
    spread = []
    for size in (64, 1400):
        each = runs[("asyncio fast", 32, size)]
        base = runs[("blocking loop", 32, size)]
        ratios = [
            r["server_cpu_us"] / b["server_cpu_us"] for r, b in zip(each, base)
        ]
        low, _, high = statistics.quantiles(ratios, n=4)
        spread.append(f"{low:.2f} to {high:.2f}")
    lines.append(
        "| CPU per echo, fast / blocking, middle half of the rounds | "
        + " | ".join(spread)
        + " | |"
    )
    return "\n".join(lines) + "\n"


UDP_PANELS = (
    ("Replies per second: more is better", "replies_per_s", 1000, ".0f", "k"),
    ("Server CPU per echo, µs: less is better", "server_cpu_us", 1, ".1f", ""),
)


def chart(
    names: list[str],
    cell: dict[Any, Any],
    cases: list[tuple[int, int]] = CASES,
    legend: str = "W={}, {:,} B",
    panels: tuple[tuple[str, str, int, str, str], ...] = UDP_PANELS,
) -> str:
    """Bar charts side by side (panels: title, figure, scale, format,
    unit): a group of bars per server, one bar per case. A server that
    did not run a case gets no bar for it."""
    colours = ["#90caf9", "#1e88e5", "#ffcc80", "#fb8c00"]  # as cases
    label, panel, bar, group = 200, 280, 9, 12
    top = 70
    height = top + len(names) * (len(cases) * bar + group) + 10
    out = [
        f'<rect x="{label + i * 140}" y="10" width="12" height="12" '
        f'fill="{colour}"/><text x="{label + i * 140 + 16}" y="21">'
        f"{legend.format(*case)}</text>"
        for i, (case, colour) in enumerate(zip(cases, colours))
    ]
    for p, (title, key, scale, digits, unit) in enumerate(panels):
        x = label + p * panel
        most = max(
            cell[at][key]
            for n in names
            for case in cases
            if (at := (n, *case)) in cell
        )
        out.append(f'<text x="{x}" y="{top - 14}" class="t">{title}</text>')
        y = top
        for name in names:
            if p == 0:
                out.append(
                    f'<text x="{label - 8}" y="{y + 2 * bar + 4}" '
                    f'text-anchor="end">{html.escape(name)}</text>'
                )
            for case, colour in zip(cases, colours):
                if (at := (name, *case)) in cell:
                    value = cell[at][key]
                    length = (panel - 70) * value / most
                    out.append(
                        f'<rect x="{x}" y="{y}" width="{length:.1f}" '
                        f'height="{bar - 1}" fill="{colour}"/>'
                        f'<text x="{x + length + 4:.1f}" y="{y + bar - 1}" '
                        f'class="v">{value / scale:{digits}}{unit}</text>'
                    )
                y += bar
            y += group
    width = label + 2 * panel
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" font-family="sans-serif" font-size="12">'
        "<style>.t{font-weight:bold;font-size:13px}.v{font-size:9px}"
        "</style>"
        f'<rect width="{width}" height="{height}" fill="white"/>'
        + "".join(out)
        + "</svg>\n"
    )


def save(path: Path, results: dict[str, Any]) -> None:
    """Write results as JSON, with when, where and on what they ran."""
    path.write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} CPUs, Linux {platform.release()}",
        "python": platform.python_version(),
        **results,
    }, indent=1) + "\n")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--serve", action="store_true", help="the selectors loop"
    )
    parser.add_argument("--render", action="store_true")
    parser.add_argument("--syscalls", action="store_true")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--only", nargs="*", help="server names to run")
    args = parser.parse_args()
    if args.serve:
        serve()
        return 0
    if args.syscalls:
        SYSCALLS.write_text(syscalls(args.seconds))
        return 0
    if not args.render:
        kinds = SERVERS
        if importlib.util.find_spec("uvloop") is None:
            kinds = {k: v for k, v in SERVERS.items() if "uvloop" not in k}
        if args.only:
            kinds = {k: v for k, v in kinds.items() if k in args.only}
        rows = measure(kinds, args.rounds, args.seconds)
        # The targets: many short runs, taking turns, since the noise of a
        # shared VM changes within seconds.
        target_rows = measure(
            {k: SERVERS[k] for k in ("blocking loop", *TARGETED)},
            TARGET_ROUNDS,
            TARGET_SECONDS,
            [(32, 64), (32, 1400)],
        )
        save(RESULTS, {
            "seconds": args.seconds,
            "rounds": args.rounds,
            "rows": rows,
            "targets": {
                "rounds": TARGET_ROUNDS,
                "seconds": TARGET_SECONDS,
                "rows": target_rows,
            },
        })  # fmt: skip
    for path, text in render(json.loads(RESULTS.read_text())).items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
