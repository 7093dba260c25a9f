"""examples/tcp_echo_client_naive.py, run as its page shows.

It is meant to fail: a client that sends everything before it reads
stalls once the buffers on both sides are full. The tests check that it
says so within its bound, and that small messages still work. Every test
runs once per supported Python (the `python` fixture).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator

import pytest
from conftest import (
    TIMEOUT,
    Python,
    Server,
    assert_nothing_listening,
    interrupt_while_waiting,
    run,
    spawn,
    start_server,
)

CLIENT = "examples/tcp_echo_client_naive.py"


@pytest.fixture
def server(python: Python) -> Iterator[Server]:
    with start_server(
        script="examples/tcp_echo_server_blocking.py", python=python
    ) as running:
        yield running


def test_a_small_message_comes_back(python: Python, server: Server) -> None:
    result = run(CLIENT, "--port", str(server.port), "--size", "1000",
                 python=python)  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "sent 1,000 bytes, then read all 1,000 back\n"


@pytest.mark.once
def test_64_mib_stalls_and_it_says_how_far_it_got(
    python: Python, server: Server
) -> None:
    started = time.monotonic()
    result = run(
        CLIENT, "--port", str(server.port), "--timeout", "1", python=python,
        cpu=2,  # it waits; it must not spin
    )  # fmt: skip
    assert 1 <= time.monotonic() - started < 1 + 5
    assert (result.returncode, result.stdout) == (1, "")
    stalled = re.fullmatch(
        rf"error: 127\.0\.0\.1:{server.port}: deadlock: sent ([\d,]+) of "
        r"67,108,864 bytes, then no progress for 1 s\n",
        result.stderr,
    )
    assert stalled, result.stderr
    # The four buffers on the way (two each side) hold a few MB at most.
    assert 100_000 < int(stalled[1].replace(",", "")) < 32 * 2**20


def test_nothing_listening_exits_1(python: Python, closed_port: int) -> None:
    assert_nothing_listening(python, CLIENT, closed_port)


def test_ctrl_c_while_stalled_exits_130_quietly(
    python: Python, tcp_peer: socket.socket
) -> None:
    client = spawn(
        python, CLIENT, "--port", str(tcp_peer.getsockname()[1]),
        "--timeout", "30",
    )  # fmt: skip
    conn, _ = tcp_peer.accept()  # and never reads: the client will stall
    with conn:
        assert conn.recv(1)  # it is sending
        interrupt_while_waiting(client)
        out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, out, err) == (130, "", "")


def test_an_echo_cut_short_is_reported(
    python: Python, tcp_peer: socket.socket
) -> None:
    client = spawn(
        python, CLIENT, "--port", str(tcp_peer.getsockname()[1]),
        "--size", "1000",
    )  # fmt: skip
    conn, _ = tcp_peer.accept()
    with conn:
        received = b""
        while chunk := conn.recv(1000):
            received += chunk
        conn.sendall(received[:10])
    out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, out) == (1, "")
    port = tcp_peer.getsockname()[1]
    assert err == f"error: 127.0.0.1:{port}: 10 of 1000 bytes came back\n"
