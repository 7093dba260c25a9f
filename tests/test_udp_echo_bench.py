"""examples/udp_echo_bench.py, run as its page shows, against real servers.

Every test runs once per supported Python (the `python` fixture).
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time

import pytest
from conftest import (
    TIMEOUT,
    Python,
    Server,
    bad_usage_exits_2,
    read_line,
    run,
    run_page_script,
    spawn,
    start_server,
    udp_socket,
)
from relay import Relay

BENCH = "examples/udp_echo_bench.py"
SHORT = ("--duration", "0.5")
WAIT = "must be more than 0 and at most 3600 seconds,"


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


@pytest.mark.once
def test_json_for_saved_results_from_a_name(python: Python) -> None:
    # A loopback name will do: the bench uses its first address.
    first = socket.getaddrinfo("localhost", None, type=socket.SOCK_DGRAM)[0]
    with start_server("--host", str(first[4][0]), python=python) as server:
        result = run(
            BENCH, "--host", "localhost", "--port", str(server.port),
            "--json", "--window", "1", "--size", "1400", *SHORT,
            python=python,
        )  # fmt: skip
    figures = json.loads(result.stdout)
    assert figures["host"] == "localhost"
    assert (figures["window"], figures["size"], figures["lost"]) == (
        1,
        1400,
        0,
    )
    assert 0 < figures["rtt_p50_us"] <= figures["rtt_p99_us"]


@pytest.mark.once
def test_nothing_listening_exits_1(python: Python, closed_port: int) -> None:
    result = run(BENCH, "--port", str(closed_port), *SHORT, python=python)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: nothing is listening at 127.0.0.1:{closed_port}\n"
    )


@pytest.mark.once
def test_silent_server_exits_1_and_stops_by_itself(
    python: Python, peer: socket.socket
) -> None:
    port = peer.getsockname()[1]
    started = time.monotonic()
    result = run(
        BENCH, "--port", str(port), "--timeout", "0.2", *SHORT,
        python=python,
    )  # fmt: skip
    assert time.monotonic() - started < 0.2 + 3
    assert result.returncode == 1
    assert result.stderr == (
        f"error: 127.0.0.1:{port}: no echo within 0.2 s\n"
    )


@pytest.mark.once
def test_waits_for_a_server_that_is_starting(python: Python) -> None:
    # The benchmark starts first and probes; the port is refused for a
    # while (nothing is bound); then the server binds it.
    with udp_socket() as stand_in:
        port = stand_in.getsockname()[1]
        bench = spawn(python, BENCH, "--port", str(port), "--timeout", "5",
                      *SHORT)  # fmt: skip
        stand_in.recv(100)  # a probe: the benchmark is waiting
    # Closed: the next probes are refused until the server below binds.
    with start_server("--port", str(port), python=python) as server:
        out, err = bench.communicate(timeout=TIMEOUT)
        assert server.stop()[0] == 0
    assert (bench.returncode, err) == (0, "")
    assert out.startswith(f"127.0.0.1:{port}, 64-byte datagrams")


@pytest.mark.once
def test_server_that_stops_mid_run_keeps_the_figures(
    python: Python,
) -> None:
    with start_server("-v", python=python) as server:
        bench = spawn(
            python, BENCH, "--port", str(server.port), "--timeout", "0.2",
            "--duration", "20",
        )  # fmt: skip
        assert server.proc.stderr is not None
        # 100 echoes sent: with 32 in flight, the bench has timed 68 or more
        echoed = 0
        while echoed < 100:
            echoed += "echoed" in read_line(server.proc.stderr)
        server.stop()
        out, err = bench.communicate(timeout=TIMEOUT)
    assert bench.returncode == 1
    assert re.fullmatch(
        rf"error: 127\.0\.0\.1:{server.port}: the server stopped answering "
        r"\(refused\) after \d+\.\d s; the figures cover that time\n",
        err,
    )
    assert "replies/s" in out


@pytest.mark.once
def test_server_pid_that_exits_mid_run_gives_no_cpu_figures(
    python: Python, peer: socket.socket
) -> None:
    # The test echoes by hand, so that the process named by --server-pid
    # can exit at a known moment: after the bench's first probe.
    other = subprocess.Popen(["sleep", "30"])
    bench = spawn(
        python, BENCH, "--port", str(peer.getsockname()[1]), "--server-pid",
        str(other.pid), "--duration", "0.5",
    )  # fmt: skip
    data, addr = peer.recvfrom(65_535)  # the probe: the bench has started
    other.kill()
    other.wait(timeout=TIMEOUT)
    peer.settimeout(0.5)
    try:
        while True:  # echo until the bench stops sending
            peer.sendto(data, addr)
            data, addr = peer.recvfrom(65_535)
    except TimeoutError:
        pass
    out, err = bench.communicate(timeout=TIMEOUT)
    assert (bench.returncode, err) == (
        0,
        f"warning: process {other.pid} exited during the run: "
        "no server CPU figures\n",
    )
    assert "replies/s" in out
    assert "server CPU" not in out


def test_ctrl_c_mid_run_exits_130_quietly(python: Python) -> None:
    with start_server("-v", python=python) as server:
        bench = spawn(python, BENCH, "--port", str(server.port),
                      "--duration", "20")  # fmt: skip
        assert server.proc.stderr is not None
        while "echoed" not in read_line(server.proc.stderr):
            pass  # the socket facts; then the bench's first datagram
        bench.send_signal(signal.SIGINT)
        out, err = bench.communicate(timeout=TIMEOUT)
    assert (bench.returncode, out, err) == (130, "", "")


@pytest.mark.once
def test_server_pid_that_does_not_exist_is_bad_usage(
    python: Python, server: Server
) -> None:
    result = run(BENCH, "--port", str(server.port), "--server-pid",
                 "999999999", python=python)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.endswith(
        "udp_echo_bench.py: error: --server-pid: no process 999999999 here\n"
    )


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        *[
            (
                ["--host", host],
                "--host must be a loopback address or name, "
                "such as 127.0.0.1 or localhost",
            )
            for host in ("192.0.2.1", "nowhere.invalid")
        ],
        (["--size", "7"], "argument --size: must be from 8 to 65507, not 7"),
        (
            ["--window", "0"],
            "argument --window: must be from 1 to 10000, not 0",
        ),
        *[
            ([f"--{name}", value], f"argument --{name}: {WAIT} not {value}")
            for name in ("duration", "timeout")
            for value in ("0", "inf", "nan", "1e9")
        ],
        (["--port", "0"], "argument --port: must be from 1 to 65535, not 0"),
    ],
    BENCH,
)  # fmt: skip


@pytest.mark.once
def test_late_echoes_are_lost_not_replies(
    python: Python, server: Server
) -> None:
    # The first echo (the bench's probe: is a server there?) is on time.
    # Every later echo arrives 0.3 s late, after --timeout 0.2: each window
    # is counted lost, and its late echoes are then ignored, so no reply at
    # all is counted.
    with Relay(server.address, lambda d, n, data: [0.3 * bool(n)]) as relay:
        result = run(
            BENCH, "--port", str(relay.address[1]), "--timeout", "0.2",
            "--window", "2", "--duration", "1", python=python,
        )  # fmt: skip
    assert result.returncode == 1
    assert "no echo in" in result.stderr


def test_page_recipe_works_pasted_into_a_script() -> None:
    # The page's lines as they stand: the benchmark may start before the
    # server has bound its port, and must wait for it.
    result = run_page_script("udp_echo_bench.md")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("listening on 127.0.0.1:9000")
    assert "server busy" in result.stdout
