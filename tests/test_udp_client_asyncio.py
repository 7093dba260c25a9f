"""examples/udp_client_asyncio.py, run as its page shows, with real peers."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import CLIENT, ROOT, TIMEOUT, Server, run, udp_socket

ECHOED = re.compile(
    r"sent (\d+) bytes to 127\.0\.0\.1:(\d+): (.*)\n"
    r"received \1 bytes in [\d.]+ ms "
    r"\((\d+) attempts?\): \3\n"
)


def echo(port: int, *args: str) -> re.Match[str]:
    """Run the client against port; assert it succeeded; parse its output."""
    result = run(CLIENT, "--port", str(port), *args)
    assert (result.returncode, result.stderr) == (0, "")
    found = ECHOED.fullmatch(result.stdout)
    assert found, result.stdout
    return found


def start_client(port: int, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, CLIENT, "--port", str(port), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_default_message_is_echoed(server: Server) -> None:
    found = echo(server.port)
    assert found.groups() == (
        "16",
        str(server.port),
        "b'Hello, datagram!'",
        "1",
    )


def test_message_from_the_command_line(server: Server) -> None:
    found = echo(server.port, "Grüße, UDP")
    assert found[1] == "12"  # UTF-8 bytes, not characters
    assert found[3] == repr("Grüße, UDP".encode())


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "b''"),
        (
            65_507,
            "b'" + "x" * 35 + "...",  # cut at 40 characters,
        ),
    ],
)
def test_empty_and_largest_datagrams(
    server: Server, size: int, shown: str
) -> None:
    found = echo(server.port, "x" * size)
    assert (found[1], found[3]) == (str(size), shown)


def test_buffer_sizes_are_set_before_traffic(server: Server) -> None:
    result = run(
        CLIENT,
        "--port",
        str(server.port),
        "-v",
        "--recv-bufsize",
        "65536",
        "--send-bufsize",
        "32768",
    )
    assert result.returncode == 0
    # Linux doubles what it is asked for; -v reports the effective sizes.
    assert (
        "SO_RCVBUF: asked for 65536, the kernel gave 131072" in result.stderr
    )
    assert "SO_SNDBUF: asked for 32768, the kernel gave 65536" in result.stderr
    assert "SO_RCVBUF=131072 SO_SNDBUF=65536" in result.stderr


def test_buffer_size_is_capped_at_the_system_maximum(server: Server) -> None:
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    result = run(
        CLIENT, "--port", str(server.port), "-v", "--recv-bufsize", str(2**30)
    )
    assert result.returncode == 0
    assert f"SO_RCVBUF={2 * rmem_max} " in result.stderr
    assert f"system maximum, {rmem_max})" in result.stderr


def test_nothing_listening_fails_at_once(closed_port: int) -> None:
    started = time.monotonic()
    result = run(CLIENT, "--port", str(closed_port), "--timeout", "10")
    assert time.monotonic() - started < 5  # far less than one --timeout
    assert result.returncode == 1
    assert result.stdout == ""
    assert (
        result.stderr
        == f"error: nothing is listening at 127.0.0.1:{closed_port}\n"
    )


def received(sock: socket.socket) -> list[bytes]:
    """Every datagram waiting on sock, without blocking."""
    sock.setblocking(False)
    datagrams = []
    while True:
        try:
            datagrams.append(sock.recv(65535))
        except BlockingIOError:
            return datagrams


def test_silent_peer_gets_retries_then_exit_1(peer: socket.socket) -> None:
    port = peer.getsockname()[1]
    started = time.monotonic()
    result = run(
        CLIENT, "--port", str(port), "--timeout", "0.2", "--retries", "2"
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert re.fullmatch(
        rf"error: 127\.0\.0\.1:{port}: no echo after 3 attempts in 1\.\d s\n",
        result.stderr,
    )
    assert received(peer) == [b"Hello, datagram!"] * 3
    assert 1.4 <= elapsed < 1.4 + 5  # waits 0.2 + 0.4 + 0.8 s, then stops


def test_backoff_doubles_and_is_capped(peer: socket.socket) -> None:
    port = peer.getsockname()[1]
    result = run(
        CLIENT,
        "--port",
        str(port),
        "-v",
        "--timeout",
        "0.01",
        "--retries",
        "5",
    )
    assert result.returncode == 1
    waits = re.findall(r"no echo within ([\d.]+) s", result.stderr)
    assert waits == ["0.01", "0.02", "0.04", "0.08", "0.08", "0.08"]


def test_retry_is_answered(peer: socket.socket) -> None:
    client = start_client(peer.getsockname()[1], "--timeout", "0.2")
    first, _ = peer.recvfrom(65535)
    second, addr = peer.recvfrom(65535)  # the first went unanswered
    peer.sendto(second, addr)
    out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, err) == (0, "")
    assert first == second
    assert "(2 attempts)" in out


def test_datagram_that_is_not_the_echo_is_ignored(peer: socket.socket) -> None:
    client = start_client(peer.getsockname()[1], "-v", "--timeout", "5")
    data, addr = peer.recvfrom(65535)
    peer.sendto(b"not the echo", addr)
    peer.sendto(data, addr)
    peer.sendto(data, addr)  # a duplicate, after the answer
    out, err = client.communicate(timeout=TIMEOUT)
    assert client.returncode == 0
    assert "(1 attempt)" in out
    assert f"ignored 12 bytes from 127.0.0.1:{peer.getsockname()[1]}" in err


def test_echo_from_another_address_is_not_an_answer(
    peer: socket.socket,
) -> None:
    # The socket is connected to the server, so the kernel drops datagrams
    # from anyone else, even with the right bytes: the client times out.
    client = start_client(
        peer.getsockname()[1], "--timeout", "0.3", "--retries", "0"
    )
    data, addr = peer.recvfrom(65535)
    with udp_socket() as stranger:
        stranger.sendto(data, addr)
    _out, err = client.communicate(timeout=TIMEOUT)
    assert client.returncode == 1
    assert "no echo after 1 attempt in" in err


def test_against_a_third_party_echo_server(socat_server: int) -> None:
    found = echo(socat_server, "hello, socat")
    assert found[3] == "b'hello, socat'"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--port", "x"], "argument --port: invalid int value: 'x'"),
        (["--port", "0"], "--port must be from 1 to 65535"),
        (["--port", "65536"], "--port must be from 1 to 65535"),
        (["--timeout", "-1"], "--timeout must be more than 0"),
        (["--timeout", "0"], "--timeout must be more than 0"),
        (["--timeout", "nan"], "--timeout must be more than 0"),
        (["--retries", "-1"], "--retries must be 0 or more"),
        (["--recv-bufsize", "0"], "buffer sizes must be more than 0"),
        (["x" * 65_508], "message is 65508 bytes, over 65507"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_usage_exits_2(args: list[str], error: str) -> None:
    result = run(CLIENT, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        result.stderr.splitlines()[-1]
        == f"udp_client_asyncio.py: error: {error}"
    )
    assert "Traceback" not in result.stderr


def test_unresolvable_host_exits_1() -> None:
    result = run(CLIENT, "--host", "no-such-host.invalid")
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: cannot resolve no-such-host.invalid: "
    )
    assert len(result.stderr.splitlines()) == 1
