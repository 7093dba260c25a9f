"""What every server of many TCP clients at once must do, as tests.

tests/test_tcp_echo_server_{threads,selectors,asyncio,fast}.py import these
and say which example they hold to them (the `script` fixture). Every test
runs once per supported Python.
"""

from __future__ import annotations

import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import (
    SLACK,
    TIMEOUT,
    Python,
    Server,
    assert_port_in_use,
    bad_usage_exits_2,
    each_gets_its_own_echo,
    namespace,
    read_all,
    read_line,
    reset_on_close,
    rss,
    start_server,
    stream_echo,
    warning_when_reachable,
)


@pytest.fixture
def server(python: Python, script: str) -> Iterator[Server]:
    with start_server(script=script, python=python) as running:
        yield running


def connect(server: Server) -> socket.socket:
    return socket.create_connection(server.address, timeout=TIMEOUT)


def echo_of(server: Server, payload: bytes) -> bytes:
    with connect(server) as sock:
        return stream_echo(sock, payload)


def still_open(sock: socket.socket) -> bool:
    """Whether sock's peer has neither closed nor sent anything yet."""
    sock.setblocking(False)
    try:
        sock.recv(1)
    except BlockingIOError:  # nothing to read, not even an EOF
        return True
    finally:
        sock.settimeout(TIMEOUT)
    return False


def open_many(server: Server, count: int) -> list[socket.socket]:
    return [connect(server) for _ in range(count)]


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def test_echoes_every_byte_of_connections_at_once_over_ipv6(
    python: Python, script: str
) -> None:
    payloads = [b"", b"hello", bytes(range(256)), os.urandom(2_000_000)]
    with start_server("--host", "::1", script=script, python=python) as server:
        echoes: list[bytes] = [b""] * len(payloads)

        def one(i: int) -> None:
            echoes[i] = echo_of(server, payloads[i])

        threads = [
            threading.Thread(target=one, args=(i,))
            for i in range(len(payloads))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        status, out, err = server.stop()
    assert echoes == payloads
    assert (status, err) == (0, "")
    total = sum(map(len, payloads))
    assert out == f"stopped: served 4 connections, echoed {total} bytes\n"


@pytest.mark.once
@pytest.mark.load
def test_1000_connections_at_once_then_a_new_client(
    python: Python, script: str
) -> None:
    with start_server(
        "--max-connections", "1001", script=script, python=python
    ) as server:
        socks = open_many(server, 1000)
        try:
            each_gets_its_own_echo(socks)
            assert echo_of(server, b"next") == b"next"  # the 1,001st
        finally:
            close_all(socks)
        status, out, err = server.stop()
    assert (status, err) == (0, "")
    assert out == "stopped: served 1001 connections, echoed 8004 bytes\n"


def test_idle_connections_do_not_stop_a_new_client_and_are_closed(
    python: Python, script: str
) -> None:
    # 50 connections and 2 s: opening 200 under heavy load once took over
    # 2 s, and some were closed as idle before the new client was served.
    with start_server(
        "--idle-timeout", "2", script=script, python=python
    ) as server:
        started = time.monotonic()
        idle = open_many(server, 50)
        try:
            assert echo_of(server, b"served") == b"served"
            # served while all 50 were still open:
            assert all(map(still_open, idle))
            for sock in idle:
                assert sock.recv(1) == b""  # closed by the server
            assert 2 <= time.monotonic() - started < 2 + SLACK
        finally:
            close_all(idle)
        status, out, err = server.stop()
    assert (status, err) == (0, "")
    assert out == "stopped: served 51 connections, echoed 6 bytes\n"


def test_a_client_that_resets_mid_echo_is_one_line_and_the_server_goes_on(
    server: Server,
) -> None:
    with connect(server) as rude:
        port = rude.getsockname()[1]
        rude.sendall(os.urandom(1_000_000))  # the echo is never read
        reset_on_close(rude)
    assert echo_of(server, b"next") == b"next"
    status, out, err = server.stop()
    assert status == 0
    [line] = err.splitlines()  # one line, no traceback
    assert re.fullmatch(
        rf"tcp_server: 127\.0\.0\.1:{port}: "
        "(Connection reset by peer|Broken pipe|Connection lost)",
        line,
    )
    assert out.startswith("stopped: served 2 connections")


def test_sigterm_with_100_connections_open_stops_within_2_s(
    server: Server,
) -> None:
    socks = open_many(server, 100)
    try:
        for sock in socks:  # each one served: being echoed, still open
            sock.sendall(b"x")
            assert sock.recv(1) == b"x"
        started = time.monotonic()
        status, out, err = server.stop(signal.SIGTERM)
        assert time.monotonic() - started < 2
        for sock in socks:  # each closed by the server
            try:
                assert sock.recv(1) == b""
            except ConnectionResetError:
                pass
    finally:
        close_all(socks)
    assert (status, out, err) == (
        0,
        "stopped: served 100 connections, echoed 100 bytes\n",
        "",
    )


@pytest.mark.load
def test_a_client_that_does_not_read_cannot_grow_the_server(
    server: Server,
) -> None:
    message = os.urandom(64 * 2**20)
    assert echo_of(server, b"warm up" * 10_000) == b"warm up" * 10_000
    before = rss(server.proc.pid)
    with connect(server) as sock:
        sock.setblocking(False)
        view = memoryview(message)
        sent = 0
        # Send without reading until nothing moves for half a second: the
        # server has stopped reading, and every buffer between is full.
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_WRITE)
            while sent < len(message) and selector.select(0.5):
                try:
                    sent += sock.send(view[sent : sent + 65_536])
                except BlockingIOError:
                    pass
        assert sent < len(message)  # held back: the server waits for us
        growth = rss(server.proc.pid) - before
        assert growth < 4 * 2**20, f"the server grew by {growth} bytes"
        # Now read: every byte comes back, in order, as the rest goes out.
        sock.setblocking(True)
        sock.settimeout(TIMEOUT)

        def send_rest() -> None:
            sock.sendall(view[sent:])
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send_rest)
        sender.start()
        try:
            assert read_all(sock) == message
        finally:
            sender.join(TIMEOUT)
    assert server.stop()[0] == 0


