"""examples/unix_echo_client.py, held to what every Unix socket client must do
(tests/unix_clients.py), and run as its page shows against its own server,
third-party servers and peers that misbehave on purpose; every supported
Python."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    TIMEOUT,
    Python,
    interrupt_while_waiting,
    needs_root,
    read_all,
    run,
    spawn,
    start_unix_server,
    stop,
    unix_peer,
)
from unix_clients import *  # noqa: F403
from unix_servers import AS_ANYONE

CLIENT = "examples/unix_echo_client.py"
SERVER = "examples/unix_echo_server.py"
BIG = os.urandom(16 * 2**20)  # far more than a Unix socket's buffers hold


@pytest.fixture
def script() -> str:
    return CLIENT


@pytest.fixture
def server_script() -> str:
    return SERVER


@pytest.fixture
def kind() -> int:
    return socket.SOCK_STREAM


def test_echoes_through_its_own_server(
    python: Python, sock_path: Path
) -> None:
    with start_unix_server(SERVER, sock_path, python=python) as server:
        result = run(CLIENT, "--path", str(sock_path), python=python)
        big = run(
            CLIENT, "--path", str(sock_path), "-", stdin=BIG, python=python
        )
        assert stop(server)[0] == 0
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(
        f"sent 14 bytes to {sock_path}: b'Hello, stream!'\n"
        "received 14 bytes in "
    )
    assert (big.returncode, big.stderr) == (0, "")
    assert f"received {len(BIG)} bytes in " in big.stdout


def test_echoes_through_socat(python: Python, sock_path: Path) -> None:
    with unix_peer(["socat", "UNIX-LISTEN:PATH,fork", "EXEC:cat"], sock_path):
        result = run(
            CLIENT, "--path", str(sock_path), "third party", python=python
        )
    assert (result.returncode, result.stderr) == (0, "")
    assert "received 11 bytes in " in result.stdout


def test_against_ncat_it_says_what_happened(
    python: Python, sock_path: Path
) -> None:
    # ncat --exec closes the connection at the client's EOF, on a Unix
    # socket as on TCP (see tests/conftest.py), mostly before cat has
    # echoed anything: the client says how much came back.
    with unix_peer(
        ["ncat", "-l", "-k", "-U", "PATH", "--exec", "/bin/cat"], sock_path
    ):
        result = run(
            CLIENT, "--path", str(sock_path), "third party", python=python
        )
    if result.returncode == 0:
        assert "received 11 bytes in " in result.stdout
        return
    assert (result.returncode, result.stdout) == (1, "")
    assert re.fullmatch(
        rf"error: {re.escape(str(sock_path))}: the server closed the "
        r"connection after \d+ of 11 bytes\n",
        result.stderr,
    ), result.stderr


def test_a_full_queue_fails_at_once(python: Python, sock_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as busy:
        busy.bind(str(sock_path))
        busy.listen(0)
        with socket.socket(socket.AF_UNIX) as first:
            first.connect(str(sock_path))  # fills the queue; never accepted
            result = run(CLIENT, "--path", str(sock_path), python=python)
    assert (result.returncode, result.stderr) == (
        1, f"error: {sock_path}: the server's queue is full\n",
    )  # fmt: skip


@pytest.fixture
def silent(sock_path: Path) -> Iterator[socket.socket]:
    """A Unix socket server that accepts when told and never answers."""
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(sock_path))
        listener.listen()
        listener.settimeout(TIMEOUT)
        yield listener


def test_a_server_that_never_answers_times_out(
    python: Python, sock_path: Path, silent: socket.socket
) -> None:
    client = spawn(
        python, CLIENT, "--path", str(sock_path), "--timeout", "0.3"
    )
    conn, _ = silent.accept()
    with conn:
        out, err = client.communicate(timeout=TIMEOUT)
        assert read_all(conn) == b"Hello, stream!"  # and its EOF
    assert (client.returncode, out) == (1, "")
    assert err == f"error: {sock_path}: nothing received for 0.3 s\n"


def test_ctrl_c_while_waiting_exits_130_quietly(
    python: Python, sock_path: Path, silent: socket.socket
) -> None:
    client = spawn(python, CLIENT, "--path", str(sock_path), "--timeout", "30")
    conn, _ = silent.accept()
    with conn:
        assert read_all(conn) == b"Hello, stream!"  # it waits for the echo
        interrupt_while_waiting(client)
        out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, out, err) == (130, "", "")


def test_a_file_it_may_not_write_is_permission_denied(
    python: Python, sock_path: Path
) -> None:
    needs_root("holding root to file permissions")
    with start_unix_server(SERVER, sock_path, python=python) as server:
        os.chown(sock_path, 65534, 65534)  # as if "nobody" ran it: 600
        result = run(
            CLIENT, "--path", str(sock_path),
            python=python.prefixed(*AS_ANYONE),
        )  # fmt: skip
        assert stop(server)[0] == 0
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {sock_path}: Permission denied\n"


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (b"Hello, strEam!", "the echo differs from the message at byte 10"),
        (b"Hello, stream! and more", "the server sent more than 14 bytes"),
        (b"Hello", "the server closed the connection after 5 of 14 bytes"),
    ],
    ids=["different", "longer", "shorter"],
)
def test_a_reply_that_is_not_the_echo_is_one_line_and_exit_1(
    python: Python,
    sock_path: Path,
    silent: socket.socket,
    reply: bytes,
    said: str,
) -> None:
    client = spawn(python, CLIENT, "--path", str(sock_path))
    conn, _ = silent.accept()
    with conn:
        assert read_all(conn) == b"Hello, stream!"
        conn.sendall(reply)
    out, err = client.communicate(timeout=TIMEOUT)  # closed: its EOF
    assert (client.returncode, out) == (1, "")
    assert err == f"error: {sock_path}: {said}\n"


def test_a_server_that_never_reads_times_out(
    python: Python, sock_path: Path, silent: socket.socket, tmp_path: Path
) -> None:
    # 16 MiB: the sender thread blocks in send() until the reader, whose
    # wait has timed out, shuts the socket down under it.
    (tmp_path / "big").write_bytes(BIG)
    with (tmp_path / "big").open("rb") as stdin:
        client = spawn(
            python, CLIENT, "--path", str(sock_path), "--timeout", "0.3",
            "-", stdin=stdin,
        )  # fmt: skip
    conn, _ = silent.accept()
    with conn:
        out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, out) == (1, "")
    assert err == f"error: {sock_path}: nothing received for 0.3 s\n"
