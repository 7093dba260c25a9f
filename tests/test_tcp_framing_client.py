"""examples/tcp_framing_client.py, run as its page shows.

Every test runs once per supported Python (the `python` fixture), against
the framing server, against socat (an echo server that knows nothing of
framing, so the framed bytes come back as sent) and against hand-driven
peers that break the framing.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import (
    SLACK,
    TIMEOUT,
    Python,
    Server,
    assert_nothing_listening,
    bad_usage_exits_2,
    interrupt_while_waiting,
    run,
    spawn,
    start_server,
)

CLIENT = "examples/tcp_framing_client.py"


@pytest.fixture
def server(python: Python) -> Iterator[Server]:
    with start_server(
        script="examples/tcp_framing_server.py", python=python
    ) as running:
        yield running


def test_default_messages(python: Python, server: Server) -> None:
    result = run(CLIENT, "--port", str(server.port), python=python)
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert lines[:3] == [
        "echoed 5 bytes: b'Hello'",
        "echoed 6 bytes: b'framed'",
        "echoed 5 bytes: b'world'",
    ]
    assert lines[3].startswith(f"3 messages to 127.0.0.1:{server.port} and ")
    assert server.stop()[1] == (
        "stopped: served 1 connection, echoed 16 bytes\n"
    )


def test_empty_and_non_utf8_messages(python: Python, server: Server) -> None:
    result = run(
        CLIENT, "--port", str(server.port), "", os.fsdecode(b"\xff\xfe"),
        python=python,
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.splitlines()[:2] == [
        "echoed 0 bytes: b''",
        "echoed 2 bytes: b'\\xff\\xfe'",
    ]


def test_lines_of_stdin_are_the_messages(
    python: Python, server: Server
) -> None:
    result = run(
        CLIENT, "--port", str(server.port), "-",
        stdin=b"first\n\nthird\n", python=python,
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.splitlines()[:3] == [
        "echoed 5 bytes: b'first'",
        "echoed 0 bytes: b''",
        "echoed 5 bytes: b'third'",
    ]


def test_over_ipv6(python: Python) -> None:
    with start_server(
        "--host", "::1", script="examples/tcp_framing_server.py",
        python=python,
    ) as server:  # fmt: skip
        result = run(
            CLIENT, "--host", "::1", "--port", str(server.port), "six",
            python=python,
        )  # fmt: skip
    assert result.returncode == 0
    assert f"1 message to [::1]:{server.port} and back" in result.stdout


@pytest.mark.parametrize("peer", ["socat_tcp_server", "ncat_tcp_server"])
def test_against_third_party_echo_servers(
    python: Python, peer: str, request: pytest.FixtureRequest
) -> None:
    # Each echoes the framed bytes as they come. ncat, which drops the end
    # of an echo when the client half-closes, is fine here: this client
    # reads every reply before it closes.
    port = request.getfixturevalue(peer)
    result = run(
        CLIENT, "--port", str(port), "a", "", "c" * 100_000, python=python
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert "echoed 100000 bytes: b'ccccccc" in result.stdout


@contextmanager
def against(
    python: Python, peer: socket.socket, *args: str
) -> Iterator[tuple[subprocess.Popen[str], socket.socket]]:
    """The client against a hand-driven peer that has read its request."""
    client = spawn(
        python, CLIENT, "--port", str(peer.getsockname()[1]), *args, cpu=2
    )
    conn, _ = peer.accept()
    with conn:
        assert conn.recv(9) == struct.pack("!I", 5) + b"Hello"
        yield client, conn


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (struct.pack("!I", 2**31), "message of 2147483648 bytes is over "
         "1048576"),
        (struct.pack("!I", 5) + b"Hel", "connection closed inside a "
         "message (3 of 5 bytes)"),
        (b"\x00", "connection closed inside a header (1 of 4 bytes)"),
        (b"", "the server closed the connection before reply 1"),
        (struct.pack("!I", 5) + b"HELLO", "reply 1 is not the message sent"),
    ],
    ids=["too-long", "cut-short", "header-cut-short", "closed", "different"],
)  # fmt: skip
def test_a_broken_reply_fails_at_once(
    python: Python, tcp_peer: socket.socket, reply: bytes, error: str
) -> None:
    with against(python, tcp_peer) as (client, conn):
        conn.sendall(reply)
    out, err = client.communicate(timeout=TIMEOUT)
    port = tcp_peer.getsockname()[1]
    assert (client.returncode, out) == (1, "")
    assert err == f"error: 127.0.0.1:{port}: {error}\n"


def test_silent_server_times_out(
    python: Python, tcp_peer: socket.socket
) -> None:
    with against(python, tcp_peer, "--timeout", "0.5") as (client, _):
        started = time.monotonic()  # it has sent all: now it waits
        _, err = client.communicate(timeout=TIMEOUT)
    assert 0.5 <= time.monotonic() - started < 0.5 + SLACK
    assert (client.returncode, err) == (
        1,
        f"error: 127.0.0.1:{tcp_peer.getsockname()[1]}: no reply within "
        "0.5 s\n",
    )


def test_connect_that_gets_no_answer_times_out(
    python: Python, full_backlog: int
) -> None:
    result = run(
        CLIENT, "--port", str(full_backlog), "--timeout", "0.5",
        python=python, cpu=1,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        f"error: 127.0.0.1:{full_backlog}: no connection within 0.5 s\n"
    )


def test_nothing_listening_exits_1(python: Python, closed_port: int) -> None:
    assert_nothing_listening(python, CLIENT, closed_port)


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--max-size", "3", "abcd"], "a message of 4 bytes is over "
         "--max-size 3"),
        (["--timeout", "nan"], "argument --timeout: must be more than 0 and "
         "at most 3600 seconds, not nan"),
    ],
    CLIENT,
)  # fmt: skip


def test_ctrl_c_while_waiting_exits_130_quietly(
    python: Python, tcp_peer: socket.socket
) -> None:
    with against(python, tcp_peer, "--timeout", "30") as (client, _):
        interrupt_while_waiting(client)  # it waits for the reply
        out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, out, err) == (130, "", "")
