"""Compare TCP echo servers with examples/tcp_echo_bench.py; one command.

    python tests/perf_tcp.py            measure, then write the page's files
    python tests/perf_tcp.py --render   only rewrite them from the saved JSON
    python tests/perf_tcp.py --profile  profile the streams and fast servers
    python tests/perf_tcp.py --workers  SO_REUSEPORT workers, 1 and 2

Each server runs pinned to CPU 0 and the load generator to CPU 1, on
loopback. Results go to docs/output/performance_tcp.json; the tables
(docs/output/performance_tcp*.md) and the chart
(docs/images/performance_tcp.svg) are made from that file alone.

Servers: the examples as their pages run them (blocking, threads,
selectors, asyncio streams, fast asyncio), an asyncio Protocol server (in
this file) for comparison, and the asyncio ones on uvloop where it is
installed. The blocking server serves one connection at a time, so it
runs only the one-connection case.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import pstats
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from conftest import PYENV, children_of
from perf import LAUNCH, chart, save

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "output"
RESULTS = OUTPUT / "performance_tcp.json"
TABLE = OUTPUT / "performance_tcp.md"
TARGETS = OUTPUT / "performance_tcp_targets.md"
MEMORY = OUTPUT / "performance_tcp_memory.md"
PROFILE = OUTPUT / "performance_tcp_profile.md"
WORKERS = OUTPUT / "performance_tcp_workers.md"
CHART = ROOT / "docs" / "images" / "performance_tcp.svg"
SERVERS = {  # name: (how it is launched, which example or this file)
    "blocking": ("plain", "tcp_echo_server_blocking"),
    "threads": ("plain", "tcp_echo_server_threads"),
    "selectors": ("plain", "tcp_echo_server_selectors"),
    "asyncio streams": ("plain", "tcp_echo_server_asyncio"),
    "asyncio Protocol": ("asyncio", "protocol"),
    "asyncio fast": ("plain", "tcp_echo_server_fast"),
    "uvloop streams": ("uvloop", "tcp_echo_server_asyncio"),
    "uvloop Protocol": ("uvloop", "protocol"),
    "uvloop fast": ("uvloop", "tcp_echo_server_fast"),
    # The same two on the newest Python here, where wait_for() no longer
    # runs the awaited coroutine in a task of its own (3.12+).
    "selectors, 3.13": ("3.13", "tcp_echo_server_selectors"),
    "asyncio streams, 3.13": ("3.13", "tcp_echo_server_asyncio"),
}
CASES = [(1, 64), (10, 1024), (10, 16384), (100, 1024)]  # (connections, size)
BASE = "selectors"  # what the ratios compare with
TARGETED = ("selectors", "asyncio fast", "asyncio streams")
TARGET_CASE = (100, 1024)
TARGET_ROUNDS, TARGET_SECONDS = 20, 1.0
IDLE = 2000  # connections held open to measure memory per connection
# The workers recipe against the single-process servers, at TARGET_CASE:
# name, and the CPUs the server (every process of it) may use.
WORKER_RUNS = {
    "selectors": {0},
    "asyncio fast": {0},
    "workers, 1": {0},
    "workers, 2": {0, 1},
}
FIGURES = ("messages_per_s", "server_cpu_us", "server_busy")


class Echo(asyncio.Protocol):
    """The asyncio Protocol server, for comparison: write what arrives,
    stop reading while the transport's buffer is over its high mark."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()


async def serve_protocol() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on 127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()


def command(name: str) -> list[str]:
    """How to start one server on a free port, as its page runs it."""
    if name.startswith("workers, "):
        script = str(ROOT / "examples" / "tcp_reuseport_workers.py")
        return [sys.executable, script, "--port", "0", "--max-connections",
                "5000", "--workers", name.split()[-1]]  # fmt: skip
    launch, what = SERVERS[name]
    if what == "protocol":
        script = __file__
        args = ["--serve-protocol"]
    else:
        script = str(ROOT / "examples" / f"{what}.py")
        args = ["--port", "0", "--max-connections", "5000"]
        if what == "tcp_echo_server_blocking":
            args = ["--port", "0"]
    if launch == "plain":
        return [sys.executable, script, *args]
    if launch == "3.13":  # pyenv's, finding net.py through PYTHONPATH
        [python] = sorted(PYENV.glob("versions/3.13.*/bin/python3.13"))[-1:]
        return [str(python), script, *args]
    return [sys.executable, "-c", LAUNCH, launch, script, *args]


