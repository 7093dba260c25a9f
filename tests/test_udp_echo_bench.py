"""examples/udp_echo_bench.py, run as its page shows, against real servers.

Every test runs once per supported Python (the `python` fixture).
"""

from __future__ import annotations

import json
import re
import socket
import time

import pytest
from conftest import Python, Server, run
from relay import Relay

BENCH = "examples/udp_echo_bench.py"
SHORT = ("--duration", "0.5")


def test_measures_an_echo_server(python: Python, server: Server) -> None:
    result = run(
        BENCH, "--port", str(server.port), "--server-pid",
        str(server.proc.pid), *SHORT, python=python,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"127.0.0.1:{server.port}, 64-byte datagrams, window 32:"
    )
    figures = dict(re.findall(r"^  (\S.*?\S)  +(\S.*)$", result.stdout, re.M))
    assert set(figures) == {
        "replies/s", "lost", "rtt p50", "rtt p99", "server CPU",
        "server busy",
    }  # fmt: skip
    assert figures["lost"].startswith("0 of ")
    busy = re.fullmatch(r"(\d+)% of one CPU", figures["server busy"])
    assert busy and 0 < int(busy[1]) <= 110  # CPU ticks are coarse
    assert float(figures["replies/s"].replace(",", "")) > 100


def test_json_for_saved_results(python: Python, server: Server) -> None:
    result = run(
        BENCH, "--port", str(server.port), "--json", "--window", "1",
        "--size", "1400", *SHORT, python=python,
    )  # fmt: skip
    figures = json.loads(result.stdout)
    assert (figures["window"], figures["size"], figures["lost"]) == (
        1,
        1400,
        0,
    )
    assert 0 < figures["rtt_p50_us"] <= figures["rtt_p99_us"]


def test_nothing_listening_exits_1(python: Python, closed_port: int) -> None:
    result = run(BENCH, "--port", str(closed_port), *SHORT, python=python)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: nothing is listening at 127.0.0.1:{closed_port}\n"
    )


def test_silent_server_exits_1_and_stops_by_itself(
    python: Python, peer: socket.socket
) -> None:
    started = time.monotonic()
    result = run(
        BENCH, "--port", str(peer.getsockname()[1]), "--timeout", "0.2",
        *SHORT, python=python,
    )  # fmt: skip
    assert time.monotonic() - started < 0.5 + 0.2 + 3
    assert result.returncode == 1
    assert re.fullmatch(r"error: \S+: no echo in 0\.\d s\n", result.stderr)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--host", "192.0.2.1"], "--host must be a loopback address, such"),
        (["--host", "localhost"], "--host must be a loopback address, such"),
        (["--size", "7"], "--size must be from 8 to 65507"),
        (["--window", "0"], "--window must be 1 or more"),
        (["--duration", "0"], "--duration and --timeout must be more than 0"),
        (["--port", "0"], "--port must be from 1 to 65535"),
    ],
)
def test_bad_usage_exits_2(
    python: Python, args: list[str], error: str
) -> None:
    result = run(BENCH, *args, python=python)
    assert result.returncode == 2
    assert f"udp_echo_bench.py: error: {error}" in result.stderr


def test_late_echoes_are_lost_not_replies(
    python: Python, server: Server
) -> None:
    # Every echo arrives 0.3 s late, after --timeout 0.2: each window is
    # counted lost, and its late echoes are then ignored, so no reply at
    # all is counted.
    with Relay(server.address, lambda d, n, data: [0.3]) as relay:
        result = run(
            BENCH, "--port", str(relay.address[1]), "--timeout", "0.2",
            "--window", "2", "--duration", "1", python=python,
        )  # fmt: skip
    assert result.returncode == 1
    assert "no echo in" in result.stderr
