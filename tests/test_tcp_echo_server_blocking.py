"""examples/tcp_echo_server_blocking.py, run as its page shows.

Every test runs once per supported Python (the `python` fixture), against
hand-driven sockets and third-party clients (socat, ncat).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from conftest import (
    TIMEOUT,
    Python,
    Server,
    assert_port_in_use,
    bad_usage_exits_2,
    read_all,
    run,
    start_server,
    warning_when_reachable,
)
from tcp_servers import (  # noqa: F401 (a test the servers of many run too)
    test_a_client_that_resets_mid_echo_is_one_line_and_the_server_goes_on,
)

SCRIPT = "examples/tcp_echo_server_blocking.py"


@pytest.fixture
def server(python: Python) -> Iterator[Server]:
    with start_server(script=SCRIPT, python=python) as running:
        yield running


def connect(server: Server) -> socket.socket:
    return socket.create_connection(server.address, timeout=TIMEOUT)


def echo_of(server: Server, payload: bytes) -> bytes:
    """Send payload, half-close, read to EOF (payloads small enough for
    the buffers: a larger one needs a reader while it writes)."""
    with connect(server) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        return read_all(sock)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
@pytest.mark.parametrize(
    "payload",
    [b"", b"hello", bytes(range(256)), os.urandom(100_000)],
    ids=["nothing", "text", "every-byte", "random-100k"],
)
def test_echoes_every_byte_until_eof(
    python: Python, host: str, payload: bytes
) -> None:
    with start_server("--host", host, script=SCRIPT, python=python) as server:
        assert server.host == host
        assert echo_of(server, payload) == payload
        status, out, err = server.stop()
    assert (status, err) == (0, "")
    assert (
        out == f"stopped: served 1 connection, echoed {len(payload)} bytes\n"
    )


def test_a_peer_that_sends_one_byte_at_a_time(server: Server) -> None:
    with connect(server) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in b"one at a time":
            sock.send(bytes([byte]))  # a segment each, Nagle off
        sock.shutdown(socket.SHUT_WR)
        assert read_all(sock) == b"one at a time"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_it_mid_connection_with_a_summary(
    server: Server, signum: int
) -> None:
    with connect(server) as sock:
        sock.sendall(b"abc")
        assert sock.recv(3) == b"abc"  # being served, still open
        status, out, err = server.stop(signum)
        assert sock.recv(10) == b""  # the server closed its end
    assert (status, out, err) == (
        0,
        "stopped: served 1 connection, echoed 3 bytes\n",
        "",
    )


def test_idle_client_is_closed_and_the_next_one_served(
    python: Python,
) -> None:
    with start_server(
        "--idle-timeout", "0.5", "-v", script=SCRIPT, python=python
    ) as server:
        with connect(server) as idle, connect(server) as waiting:
            idle_port = idle.getsockname()[1]
            waiting.sendall(b"my turn")
            waiting.shutdown(socket.SHUT_WR)
            started = time.monotonic()
            assert read_all(waiting) == b"my turn"  # once idle is closed
            assert time.monotonic() - started >= 0.4
            assert idle.recv(10) == b""  # closed by the server
        _, _, err = server.stop()
    assert f"127.0.0.1:{idle_port}: idle for 0.5 s: closed" in err


def test_restarts_at_once_after_sigkill_with_a_connection_open(
    python: Python,
) -> None:
    with start_server(script=SCRIPT, python=python) as first:
        client = connect(first)
        client.sendall(b"x")
        assert client.recv(1) == b"x"
        first.proc.kill()  # no clean-up: the connection is left to the OS
        first.proc.wait(timeout=TIMEOUT)
        port = str(first.port)
        # SO_REUSEADDR lets the new server bind while the old connection
        # is still in the kernel's tables.
        with (
            client,
            start_server(
                "--port", port, script=SCRIPT, python=python
            ) as second,
        ):
            assert second.port == first.port
            assert echo_of(second, b"again") == b"again"
            assert second.stop()[0] == 0


def test_port_in_use_exits_1(python: Python, server: Server) -> None:
    assert_port_in_use(python, SCRIPT, server.port)


@pytest.mark.parametrize(
    ("host", "error"),
    [
        ("192.0.2.1", "Cannot assign requested address"),  # TEST-NET-1
        ("no-such-host.invalid", "Name or service not known"),
    ],
)
def test_address_it_cannot_listen_on_exits_1(
    python: Python, host: str, error: str
) -> None:
    result = run(SCRIPT, "--host", host, python=python)
    assert result.returncode == 1
    assert result.stderr == f"error: cannot listen on {host}:8888: {error}\n"


def test_warns_when_reachable_from_other_machines(python: Python) -> None:
    assert warning_when_reachable(python, SCRIPT) == ""


def test_verbose_logs_each_connection(python: Python) -> None:
    with start_server("-v", script=SCRIPT, python=python) as server:
        assert echo_of(server, b"hi") == b"hi"
        _, _, err = server.stop()
    facts = err.splitlines()[0]
    assert facts.startswith(f"tcp_server: TCP 127.0.0.1:{server.port} ")
    assert "SO_REUSEADDR=1" in facts
    assert re.search(r"127\.0\.0\.1:\d+: connected\n.*: done\n", err)


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--port", "65536"], "argument --port: must be from 0 to 65535, "
         "not 65536"),
        (["--idle-timeout", "inf"], "argument --idle-timeout: must be more "
         "than 0 and at most 3600 seconds, not inf"),
        (["--idle-timeout", "0"], "argument --idle-timeout: must be more "
         "than 0 and at most 3600 seconds, not 0"),
        (["extra"], "unrecognized arguments: extra"),
    ],
    SCRIPT,
)  # fmt: skip


@pytest.mark.parametrize(
    "client",
    [
        ["socat", "-t", "5", "-", "TCP4:127.0.0.1:{port}"],
        ["socat", "-t", "5", "-", "TCP6:[::1]:{port}"],
        ["ncat", "127.0.0.1", "{port}"],
    ],
    ids=["socat", "socat-ipv6", "ncat"],
)
def test_answers_third_party_clients(
    python: Python, client: list[str]
) -> None:
    # Each sends its stdin, half-closes at its end, and prints the echo.
    host = "::1" if "TCP6" in client[-1] else "127.0.0.1"
    with start_server("--host", host, script=SCRIPT, python=python) as server:
        payload = os.urandom(300_000)
        result = subprocess.run(
            [arg.format(port=server.port) for arg in client],
            input=payload,
            capture_output=True,
            timeout=TIMEOUT,
        )
        assert server.stop()[0] == 0
    assert (result.returncode, result.stdout) == (0, payload)