def start(
    name: str, cpus: set[int] | None = None
) -> tuple[subprocess.Popen[str], int]:
    """Start a server; pin it, and every process it has started, to cpus
    (CPU 0 by default)."""
    server = subprocess.Popen(
        command(name),
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert server.stdout is not None
    port = int(server.stdout.readline().rsplit(":", 1)[1])
    for pid in tree(server.pid):
        os.sched_setaffinity(pid, cpus or {0})
    return server, port


def tree(pid: int) -> list[int]:
    """A process and its children (Linux /proc)."""
    return [pid, *children_of(pid)]


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]
        total += sum(map(int, fields.split()[11:13]))
    return total / os.sysconf("SC_CLK_TCK")


def measure_workers(rounds: int, seconds: float) -> list[dict[str, Any]]:
    """The workers recipe with 1 and 2 workers, and two single-process
    servers, at TARGET_CASE, taking turns; the load on CPU 1. Server CPU
    is counted over every process of the server."""
    names = list(WORKER_RUNS)
    servers = {name: start(name, WORKER_RUNS[name]) for name in names}
    c, s = TARGET_CASE
    try:
        rows = []
        for round_ in range(rounds):
            first = round_ % len(names)
            for name in names[first:] + names[:first]:
                server, port = servers[name]
                pids = tree(server.pid)
                before = cpu_seconds(pids)
                row = bench(port, 0, "--connections", str(c), "--size",
                            str(s), "--duration", str(seconds))  # fmt: skip
                cpu = cpu_seconds(pids) - before
                rows.append({
                    "server": name, "round": round_,
                    "messages_per_s": row["messages_per_s"],
                    "server_cpu_us": cpu / row["messages"] * 1e6,
                    "server_cpus": cpu / row["seconds"],
                })  # fmt: skip
                print(name, rows[-1], flush=True)
        return rows
    finally:
        for server, _ in servers.values():
            stop(server)


