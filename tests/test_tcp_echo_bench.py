"""examples/tcp_echo_bench.py, run as its page shows, against real servers
and hand-driven peers. Every test runs once per supported Python."""

from __future__ import annotations

import json
import re
import selectors
import signal
import socket
import subprocess
from collections.abc import Iterator

import pytest
from conftest import (
    TIMEOUT,
    Python,
    Server,
    assert_nothing_listening,
    bad_usage_exits_2,
    read_line,
    run,
    run_page_script,
    spawn,
    start_server,
    tcp_listener,
)

BENCH = "examples/tcp_echo_bench.py"
SHORT = ("--duration", "0.5")
FAST = "examples/tcp_echo_server_fast.py"


@pytest.fixture
def server(python: Python) -> Iterator[Server]:
    with start_server(script=FAST, python=python) as running:
        yield running


def test_measures_an_echo_server(python: Python, server: Server) -> None:
    result = run(
        BENCH, "--port", str(server.port), "--server-pid",
        str(server.proc.pid), "--connections", "5", *SHORT, python=python,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"127.0.0.1:{server.port}, 5 connections x 1024 bytes:"
    )
    figures = dict(re.findall(r"^  (\S.*?\S)  +(\S.*)$", result.stdout, re.M))
    assert set(figures) == {
        "messages/s", "rtt p50", "rtt p99", "server CPU", "server busy",
    }  # fmt: skip
    assert float(figures["messages/s"].replace(",", "")) > 100
    busy = re.fullmatch(r"(\d+)% of one CPU", figures["server busy"])
    assert busy and 0 < int(busy[1]) <= 110  # CPU ticks are coarse
    # It ends every connection with a half-close: no reset, no error.
    status, out, err = server.stop()
    assert (status, err) == (0, "")
    assert out.startswith("stopped: served 6 connections")  # and the probe


@pytest.mark.once
def test_json_with_messages_larger_than_the_buffers(
    python: Python, server: Server
) -> None:
    result = run(  # a loopback name will do
        BENCH, "--host", "localhost", "--port", str(server.port), "--json",
        "--connections", "2", "--size", str(2**22), *SHORT, python=python,
    )  # fmt: skip
    figures = json.loads(result.stdout)
    assert figures["host"] == "localhost"
    assert (figures["connections"], figures["size"]) == (2, 2**22)
    assert figures["messages"] > 0
    assert 0 < figures["rtt_p50_us"] <= figures["rtt_p99_us"]


@pytest.mark.once
def test_nothing_listening_exits_1(
    python: Python, closed_tcp_port: int
) -> None:
    assert_nothing_listening(
        python, BENCH, closed_tcp_port, "--timeout", "0.2"
    )


@pytest.mark.once
def test_waits_for_a_server_that_is_starting(python: Python) -> None:
    # The first probes are refused; then the server listens on the port.
    with tcp_listener() as stand_in:
        port = stand_in.getsockname()[1]
        bench = spawn(python, BENCH, "--port", str(port), "--timeout", "5",
                      *SHORT)  # fmt: skip
        conn, _ = stand_in.accept()  # a probe: the benchmark is waiting
        conn.close()  # no echo; next, refused: it tries again
    with start_server("--port", str(port), script=FAST, python=python) as s:
        out, err = bench.communicate(timeout=TIMEOUT)
        assert s.stop()[0] == 0
    assert (bench.returncode, err) == (0, "")
    assert out.startswith(f"127.0.0.1:{port}, 10 connections x 1024 bytes")


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"", "the server closed a connection"),
        (b"\xff" * 1024, "an echo differs from its message"),
    ],
    ids=["closed", "different"],
)
@pytest.mark.once
def test_a_peer_that_does_not_echo_stops_the_run_with_the_figures(
    python: Python, tcp_peer: socket.socket, reply: bytes, error: str
) -> None:
    # The peer echoes the probe and ten messages, then misbehaves.
    bench = spawn(
        python, BENCH, "--port", str(tcp_peer.getsockname()[1]),
        "--connections", "1", "--duration", "20",
    )  # fmt: skip
    probe, _ = tcp_peer.accept()
    with probe:
        probe.sendall(probe.recv(1))
    conn, _ = tcp_peer.accept()
    with conn:
        for _ in range(10):
            message = b""
            while len(message) < 1024:
                message += conn.recv(1024 - len(message))
            conn.sendall(message)
        conn.recv(1024)
        if reply:
            conn.sendall(reply)
        else:
            conn.shutdown(socket.SHUT_WR)
        out, err = bench.communicate(timeout=TIMEOUT)
    assert bench.returncode == 1
    assert re.fullmatch(
        rf"error: 127\.0\.0\.1:\d+: {error} after \d+\.\d s; the figures "
        "cover that time\n",
        err,
    )
    assert "messages/s" in out


