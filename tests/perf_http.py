"""Compare HTTP servers serving one small file, with wrk as the load.

    python tests/perf_http.py            measure, then write the page's files
    python tests/perf_http.py --render   only rewrite them from the saved JSON

Each server runs pinned to CPU 0 and `wrk -t1 -c50` to CPU 1, on
loopback, over keep-alive where the server keeps connections open. The
servers take turns, a different one first in each round. Results go to
docs/output/performance_http.json; the table (performance_http.md) is
made from that file alone.

Servers: examples/http_server.py, as its page runs it (and on uvloop);
`python -m http.server` (HTTP/1.0: a connection per request); uvicorn
with h11, and with httptools and uvloop, running APP below: an ASGI app
that reads the file on every request, as a file server does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from perf import LAUNCH, save
from perf_tcp import cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "output"
RESULTS = OUTPUT / "performance_http.json"
TABLE = OUTPUT / "performance_http.md"
BODY = b"hello, world\n"  # 13 bytes, the size
CONNECTIONS = 50
BASE = "http.server"  # what the ratios compare with
SERVERS = (
    "http_server.py",
    "http_server.py, uvloop",
    "http.server",
    "uvicorn, h11",
    "uvicorn, httptools + uvloop",
)
TARGETS = {"http.server": 10.0, "uvicorn, httptools + uvloop": 1.0}
FILE = "hello.txt"

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """The ASGI app uvicorn serves: the file, read at each request."""
    folder = os.environ["PERF_HTTP_ROOT"]
    with open(os.path.join(folder, scope["path"].lstrip("/")), "rb") as f:
        body = f.read()
    await send({
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"text/plain"),
                    (b"content-length", str(len(body)).encode())],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def start(name: str, folder: str) -> tuple[subprocess.Popen[str], int]:
    """Start a server on a free port, pinned to CPU 0."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PERF_HTTP_ROOT": folder}
    if name.startswith("uvicorn"):
        fast = name.endswith("uvloop")
        argv = [sys.executable, "-m", "uvicorn", "perf_http:app",
                "--port", "0", "--no-access-log", "--lifespan", "off",
                "--app-dir", str(ROOT / "tests"),
                "--http", "httptools" if fast else "h11",
                "--loop", "uvloop" if fast else "asyncio"]  # fmt: skip
    elif name == "http.server":
        argv = [sys.executable, "-u", "-m", "http.server", "0", "--bind",
                "127.0.0.1", "--directory", folder]  # fmt: skip
    else:
        script = str(ROOT / "examples" / "http_server.py")
        args = [script, "--port", "0", "--root", folder]
        argv = [sys.executable, *args]
        if name.endswith("uvloop"):
            argv = [sys.executable, "-c", LAUNCH, "uvloop", *args]
    server = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        # uvicorn says its port on stderr; http.server logs there
        stderr=subprocess.STDOUT if "uvicorn" in name else subprocess.DEVNULL,
        text=True,
        env=env,
        preexec_fn=lambda: os.sched_setaffinity(0, {0}),
    )
    assert server.stdout is not None
    for line in server.stdout:  # "listening on 127.0.0.1:PORT", or
        found = re.search(r"127\.0\.0\.1(?: port |:)(\d+)", line)  # others'
        if found:
            break
    assert found, f"{name} said no port"
    wrk(int(found[1]), 1)  # warmed up, and known to answer
    return server, int(found[1])


def wrk(port: int, seconds: int) -> dict[str, float]:
    """Run wrk on CPU 1; return requests/s, requests, errors."""
    run = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s",
         f"http://127.0.0.1:{port}/{FILE}"],
        capture_output=True, text=True, timeout=seconds + 30, check=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {1}),
    )  # fmt: skip
    out = run.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    assert rate and count, out
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests_per_s": float(rate[1]),
        "requests": int(count[1]),
        "bad_responses": int(errors[1]) if errors else 0,
    }


def measure(rounds: int, seconds: int) -> list[dict[str, Any]]:
    """Every server in turn, for some rounds; CPU per request from the
    server's /proc figures."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, FILE).write_bytes(BODY)
        servers = {name: start(name, folder) for name in SERVERS}
        try:
            rows = []
            for round_ in range(rounds):
                first = round_ % len(SERVERS)
                for name in SERVERS[first:] + SERVERS[:first]:
                    server, port = servers[name]
                    before = cpu_seconds([server.pid])
                    row = wrk(port, seconds)
                    cpu = cpu_seconds([server.pid]) - before
                    rows.append({
                        "server": name, "round": round_, **row,
                        "server_cpu_us": cpu / row["requests"] * 1e6,
                    })  # fmt: skip
                    print(name, rows[-1], flush=True)
            return rows
        finally:
            for server, _ in servers.values():
                server.send_signal(signal.SIGINT)
                server.wait(timeout=10)


def render(results: dict[str, Any]) -> dict[Path, str]:
    """The table, made from saved results alone."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for r in results["rows"]:
        runs.setdefault(r["server"], []).append(r)
    base = {r["round"]: r for r in runs[BASE]}
    lines = [
        f"Measured {results['date']} on {results['machine']}, Python "
        f"{results['python']}: {results['rounds']} rounds of "
        f"{results['seconds']:g} s, the servers taking turns, each pinned "
        f"to CPU 0 and `wrk -t1 -c{CONNECTIONS}` to CPU 1, asking for a "
        f"{len(BODY)}-byte file. Medians, and the median of the ratios to "
        f"{BASE} within each round.",
        "",
        "| server | requests/s | / http.server | server CPU per request "
        "| target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    ours = {r["round"]: r for r in runs[SERVERS[0]]}
    for name in SERVERS:
        each = runs[name]
        rate = statistics.median(r["requests_per_s"] for r in each)
        cpu = statistics.median(r["server_cpu_us"] for r in each)
        ratio = statistics.median(
            r["requests_per_s"] / base[r["round"]]["requests_per_s"]
            for r in each
        )
        target = ""
        if name in TARGETS:  # http_server.py against this one
            times = statistics.median(
                ours[r["round"]]["requests_per_s"] / r["requests_per_s"]
                for r in each
            )
            met = "met" if times >= TARGETS[name] else "**not met**"
            target = (
                f"http_server.py at least {TARGETS[name]:g}x this: "
                f"{times:.2f}x, {met}"
            )
        lines.append(
            f"| {name} | {rate:,.0f} | {ratio:.1f} | {cpu:.1f} µs | {target} |"
        )
    return {TABLE: "\n".join(lines) + "\n"}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--render", action="store_true")
    parser.add_argument("--seconds", type=int, default=2)  # wrk: whole
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if not args.render:
        save(RESULTS, {
            "seconds": args.seconds,
            "rounds": args.rounds,
            "rows": measure(args.rounds, args.seconds),
        })  # fmt: skip
    for path, text in render(json.loads(RESULTS.read_text())).items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