def test_a_connection_over_the_limit_is_refused_and_logged(
    python: Python, script: str
) -> None:
    with start_server(
        "--max-connections", "2", "-v", script=script, python=python
    ) as server:
        first, second = open_many(server, 2)
        with first, second:
            for sock in (first, second):
                sock.sendall(b"in")
                assert sock.recv(2) == b"in"
            with connect(server) as third:
                port = third.getsockname()[1]
                assert third.recv(1) == b""  # closed by the server
            for sock in (first, second):  # still served
                sock.sendall(b"on")
                assert sock.recv(2) == b"on"
        status, out, err = server.stop()
    assert status == 0
    assert out == "stopped: served 2 connections, echoed 8 bytes\n"
    assert f"127.0.0.1:{port}: refused: 2 connections open\n" in err


# A client that connects to the server, sends, reads its first echo, says
# so and waits: then the test drops every packet and kills it. No FIN or
# RST reaches the server: to it the client just goes quiet.
VANISHING = """
import socket, sys
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
sock.sendall(b"x" * 1_000_000)
sock.recv(1)
print("sent", flush=True)
sys.stdin.read()
"""


def test_a_client_that_vanishes_without_a_fin_is_dropped_when_idle(
    python: Python, script: str
) -> None:
    with namespace() as ns:
        inside = ("ip", "netns", "exec", ns)
        with start_server(
            "--idle-timeout", "0.5", "-v", script=script,
            python=python.prefixed(*inside),
        ) as server:  # fmt: skip
            client = subprocess.Popen(
                [*inside, *python.command, "-c", VANISHING, str(server.port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert client.stdout is not None
            assert read_line(client.stdout) == "sent\n"
            subprocess.run(
                [*inside, "nft", "add table inet t; add chain inet t c "
                 "{ type filter hook input priority 0; }; "
                 "add rule inet t c tcp dport 1-65535 drop"],
                check=True, timeout=TIMEOUT,
            )  # fmt: skip
            client.kill()
            client.communicate(timeout=TIMEOUT)
            assert server.proc.stderr is not None
            while "idle" not in (line := read_line(server.proc.stderr)):
                assert line, "the server ended without closing it"
            status = server.stop()[0]
    assert re.fullmatch(
        r"tcp_server: 127\.0\.0\.1:\d+: idle for 0\.5 s: closed\n", line
    )
    assert status == 0


def test_answers_socat(server: Server) -> None:
    payload = os.urandom(300_000)
    result = subprocess.run(
        ["socat", "-t", "5", "-", f"TCP4:127.0.0.1:{server.port}"],
        input=payload,
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert (result.returncode, result.stdout) == (0, payload)


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--max-connections", "0"], "argument --max-connections: must be "
         "from 1 to 100000, not 0"),
        (["--idle-timeout", "inf"], "argument --idle-timeout: must be more "
         "than 0 and at most 3600 seconds, not inf"),
    ],
)  # fmt: skip


def out_of_file_descriptors(python: Python, script: str) -> None:
    """Past its file limit, a server that watches sockets itself logs
    once and rests until its next sweep, instead of trying again at once
    for ever; then it accepts the connection that waited."""
    with start_server(
        "--idle-timeout", "1", script=script, python=python
    ) as server:
        files = resource.RLIMIT_NOFILE  # its limit of open files:
        usual = resource.prlimit(server.proc.pid, files)
        resource.prlimit(server.proc.pid, files, (40, usual[1]))  # 40
        log = server.proc.stderr
        assert log is not None
        socks: list[socket.socket] = []
        with selectors.DefaultSelector() as selector:
            selector.register(log, selectors.EVENT_READ, "log")
            while len(socks) < 40:  # until the server cannot accept one
                socks.append(connect(server))
                socks[-1].sendall(b"x")
                selector.register(socks[-1], selectors.EVENT_READ, "echo")
                ready = {key.data for key, _ in selector.select(TIMEOUT)}
                selector.unregister(socks[-1])
                if "log" in ready:
                    break
                assert socks[-1].recv(1) == b"x"
        assert log.readline() == (
            "tcp_server: cannot accept: Too many open files: paused\n"
        )
        resource.prlimit(server.proc.pid, files, usual)  # room again
        assert socks[-1].recv(1) == b"x"  # accepted after the sweep
        close_all(socks)
        status, _, err = server.stop()
    assert status == 0
    assert "cannot accept" not in err  # once, not at every turn


@pytest.mark.once
def test_a_port_in_use_is_one_line_and_exit_1(
    python: Python, script: str, server: Server
) -> None:
    assert_port_in_use(python, script, server.port)


@pytest.mark.once
def test_warns_when_reachable_from_other_machines(
    python: Python, script: str
) -> None:
    warning_when_reachable(python, script)
