"""examples/tcp_relay.py, run as its page shows, between clients and
destinations the tests drive by hand, and between programs nobody here
wrote: socat on both ends, and curl to the HTTP server recipe. Each way
of ending is passed on (a half-close either way, a reset either way, a
refusal); 64 MiB each way at once; a destination that never reads or
never answers; 500 connections at once. Every test runs once per
supported Python, except those marked `once`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import (
    SLACK,
    TIMEOUT,
    Python,
    Server,
    assert_port_in_use,
    bad_usage_exits_2,
    curl,
    each_gets_its_own_echo,
    read_all,
    read_line,
    reset_on_close,
    rss,
    served,
    start_server,
    tcp_listener,
)

SCRIPT = "examples/tcp_relay.py"


@contextmanager
def relaying(python: Python, port: int, *args: str) -> Iterator[Server]:
    """The relay to 127.0.0.1:port; stopped after, unless the test
    stopped it, with exit status 0."""
    with served(
        "--to", f"127.0.0.1:{port}", *args, script=SCRIPT, python=python
    ) as relay:
        yield relay


@contextmanager
def through(
    relay: Server, far: socket.socket
) -> Iterator[tuple[socket.socket, socket.socket]]:
    """A client connected through the relay, and the connection the
    destination (far, listening) accepted for it."""
    with socket.create_connection(relay.address, TIMEOUT) as client:
        accepted, _ = far.accept()
        with accepted:
            accepted.settimeout(TIMEOUT)
            yield client, accepted


def logged(relay: Server) -> str:
    """The relay's next log line (-v) about a connection, without the
    address; asyncio's own lines (-X dev's debug mode) are skipped."""
    assert relay.proc.stderr is not None
    while (line := read_line(relay.proc.stderr)).startswith("asyncio: "):
        pass
    found = re.fullmatch(r"relay: 127\.0\.0\.1:\d+: (.*)\n", line)
    assert found, line
    return found[1]


def test_both_ways_and_a_half_close_either_way(python: Python) -> None:
    with (
        tcp_listener() as far,
        relaying(python, far.getsockname()[1], "-v") as relay,
    ):
        with through(relay, far) as (client, accepted):
            client.sendall(b"ping")
            assert accepted.recv(4) == b"ping"
            accepted.sendall(b"pong")
            assert client.recv(4) == b"pong"
            client.shutdown(socket.SHUT_WR)  # the client is done sending
            assert accepted.recv(1) == b""  # the EOF is passed on
            accepted.sendall(b"still")  # and the other way goes on
            assert client.recv(5) == b"still"
        assert logged(relay) == "4 bytes up, 9 down: closed by both"
        with through(relay, far) as (client, accepted):
            accepted.shutdown(socket.SHUT_WR)  # the other way round
            assert client.recv(1) == b""
            client.sendall(b"late")
            assert accepted.recv(4) == b"late"
        assert logged(relay) == "4 bytes up, 0 down: closed by both"
        status, out, _ = relay.stop()
    assert (status, out) == (
        0, "stopped: relayed 2 connections, 8 bytes up, 9 down\n",
    )  # fmt: skip


def test_a_reset_either_way_is_passed_on_as_a_reset(python: Python) -> None:
    with (
        tcp_listener() as far,
        relaying(python, far.getsockname()[1], "-v") as relay,
    ):
        with through(relay, far) as (client, accepted):
            client.sendall(b"x")
            assert accepted.recv(1) == b"x"
            reset_on_close(client)
            client.close()
            with pytest.raises(ConnectionResetError):
                accepted.recv(1)
        assert logged(relay) == "1 bytes up, 0 down: reset by the client"
        with through(relay, far) as (client, accepted):
            client.sendall(b"x")
            assert accepted.recv(1) == b"x"
            reset_on_close(accepted)
            accepted.close()
            with pytest.raises(ConnectionResetError):
                client.recv(1)
        assert logged(relay) == (
            "1 bytes up, 0 down: reset by the destination"
        )


def test_a_destination_that_refuses_is_a_reset(
    python: Python, closed_tcp_port: int
) -> None:
    port = closed_tcp_port
    with (
        relaying(python, port, "-v") as relay,
        socket.create_connection(relay.address, TIMEOUT) as client,
    ):
        with pytest.raises(ConnectionResetError):
            client.recv(1)
        assert logged(relay) == (
            f"0 bytes up, 0 down: 127.0.0.1:{port}: Connection refused"
        )


@pytest.mark.once
@pytest.mark.load
def test_64_mib_each_way_at_once_through_socat(
    python: Python, socat_tcp_server: int
) -> None:
    data = os.urandom(64 * 1024 * 1024)
    with (
        relaying(python, socat_tcp_server) as relay,
        socket.create_connection(relay.address, TIMEOUT) as client,
    ):

        def send() -> None:
            client.sendall(data)
            client.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        assert read_all(client) == data
        sender.join(TIMEOUT)
        status, out, _ = relay.stop()
    assert (status, out) == (0, "stopped: relayed 1 connection, "
                             "67108864 bytes up, 67108864 down\n")  # fmt: skip


@pytest.mark.once
def test_a_destination_that_never_reads_or_answers(python: Python) -> None:
    # The client sends until its socket takes no more: the relay has
    # stopped reading it (backpressure), its memory flat; after the idle
    # timeout, it ends both.
    with (
        tcp_listener() as far,
        relaying(
            python, far.getsockname()[1], "--idle-timeout", "1", "-v"
        ) as relay,
        through(relay, far) as (client, _),
    ):
        before = rss(relay.proc.pid)
        client.setblocking(False)
        sent = 0
        started = time.monotonic()
        # Until it has taken nothing for 0.5 s, or (the relay not holding
        # back) 64 MiB, which fails the test.
        while time.monotonic() - started < 0.5 and sent < 64 << 20:
            try:
                sent += client.send(b"x" * 65_536)
                started = time.monotonic()
            except BlockingIOError:
                time.sleep(0.01)
        assert sent < 64 * 1024 * 1024
        assert rss(relay.proc.pid) - before < 8 * 1024 * 1024
        client.setblocking(True)
        client.settimeout(TIMEOUT)
        # Closed, idle for 1 s: with a reset, as what the client sent
        # and the relay had not read yet is thrown away.
        with pytest.raises(ConnectionResetError):
            read_all(client)
        assert logged(relay).endswith(" down: idle for 1 s")


@pytest.mark.once
def test_curl_through_it_to_the_http_server(python: Python) -> None:
    with (
        start_server("--root", "examples/www",
                     script="examples/http_server.py") as http,
        relaying(python, http.port) as relay,
    ):  # fmt: skip
        result = curl(f"http://127.0.0.1:{relay.port}/hello.txt")
    assert result.stdout == b"hello, world\n"


@pytest.mark.once
def test_socat_on_both_ends(python: Python, socat_tcp_server: int) -> None:
    with relaying(python, socat_tcp_server) as relay:
        result = subprocess.run(
            ["socat", "-", f"TCP:127.0.0.1:{relay.port}"],
            input=b"through socat and back\n", capture_output=True,
            timeout=TIMEOUT, check=True,
        )  # fmt: skip
    assert result.stdout == b"through socat and back\n"


@pytest.mark.once
@pytest.mark.load
def test_500_connections_at_once(python: Python) -> None:
    # To the fast echo server recipe: socat, which forks a process for
    # each connection, has a backlog of 5, and takes seconds to reach 500.
    with (
        start_server(script="examples/tcp_echo_server_fast.py") as echo,
        relaying(python, echo.port) as relay,
    ):
        socks = [
            socket.create_connection(relay.address, TIMEOUT)
            for _ in range(500)
        ]
        try:
            each_gets_its_own_echo(socks)
            with socket.create_connection(relay.address, TIMEOUT) as over:
                assert read_all(over) == b""  # the 501st: closed at once
        finally:
            for sock in socks:
                sock.close()
        status, _, err = relay.stop()
    assert status == 0
    assert "refused: 500 connections open" in err


def test_a_port_in_use_is_one_line_and_exit_1(python: Python) -> None:
    with (
        tcp_listener() as far,
        relaying(python, far.getsockname()[1]) as relay,
    ):
        assert_port_in_use(python, SCRIPT, relay.port, "--to", "127.0.0.1:1")


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        ([], "the following arguments are required: --to"),
        (["--to", "localhost"], "argument --to: must be HOST:PORT, not "
         "'localhost'"),
        (["--to", ":80"], "argument --to: must be HOST:PORT, not ':80'"),
        (["--to", "localhost:0"], "argument --to: must be from 1 to 65535, "
         "not 0"),
        (["--to", "localhost:http"], "argument --to: not a number: 'http'"),
        (["--to", "h:1", "--idle-timeout", "0"], "argument --idle-timeout: "
         "must be more than 0 and at most 3600 seconds, not 0"),
    ],
    script=SCRIPT,
)  # fmt: skip


@pytest.mark.once
def test_a_destination_that_does_not_accept_in_time_is_a_reset(
    python: Python, full_backlog: int
) -> None:
    with (
        relaying(python, full_backlog, "--timeout", "1", "-v") as relay,
        socket.create_connection(relay.address, TIMEOUT) as client,
    ):
        started = time.monotonic()
        with pytest.raises(ConnectionResetError):
            client.recv(1)
        assert 1 <= time.monotonic() - started < 1 + SLACK
        assert logged(relay) == (
            f"0 bytes up, 0 down: 127.0.0.1:{full_backlog}: no answer to "
            "connect"
        )
