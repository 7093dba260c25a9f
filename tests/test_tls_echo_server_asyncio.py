"""examples/tls_echo_server_asyncio.py, held to what every TLS echo
server must do (tests/tls_servers.py), on every supported Python."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest
from conftest import (
    SLOW_STEP,
    TIMEOUT,
    Python,
    read_line,
    rss,
    start_server,
    tls_args,
)
from tls_servers import *  # noqa: F403
from tls_servers import closed_by_the_server, tls_connect


@pytest.fixture
def script() -> str:
    return "examples/tls_echo_server_asyncio.py"


def test_a_connection_over_the_limit_is_closed_and_stopping_ends_the_rest(
    python: Python, script: str, certs: Path
) -> None:
    with (
        start_server(
            "--max-connections", "1", *tls_args(certs), script=script,
            python=python,
        ) as server,
        tls_connect(server, certs) as first,
    ):  # fmt: skip
        first.sendall(b"one")
        assert first.recv(100) == b"one"  # served, and still open
        with socket.create_connection(server.address, TIMEOUT) as second:
            closed_by_the_server(second)
        code, out, err = server.stop()  # with the first one open
        assert first.recv(100) == b""
    assert (code, out) == (0, "stopped: served 1 connection, echoed 3 bytes\n")
    assert re.fullmatch(
        r"tcp_server: 127\.0\.0\.1:\d+: refused: 1 connections open\n", err
    )


@pytest.mark.once
def test_its_default_limit_bounds_the_memory_of_pending_handshakes(
    script: str, certs: Path, report: Callable[[str], None]
) -> None:
    # Each connection costs about 300 KB from Python 3.11 on, handshake
    # done or not (the page says why): the default limit, 200, is what
    # bounds the server's memory when clients connect and say nothing.
    with start_server(
        "-v", "--handshake-timeout", str(TIMEOUT), *tls_args(certs),
        script=script,
    ) as server, ExitStack() as stack:  # fmt: skip
        assert server.proc.stderr is not None
        before = rss(server.proc.pid)
        for _ in range(200):
            stack.enter_context(socket.create_connection(server.address))
        connected = 0
        while connected < 200:
            connected += ": connected\n" in read_line(server.proc.stderr)
        with socket.create_connection(server.address, TIMEOUT) as over:
            closed_by_the_server(over)
        line = read_line(server.proc.stderr)
        while SLOW_STEP.match(line):  # -X dev: a slow step, on a busy machine
            line = read_line(server.proc.stderr)
        assert line.endswith(": refused: 200 connections open\n")
        # By now each of the 200 has begun its handshake.
        during = rss(server.proc.pid)
        code, out, _ = server.stop()
    assert (code, out) == (
        0, "stopped: served 200 connections, echoed 0 bytes\n",
    )  # fmt: skip
    each = (during - before) / 200 / 1000
    report(f"200 pending TLS handshakes, {script}: server RSS {before:,} -> "
           f"{during:,} bytes, {each:.0f} kB each")  # fmt: skip
    assert each < 400  # about 300 kB, as the page says