@pytest.mark.once
def test_a_peer_that_never_echoes_exits_1_within_the_timeout(
    python: Python, tcp_peer: socket.socket
) -> None:
    bench = spawn(
        python, BENCH, "--port", str(tcp_peer.getsockname()[1]),
        "--connections", "1", "--timeout", "0.3", "--duration", "20",
    )  # fmt: skip
    probe, _ = tcp_peer.accept()
    with probe:
        probe.sendall(probe.recv(1))
    conn, _ = tcp_peer.accept()
    with conn:  # takes the messages, says nothing
        out, err = bench.communicate(timeout=TIMEOUT)
    assert (bench.returncode, out) == (1, "")
    assert err == (
        f"error: 127.0.0.1:{tcp_peer.getsockname()[1]}: no echo for 0.3 s\n"
    )


@pytest.mark.parametrize("reply", [b"!", None], ids=["other", "silent"])
@pytest.mark.once
def test_a_probe_that_is_not_echoed_exits_1(
    python: Python, tcp_peer: socket.socket, reply: bytes | None
) -> None:
    bench = spawn(python, BENCH, "--port", str(tcp_peer.getsockname()[1]),
                  "--timeout", "0.3")  # fmt: skip
    with selectors.DefaultSelector() as selector:
        selector.register(tcp_peer, selectors.EVENT_READ)
        while bench.poll() is None:  # it tries again until its timeout
            if selector.select(0.1):
                probe, _ = tcp_peer.accept()
                with probe:
                    probe.recv(1)
                    if reply is None:  # until the bench gives up
                        bench.wait(timeout=TIMEOUT)
                    else:
                        probe.sendall(reply)
    out, err = bench.communicate(timeout=TIMEOUT)
    assert (bench.returncode, out) == (1, "")
    assert err.endswith(": the server did not echo the probe\n")


def test_ctrl_c_mid_run_exits_130_quietly(python: Python) -> None:
    with start_server("-v", script=FAST, python=python) as server:
        bench = spawn(python, BENCH, "--port", str(server.port),
                      "--duration", "20")  # fmt: skip
        assert server.proc.stderr is not None
        connected = 0
        while connected < 11:  # the probe, then the ten
            connected += "connected" in read_line(server.proc.stderr)
        bench.send_signal(signal.SIGINT)
        out, err = bench.communicate(timeout=TIMEOUT)
    assert (bench.returncode, out, err) == (130, "", ""), err


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        *[
            (["--host", host], "--host must be a loopback address or name, "
             "such as 127.0.0.1 or localhost")
            for host in ("192.0.2.1", "nowhere.invalid")
        ],
        (["--size", "7"], "argument --size: must be from 8 to 16777216, "
         "not 7"),
        (["--connections", "0"], "argument --connections: must be from 1 "
         "to 10000, not 0"),
        (["--duration", "inf"], "argument --duration: must be more than 0 "
         "and at most 3600 seconds, not inf"),
        (["--server-pid", "999999999"], "--server-pid: no process 999999999 "
         "here"),
    ],
    BENCH,
)  # fmt: skip


def test_page_recipe_works_pasted_into_a_script() -> None:
    # The page's lines as they stand: the benchmark may start before the
    # server has bound its port, and must wait for it.
    result = run_page_script("tcp_echo_bench.md")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("listening on 127.0.0.1:9000")
    assert "server busy" in result.stdout


@pytest.mark.once
def test_server_pid_that_exits_mid_run_gives_no_cpu_figures(
    python: Python,
) -> None:
    other = subprocess.Popen(["sleep", "30"])
    with start_server("-v", script=FAST, python=python) as server:
        bench = spawn(
            python, BENCH, "--port", str(server.port), "--server-pid",
            str(other.pid), *SHORT,
        )  # fmt: skip
        assert server.proc.stderr is not None
        while "connected" not in read_line(server.proc.stderr):
            pass  # the socket facts; then the bench's first connection
        other.kill()
        other.wait(timeout=TIMEOUT)
        out, err = bench.communicate(timeout=TIMEOUT)
    assert (bench.returncode, err) == (
        0,
        f"warning: process {other.pid} exited during the run: "
        "no server CPU figures\n",
    )
    assert "messages/s" in out
    assert "server CPU" not in out
