"""examples/unix_datagram_echo_server.py, held to what every Unix socket
server must do with its file (tests/unix_servers.py), on every supported
Python; and what it does as a datagram server: senders with no address,
replies it cannot send, peers nobody here wrote."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
from pathlib import Path
from typing import IO

import pytest
from conftest import TIMEOUT, Python, start_unix_server, stop
from unix_servers import *  # noqa: F403
from unix_servers import echo_of

SCRIPT = "examples/unix_datagram_echo_server.py"


@pytest.fixture
def script() -> str:
    return SCRIPT


@pytest.fixture
def kind() -> int:
    return socket.SOCK_DGRAM


def test_echoes_each_datagram_whole(python: Python, sock_path: Path) -> None:
    largest = b"x" * 200_000  # near what the default buffers let through
    with start_unix_server(SCRIPT, sock_path, python=python) as server:
        for data in (b"", b"\0\xff binary", largest):
            assert echo_of(sock_path, socket.SOCK_DGRAM, data) == data
        status, out, _ = stop(server)
    assert (status, out) == (
        0,
        f"stopped: echoed 3 datagrams, {9 + len(largest)} bytes; ignored 0, "
        "dropped 0\n",
    )


def test_a_sender_with_no_address_is_ignored(
    python: Python, sock_path: Path
) -> None:
    with start_unix_server(SCRIPT, sock_path, "-v", python=python) as server:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as unbound:
            unbound.sendto(b"who am I", str(sock_path))
        assert echo_of(sock_path, socket.SOCK_DGRAM, b"me") == b"me"
        status, out, err = stop(server)
    assert (status, out) == (
        0,
        "stopped: echoed 1 datagram, 2 bytes; ignored 1, dropped 0\n",
    )
    assert "unix_server: ignored 8 bytes: the sender has no address\n" in err


def test_a_reply_it_cannot_send_is_logged_and_serving_goes_on(
    python: Python, sock_path: Path, tmp_path: Path
) -> None:
    with start_unix_server(SCRIPT, sock_path, python=python) as server:
        server.send_signal(signal.SIGSTOP)  # so the sender is gone first
        gone = tmp_path / "gone.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.bind(str(gone))
            sender.sendto(b"ping", str(sock_path))
        gone.unlink()
        server.send_signal(signal.SIGCONT)
        assert echo_of(sock_path, socket.SOCK_DGRAM, b"next") == b"next"
        status, out, err = stop(server)
    assert (status, out) == (
        0,
        "stopped: echoed 1 datagram, 4 bytes; ignored 0, dropped 0\n",
    )
    assert err == (
        f"unix_server: {gone}: reply of 4 bytes lost: No such file or "
        "directory\n"
    )


@pytest.mark.parametrize(
    "client",
    [
        ["socat", "-", "UNIX-SENDTO:PATH,bind=PATH.client"],
        ["ncat", "-U", "--udp", "PATH"],
    ],
    ids=["socat", "ncat"],
)
def test_serves_clients_nobody_here_wrote(
    python: Python, sock_path: Path, client: list[str]
) -> None:
    # Both peers bind an address of their own, and remove it once their
    # input ends: the input stays open until the echo is back.
    with start_unix_server(SCRIPT, sock_path, python=python) as server:
        peer = subprocess.Popen(
            [arg.replace("PATH", str(sock_path)) for arg in client],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert peer.stdin is not None and peer.stdout is not None
        peer.stdin.write(b"third party")
        peer.stdin.flush()
        echoed = read_exactly(peer.stdout, 11)
        peer.stdin.close()
        peer.wait(timeout=TIMEOUT)
        status, out, _ = stop(server)
    assert (peer.returncode, echoed, status) == (0, b"third party", 0)
    assert (
        out == "stopped: echoed 1 datagram, 11 bytes; ignored 0, dropped 0\n"
    )


def read_exactly(stream: IO[bytes], size: int) -> bytes:
    """Read size bytes from a pipe, waiting at most TIMEOUT seconds."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(stream.read(size)))
    reader.start()
    reader.join(TIMEOUT)
    assert got, f"nothing within {TIMEOUT} s"
    return got[0]
