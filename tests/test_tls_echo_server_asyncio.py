"""examples/tls_echo_server_asyncio.py, held to what every TLS echo
server must do (tests/tls_servers.py), on every supported Python."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from conftest import TIMEOUT, Python, start_server, tls_args
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
