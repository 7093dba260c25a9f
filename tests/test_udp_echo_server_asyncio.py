"""examples/udp_echo_server_asyncio.py, run as its page shows."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
from conftest import SERVER, TIMEOUT, Server, run, start_server, udp_socket


def echo_of(server: Server, payload: bytes) -> tuple[bytes, object]:
    with udp_socket() as sock:
        sock.sendto(payload, server.address)
        return sock.recvfrom(65_535)


def test_prints_where_it_listens(server: Server) -> None:
    assert server.host == "127.0.0.1"
    assert 0 < server.port < 65_536


@pytest.mark.parametrize(
    "payload",
    [b"", b"hello", bytes(range(256)), os.urandom(1_400), b"x" * 65_507],
    ids=["empty", "text", "every-byte", "random-1400", "largest"],
)
def test_echoes_every_datagram_unchanged(
    server: Server, payload: bytes
) -> None:
    assert echo_of(server, payload) == (payload, server.address)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_it_with_a_summary(server: Server, signum: int) -> None:
    echo_of(server, b"abc")
    echo_of(server, b"")
    status, out, err = server.stop(signum)
    assert (status, out, err) == (
        0,
        "stopped: echoed 2 datagrams, 3 bytes\n",
        "",
    )


def test_summary_of_one_datagram(server: Server) -> None:
    echo_of(server, b"hello")
    assert server.stop()[1] == "stopped: echoed 1 datagram, 5 bytes\n"


def test_verbose_logs_each_datagram(server: Server) -> None:
    with start_server(
        "-v", "--recv-bufsize", "65536", "--send-bufsize", "32768"
    ) as loud:
        with udp_socket() as sock:
            sock.sendto(b"hi", loud.address)
            sock.recv(100)
            client = f"127.0.0.1:{sock.getsockname()[1]}"
        _, _, err = loud.stop()
    assert f"UDP 127.0.0.1:{loud.port} SO_RCVBUF=131072 SO_SNDBUF=65536" in err
    assert f"udp_server: {client}: echoed 2 bytes\n" in err


def test_port_in_use_exits_1(server: Server) -> None:
    result = run(SERVER, "--port", str(server.port))
    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot listen on 127.0.0.1:{server.port}: "
        "Address already in use\n"
    )


def test_reuse_port_lets_two_servers_share_a_port() -> None:
    with start_server("--reuse-port") as first:
        port = str(first.port)
        with start_server("--reuse-port", "--port", port) as second:
            assert second.port == first.port
            assert echo_of(second, b"either")[0] == b"either"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--port", "x"], "argument --port: invalid int value: 'x'"),
        (["--port", "-1"], "--port must be from 0 to 65535"),
        (["--port", "65536"], "--port must be from 0 to 65535"),
        (["--send-bufsize", "-5"], "buffer sizes must be more than 0"),
        (["extra"], "unrecognized arguments: extra"),
    ],
)
def test_bad_usage_exits_2(args: list[str], error: str) -> None:
    result = run(SERVER, *args)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"udp_echo_server_asyncio.py: error: {error}"
    )
    assert "Traceback" not in result.stderr


def test_address_not_on_this_machine_exits_1() -> None:
    result = run(SERVER, "--host", "192.0.2.1")  # TEST-NET-1: never local
    assert result.returncode == 1
    assert result.stderr == (
        "error: cannot listen on 192.0.2.1:8888: "
        "Cannot assign requested address\n"
    )


def test_answers_a_third_party_client(server: Server) -> None:
    # socat sends stdin as one datagram, prints the reply, and quits half
    # a second (-t) after stdin ends.
    result = subprocess.run(
        ["socat", "-t", "0.5", "-", f"UDP4:127.0.0.1:{server.port}"],
        input="hello from socat\n",
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert (result.returncode, result.stdout) == (0, "hello from socat\n")
