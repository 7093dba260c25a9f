"""examples/chat_client.py, run as its page shows: against the chat server
through its standard input, a server that says one line and closes, and
each way it can fail. Every test runs once per supported Python, except
those marked `once`."""

from __future__ import annotations

import socket

import pytest
from conftest import (
    HERE,
    TIMEOUT,
    Python,
    assert_nothing_listening,
    bad_usage_exits_2,
    interrupt_while_waiting,
    run,
    spawn,
    start_server,
)

SCRIPT = "examples/chat_client.py"


def test_a_session_with_the_chat_server(python: Python) -> None:
    with start_server(script="examples/chat_server_asyncio.py") as server:
        result = run(
            SCRIPT, "--port", str(server.port), "--nick", "ann",
            python=python, stdin=b"hello\n/who\n",
        )  # fmt: skip
        server.stop()
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "* guest1 joined\n* guest1 is now ann\n<ann> hello\n* here: ann\n"
    )


def test_a_server_that_says_one_line_and_closes(
    python: Python, tcp_peer: socket.socket
) -> None:
    port = str(tcp_peer.getsockname()[1])
    with spawn(python, SCRIPT, "--port", port) as proc:
        conn, _ = tcp_peer.accept()
        with conn:
            conn.sendall("welcome, é\n".encode())
        out, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, out, err) == (0, "welcome, é\n", "")


@pytest.mark.once
def test_nothing_listening_is_one_line_and_exit_1(
    closed_tcp_port: int,
) -> None:
    assert_nothing_listening(HERE, SCRIPT, closed_tcp_port)


@pytest.mark.once
def test_ctrl_c_exits_130_quietly(tcp_peer: socket.socket) -> None:
    port = str(tcp_peer.getsockname()[1])
    with spawn(HERE, SCRIPT, "--port", port) as proc:
        conn, _ = tcp_peer.accept()
        with conn:
            interrupt_while_waiting(proc)  # in poll(), for either
            out, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, out, err) == (130, "", "")


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--port", "0"], "argument --port: must be from 1 to 65535, not 0"),
        (["--timeout", "0"], "argument --timeout: must be more than 0 and "
         "at most 3600 seconds, not 0"),
    ],
    SCRIPT,
)  # fmt: skip