def workers_table(results: dict[str, Any]) -> str:
    """The workers against the single-process servers."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for r in results["rows"]:
        runs.setdefault(r["server"], []).append(r)
    base = {r["round"]: r for r in runs["selectors"]}
    c, s = TARGET_CASE
    lines = [
        f"Measured {results['date']}: {results['rounds']} rounds of "
        f"{results['seconds']} s at {c} connections x {s:,} bytes, the "
        "servers taking turns, the load "
        "generator on CPU 1; medians, and the median of the ratios to "
        "selectors within each round. CPU is that of every process of the "
        "server, in cores busy and in µs per message.",
        "",
        "| server | may use | messages/s | / selectors | cores busy | "
        "CPU per message |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, cpus in WORKER_RUNS.items():
        each = runs[name]
        median = {
            f: statistics.median(r[f] for r in each)
            for f in ("messages_per_s", "server_cpus", "server_cpu_us")
        }
        ratio = statistics.median(
            r["messages_per_s"] / base[r["round"]]["messages_per_s"]
            for r in each
        )
        shared = "CPU 0" if cpus == {0} else "CPUs 0 and 1"
        lines.append(
            f"| {name} | {shared} | {median['messages_per_s']:,.0f} | "
            f"{ratio:.2f} | {median['server_cpus']:.2f} | "
            f"{median['server_cpu_us']:.1f} µs |"
        )
    return "\n".join(lines) + "\n"


def stop(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)


def bench(port: int, pid: int, *args: str) -> dict[str, Any]:
    """Run the benchmark recipe on CPU 1; return its figures (server CPU
    too, unless pid is 0)."""
    cpu = ["--server-pid", str(pid)] if pid else []
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tcp_echo_bench.py"),
         "--port", str(port), *cpu, "--json", *args],
        capture_output=True, text=True, timeout=120, check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {1}),
    )  # fmt: skip
    return dict(json.loads(run.stdout))


def measure(
    names: list[str], rounds: int, seconds: float, cases: list[Any]
) -> list[dict[str, Any]]:
    """Bench every server in turn, case by case, for some rounds; all run
    at once, idle but for the one under load."""
    servers = {name: start(name) for name in names}
    try:
        rows = []
        for round_ in range(rounds):
            for connections, size in cases:
                first = round_ % len(names)  # a different one each round
                turn = names[first:] + names[:first]
                for name in turn:
                    if name == "blocking" and connections > 1:
                        continue  # one at a time: see the docstring
                    server, port = servers[name]
                    rows.append({
                        "server": name, "round": round_,
                        **bench(port, server.pid,
                                "--connections", str(connections),
                                "--size", str(size),
                                "--duration", str(seconds)),
                    })  # fmt: skip
                    figures = [rows[-1][figure] for figure in FIGURES]
                    print(name, connections, size, figures, flush=True)
        return rows
    finally:
        for server, _ in servers.values():
            stop(server)


def rss_and_threads(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    threads = re.search(r"^Threads:\s+(\d+)", status, re.M)
    assert rss and threads
    return int(rss[1]) * 1024, int(threads[1])


def memory(names: list[str]) -> list[dict[str, Any]]:
    """Resident memory and threads per idle connection, IDLE of them."""
    rows = []
    for name in names:
        if name == "blocking":
            continue
        server, port = start(name)
        try:
            bench(port, server.pid, "--duration", "0.5")  # warmed up
            before, threads_before = rss_and_threads(server.pid)
            socks = []
            try:
                for _ in range(IDLE):
                    sock = socket.create_connection(("127.0.0.1", port), 10)
                    socks.append(sock)
                    sock.sendall(b"x")  # accepted and being served
                    assert sock.recv(1) == b"x"
                after, threads_after = rss_and_threads(server.pid)
            finally:
                for sock in socks:
                    sock.close()
        finally:
            stop(server)
        rows.append({
            "server": name,
            "bytes_per_connection": (after - before) / IDLE,
            "threads_per_connection": (threads_after - threads_before) / IDLE,
        })  # fmt: skip
        print(name, rows[-1], flush=True)
    return rows


def profile(seconds: float) -> str:
    """The functions the streams and fast servers spend their time in,
    under load, as cProfile counts them (it slows both alike)."""
    lines = [
        f"The 12 functions with the most time of their own (`tottime`) in "
        f"each server under the benchmark's {TARGET_CASE[0]} connections x "
        f"{TARGET_CASE[1]} bytes, for {seconds:g} s, counted with cProfile "
        "(which slows every call, so the figures are relative). Times are "
        "microseconds per message.",
        "",
    ]
    for name in ("asyncio streams", "asyncio fast"):
        script = str(ROOT / "examples" / f"{SERVERS[name][1]}.py")
        with tempfile.NamedTemporaryFile(suffix=".prof") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "cProfile", "-o", out.name, script,
                 "--port", "0"],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert server.stdout is not None
            port = int(server.stdout.readline().rsplit(":", 1)[1])
            os.sched_setaffinity(server.pid, {0})
            result = bench(port, server.pid,
                           "--connections", str(TARGET_CASE[0]),
                           "--size", str(TARGET_CASE[1]),
                           "--duration", str(seconds))  # fmt: skip
            stop(server)
            stats = pstats.Stats(out.name)
        messages = result["messages"]
        table: Any = stats.stats  # type: ignore[attr-defined]
        top = sorted(table.items(), key=lambda kv: -kv[1][2])[:12]
        lines += [
            f"**{name}** ({messages:,} messages)",
            "",
            "| function | calls per message | µs per message |",
            "| --- | ---: | ---: |",
        ]
        for (path, line, function), (_, calls, tottime, _, _) in top:
            where = Path(path).name if path != "~" else "built-in"
            lines.append(
                f"| `{function}` ({where}{f':{line}' if line else ''}) | "
                f"{calls / messages:.2f} | {tottime * 1e6 / messages:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


def summarize(rows: list[dict[str, Any]]) -> dict[Any, Any]:
    """Medians per server and case, with the median of the ratios to the
    base server's figures in the same rounds."""
    runs: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        key = (r["server"], r["connections"], r["size"])
        runs.setdefault(key, []).append(r)
    cell = {}
    for (server, c, s), each in runs.items():
        base = {r["round"]: r for r in runs.get((BASE, c, s), [])}
        cell[(server, c, s)] = {
            **{f: statistics.median(r[f] for r in each) for f in FIGURES},
            **{
                f"{f}_ratio": statistics.median(
                    r[f] / base[r["round"]][f] for r in each
                )
                for f in ("messages_per_s", "server_cpu_us")
                if base
            },
        }
    return cell


