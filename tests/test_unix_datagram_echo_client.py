"""examples/unix_datagram_echo_client.py, held to what every Unix socket
client must do (tests/unix_clients.py), and run as its page shows against
its own server, third-party servers and peers that misbehave on purpose;
every supported Python."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    TIMEOUT,
    Python,
    flood,
    interrupt_while_waiting,
    run,
    spawn,
    start_unix_server,
    stop,
    unix_peer,
)
from unix_clients import *  # noqa: F403

CLIENT = "examples/unix_datagram_echo_client.py"
SERVER = "examples/unix_datagram_echo_server.py"


@pytest.fixture
def script() -> str:
    return CLIENT


@pytest.fixture
def server_script() -> str:
    return SERVER


@pytest.fixture
def kind() -> int:
    return socket.SOCK_DGRAM


def test_echoes_through_its_own_server(
    python: Python, sock_path: Path
) -> None:
    with start_unix_server(SERVER, sock_path, python=python) as server:
        results = [
            run(
                CLIENT,
                "--path",
                str(sock_path),
                *args,
                stdin=b"\0\xff",
                python=python,
            )
            for args in ([], [""], ["-"])
        ]
        assert stop(server)[0] == 0
    for result in results:
        assert (result.returncode, result.stderr) == (0, "")
    assert results[0].stdout.startswith(
        f"sent 16 bytes to {sock_path}: b'Hello, datagram!'\n"
        "received 16 bytes in "
    )
    assert "received 0 bytes in " in results[1].stdout
    assert results[2].stdout.endswith(": b'\\x00\\xff'\n")


def test_echoes_through_socat(python: Python, sock_path: Path) -> None:
    # socat answers each datagram at the address it came from.
    with unix_peer(["socat", "UNIX-RECVFROM:PATH,fork", "PIPE"], sock_path):
        result = run(
            CLIENT, "--path", str(sock_path), "third party", python=python
        )
    assert (result.returncode, result.stderr) == (0, "")
    assert "received 11 bytes in " in result.stdout


@pytest.fixture
def silent(sock_path: Path) -> Iterator[socket.socket]:
    """A bound datagram socket that reads when told and never answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        sock.settimeout(TIMEOUT)
        yield sock


def test_no_echo_in_time_exits_1(
    python: Python, sock_path: Path, silent: socket.socket
) -> None:
    result = run(
        CLIENT, "--path", str(sock_path), "--timeout", "0.3", python=python
    )
    assert silent.recv(100) == b"Hello, datagram!"
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {sock_path}: no echo within 0.3 s\n"


def test_what_is_not_the_echo_is_ignored(
    python: Python, sock_path: Path, silent: socket.socket
) -> None:
    client = spawn(python, CLIENT, "--path", str(sock_path), "-v")
    data, addr = silent.recvfrom(100)
    assert addr.startswith(b"\0")  # autobound: an abstract name, no file
    silent.sendto(b"not the echo", addr)
    silent.sendto(data, addr)
    out, err = client.communicate(timeout=TIMEOUT)
    assert client.returncode == 0
    assert "received 16 bytes in " in out
    shown = "@" + os.fsdecode(addr[1:])
    assert err == (
        f"unix_client: bound to {shown}\n"
        "unix_client: ignored 12 bytes: not the echo\n"
    )


def test_ctrl_c_while_waiting_exits_130_quietly(
    python: Python, sock_path: Path, silent: socket.socket
) -> None:
    client = spawn(python, CLIENT, "--path", str(sock_path), "--timeout", "30")
    silent.recv(100)  # it has sent, and now waits for the echo
    interrupt_while_waiting(client)
    out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, out, err) == (130, "", "")


def test_a_flood_of_what_is_not_the_echo_cannot_hold_it(
    python: Python, sock_path: Path, silent: socket.socket
) -> None:
    client = spawn(
        python, CLIENT, "--path", str(sock_path), "--timeout", "0.3"
    )
    _, addr = silent.recvfrom(100)
    flood(silent, addr, client)
    out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, out) == (1, "")
    assert err == f"error: {sock_path}: no echo within 0.3 s\n"
