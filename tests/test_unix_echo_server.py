"""examples/unix_echo_server.py, held to what every Unix socket server must
do with its file (tests/unix_servers.py), on every supported Python; and
what it does as a stream server: idle clients, SO_PEERCRED, peers nobody
here wrote."""

from __future__ import annotations

import os
import select
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import TIMEOUT, Python, start_unix_server, stop
from unix_servers import *  # noqa: F403
from unix_servers import echo_of

SCRIPT = "examples/unix_echo_server.py"


@pytest.fixture
def script() -> str:
    return SCRIPT


@pytest.fixture
def kind() -> int:
    return socket.SOCK_STREAM


def test_echoes_what_it_is_sent_to_its_end(
    python: Python, sock_path: Path
) -> None:
    big = os.urandom(4 * 2**20) + b"\0"
    with start_unix_server(SCRIPT, sock_path, python=python) as server:
        assert echo_of(sock_path, socket.SOCK_STREAM, b"") == b""
        assert echo_of(sock_path, socket.SOCK_STREAM, big) == big
        status, out, _ = stop(server)
    assert status == 0
    assert out == f"stopped: served 2 connections, echoed {len(big)} bytes\n"


@pytest.mark.parametrize(
    "client",
    [["socat", "-t", "5", "-", "UNIX-CONNECT:PATH"], ["ncat", "-U", "PATH"]],
    ids=["socat", "ncat"],
)
def test_serves_clients_nobody_here_wrote_and_logs_who_they_are(
    python: Python, sock_path: Path, client: list[str]
) -> None:
    with start_unix_server(SCRIPT, sock_path, "-v", python=python) as server:
        peer = subprocess.Popen(
            [arg.replace("PATH", str(sock_path)) for arg in client],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        out, _ = peer.communicate(b"third party", timeout=TIMEOUT)
        status, _, err = stop(server)
    assert (peer.returncode, out, status) == (0, b"third party", 0)
    # SO_PEERCRED: the process that connected, as the kernel saw it.
    who = f"pid {peer.pid} uid {os.getuid()} gid {os.getgid()}"
    assert f"unix_server: {who}: connected\n" in err
    assert f"unix_server: {who}: done\n" in err


def test_closes_an_idle_client_and_serves_the_next(
    python: Python, sock_path: Path
) -> None:
    with start_unix_server(
        SCRIPT, sock_path, "--idle-timeout", "0.3", python=python
    ) as server:
        with socket.socket(socket.AF_UNIX) as idle:
            idle.settimeout(TIMEOUT)
            idle.connect(str(sock_path))
            assert echo_of(sock_path, socket.SOCK_STREAM, b"next") == b"next"
            assert idle.recv(1) == b""  # closed by the server
        assert stop(server)[0] == 0


def test_a_client_that_leaves_its_echo_unread_is_one_line(
    python: Python, sock_path: Path
) -> None:
    # Closed with echoed bytes unread: Linux then fails the server's next
    # call on the connection (Connection reset by peer, or Broken pipe),
    # and the server serves the next client.
    with start_unix_server(SCRIPT, sock_path, python=python) as server:
        with socket.socket(socket.AF_UNIX) as rude:
            rude.connect(str(sock_path))
            rude.sendall(os.urandom(100_000))
            assert select.select([rude], [], [], TIMEOUT)[0]  # echo came
        assert echo_of(sock_path, socket.SOCK_STREAM, b"next") == b"next"
        status, out, err = stop(server)
    assert status == 0
    [line] = err.splitlines()
    assert line.endswith((": Broken pipe", ": Connection reset by peer"))
    assert out.startswith("stopped: served 2 connections")