def render(results: dict[str, Any]) -> dict[Path, str]:
    """The tables and the chart, made from saved results alone."""
    cell = summarize(results["rows"])
    names = [n for n in SERVERS if any(k[0] == n for k in cell)]
    lines = [
        f"Measured {results['date']} on {results['machine']}, "
        f"Python {results['python']}; the median of {results['rounds']} "
        f"runs of {results['seconds']} s per case. Messages per second, "
        "and server CPU per message in microseconds, each with its ratio "
        f"to the {BASE} server's (the median of the ratios within each "
        "round), and how busy the server's CPU was.",
        "",
        "| server | " + " | ".join(f"{c} x {s:,} B" for c, s in CASES) + " |",
        "| --- |" + " ---: |" * len(CASES),
    ]
    for name in names:
        parts = []
        for c, s in CASES:
            r = cell.get((name, c, s))
            parts.append(
                "one at a time"
                if r is None
                else f"{r['messages_per_s']:,.0f} "
                f"({r['messages_per_s_ratio']:.2f})<br>"
                f"{r['server_cpu_us']:.1f} µs "
                f"({r['server_cpu_us_ratio']:.2f})<br>"
                f"{r['server_busy']:.0%} busy"
            )
        lines.append(f"| {name} | " + " | ".join(parts) + " |")
    memory_lines = [
        f"{IDLE:,} idle connections, each accepted and served one byte; the "
        "growth of the server's resident memory (VmRSS) and of its threads, "
        "per connection.",
        "",
        "| server | memory per connection | threads per connection |",
        "| --- | ---: | ---: |",
    ] + [
        f"| {r['server']} | {r['bytes_per_connection'] / 1024:.1f} KiB | "
        f"{r['threads_per_connection']:.2f} |"
        for r in results["memory"]
    ]
    panels = (
        ("Messages per second: more is better", "messages_per_s",
         1000, ".0f", "k"),
        ("Server CPU per message, µs: less is better", "server_cpu_us",
         1, ".1f", ""),
    )  # fmt: skip
    return {
        TABLE: "\n".join(lines) + "\n",
        WORKERS: workers_table(results["workers"]),
        TARGETS: targets(results["targets"]),
        MEMORY: "\n".join(memory_lines) + "\n",
        CHART: chart(names, cell, CASES, "{} x {:,} B", panels),
    }


def targets(results: dict[str, Any]) -> str:
    """At 100 x 1 KiB: every targeted server against selectors."""
    cell = summarize(results["rows"])
    c, s = TARGET_CASE
    lines = [
        f"{results['rounds']} rounds of {results['seconds']} s at {c} "
        f"connections x {s:,} bytes, the servers taking turns; each ratio "
        "is the median of the ratios within each round.",
        "",
        "| server | messages/s | / selectors | CPU per message | "
        "/ selectors | target |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name in TARGETED:
        r = cell[(name, c, s)]
        target = ""
        if name == "asyncio fast":
            met = (
                r["messages_per_s_ratio"] >= 0.9
                and r["server_cpu_us_ratio"] <= 1.15
            )
            target = (
                "at least 0.9x the messages/s at no more than 1.15x the "
                f"CPU: {'met' if met else '**not met**'}"
            )
        lines.append(
            f"| {name} | {r['messages_per_s']:,.0f} | "
            f"{r['messages_per_s_ratio']:.2f} | "
            f"{r['server_cpu_us']:.1f} µs | {r['server_cpu_us_ratio']:.2f} | "
            f"{target} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--serve-protocol", action="store_true")
    parser.add_argument("--render", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--workers", action="store_true")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.serve_protocol:
        asyncio.run(serve_protocol())
        return 0
    if args.profile:
        PROFILE.write_text(profile(3.0))
        return 0
    if args.workers:  # added to the saved results, the rest kept
        saved = json.loads(RESULTS.read_text())
        saved["workers"] = {
            "date": time.strftime("%Y-%m-%d"),
            "rounds": TARGET_ROUNDS,
            "seconds": TARGET_SECONDS,
            "rows": measure_workers(TARGET_ROUNDS, TARGET_SECONDS),
        }
        RESULTS.write_text(json.dumps(saved, indent=1) + "\n")
        args.render = True  # and nothing else measured
    if not args.render:
        names = list(SERVERS)
        if importlib.util.find_spec("uvloop") is None:
            names = [n for n in names if not n.startswith("uvloop")]
        rows = measure(names, args.rounds, args.seconds, CASES)
        target_rows = measure(
            list(TARGETED), TARGET_ROUNDS, TARGET_SECONDS, [TARGET_CASE]
        )
        save(RESULTS, {
            "seconds": args.seconds,
            "rounds": args.rounds,
            "rows": rows,
            "memory": memory(names),
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
