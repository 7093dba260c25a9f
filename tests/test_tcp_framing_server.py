"""examples/tcp_framing_server.py, run as its page shows.

Every test runs once per supported Python (the `python` fixture), against
hand-driven sockets that frame, split and break messages on purpose, and
against socat as a client; and what it writes out again of the blocking
echo server: the idle timeout, a port in use, the warning when it is
reachable from elsewhere.
"""

from __future__ import annotations

import os
import random
import re
import socket
import struct
import subprocess
from collections.abc import Iterator

import pytest
from conftest import (
    TIMEOUT,
    Python,
    Server,
    assert_port_in_use,
    bad_usage_exits_2,
    recv_exactly,
    rss,
    start_server,
    warning_when_reachable,
)
from hypothesis import given, settings
from hypothesis import strategies as st

SCRIPT = "examples/tcp_framing_server.py"


def frame(*messages: bytes) -> bytes:
    return b"".join(struct.pack("!I", len(m)) + m for m in messages)


@pytest.fixture
def server(python: Python) -> Iterator[Server]:
    with start_server(script=SCRIPT, python=python) as running:
        yield running


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(server.address, timeout=TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65_536):
        chunks.append(chunk)
    return b"".join(chunks)


def exchange(server: Server, *pieces: bytes) -> bytes:
    """Send pieces, each on its own, half-close, return all the replies."""
    with connect(server) as sock:
        for piece in pieces:
            sock.sendall(piece)
        sock.shutdown(socket.SHUT_WR)
        return read_all(sock)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_echoes_each_message_as_a_message(python: Python, host: str) -> None:
    messages = [b"", b"a", bytes(range(256)), os.urandom(2**20)]  # max size
    with start_server("--host", host, script=SCRIPT, python=python) as server:
        with connect(server) as sock:
            for message in messages:  # one at a time: send, then read
                sock.sendall(frame(message))
                header = recv_exactly(sock, 4)
                assert recv_exactly(sock, len(message)) == message
                assert header == struct.pack("!I", len(message))
        status, out, err = server.stop()
    total = sum(map(len, messages))
    assert (status, out, err) == (
        0,
        f"stopped: served 1 connection, echoed {total} bytes\n",
        "",
    )


def test_three_messages_in_one_segment(server: Server) -> None:
    three = frame(b"one", b"two", b"three")
    assert exchange(server, three) == three  # one sendall: one segment


def test_a_peer_that_sends_one_byte_at_a_time(server: Server) -> None:
    framed = frame(b"slow", b"")
    replies = exchange(server, *(bytes([b]) for b in framed))
    assert replies == framed


@pytest.mark.parametrize(
    ("pieces", "error"),
    [
        ([b"\x00\x00"], "connection closed inside a header (2 of 4 bytes)"),
        (
            [struct.pack("!I", 10), b"12345"],
            "connection closed inside a message (5 of 10 bytes)",
        ),
        (
            [struct.pack("!I", 2**20 + 1)],
            "message of 1048577 bytes is over 1048576",
        ),
    ],
    ids=["header-cut-short", "body-cut-short", "one-byte-too-many"],
)
def test_broken_message_closes_that_connection_only(
    server: Server, pieces: list[bytes], error: str
) -> None:
    with connect(server) as sock:
        port = sock.getsockname()[1]
        for piece in pieces:
            sock.sendall(piece)
        sock.shutdown(socket.SHUT_WR)
        assert read_all(sock) == b""  # closed, no reply
    assert exchange(server, frame(b"next")) == frame(b"next")
    status, _, err = server.stop()
    assert (status, err) == (0, f"tcp_server: 127.0.0.1:{port}: {error}\n")


def test_a_length_of_2_to_the_31_allocates_nothing(server: Server) -> None:
    before = rss(server.proc.pid) // 1024
    with connect(server) as sock:
        sock.sendall(struct.pack("!I", 2**31))
        assert sock.recv(10) == b""  # refused: closed at once
    after = rss(server.proc.pid) // 1024
    assert after - before < 1_024  # kB: no 2 GiB buffer, not even 1 MiB
    assert exchange(server, frame(b"still here")) == frame(b"still here")
    _, _, err = server.stop()
    assert "message of 2147483648 bytes is over 1048576" in err


def test_max_size_option(python: Python) -> None:
    with start_server(
        "--max-size", "3", script=SCRIPT, python=python
    ) as server:
        assert exchange(server, frame(b"abc")) == frame(b"abc")
        with connect(server) as sock:
            sock.sendall(frame(b"abcd"))
            # Closed with the body unread, the server's socket sends RST.
            with pytest.raises(ConnectionResetError):
                sock.recv(10)
        _, _, err = server.stop()
    assert err.endswith("message of 4 bytes is over 3\n")


@pytest.mark.parametrize(
    "client",
    [["socat", "-t", "5", "-", "TCP4:127.0.0.1:{port}"],
     ["ncat", "127.0.0.1", "{port}"]],
    ids=["socat", "ncat"],
)  # fmt: skip
def test_answers_third_party_clients(
    server: Server, client: list[str]
) -> None:
    # Neither knows anything of framing: each sends the framed bytes it is
    # given, half-closes at their end and prints what comes back.
    framed = frame(b"from", b"a third party", b"", os.urandom(200_000))
    result = subprocess.run(
        [arg.format(port=server.port) for arg in client],
        input=framed,
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert (result.returncode, result.stdout) == (0, framed)


def test_messages_cut_anywhere_arrive_whole(server: Server) -> None:
    # Arbitrary messages, framed, then cut at arbitrary points into pieces
    # that are sent one by one (Nagle off): however the stream is split,
    # each message comes back whole and in order.
    @settings(max_examples=100, deadline=None, database=None)
    @given(
        st.lists(st.binary(max_size=3_000), min_size=1, max_size=6),
        st.randoms(use_true_random=False),
    )
    def arrive_whole(messages: list[bytes], rng: random.Random) -> None:
        framed = frame(*messages)
        cuts = sorted(rng.sample(range(len(framed) + 1), min(5, len(framed))))
        pieces = [framed[a:b] for a, b in zip([0, *cuts], [*cuts, None])]
        assert exchange(server, *(p for p in pieces if p)) == framed

    arrive_whole()
    assert server.stop()[0] == 0


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--max-size", "-1"], "argument --max-size: must be from 0 to "
         "1073741824, not -1"),
        (["--max-size", "big"], "argument --max-size: not a number: 'big'"),
    ],
    SCRIPT,
)  # fmt: skip


def test_an_idle_client_is_closed_and_the_next_one_served(
    python: Python,
) -> None:
    with start_server(
        "-v", "--idle-timeout", "0.5", script=SCRIPT, python=python
    ) as server:
        with connect(server) as idle:
            assert idle.recv(1) == b""  # closed by the server
        assert exchange(server, frame(b"next")) == frame(b"next")
        status, out, err = server.stop()
    assert status == 0
    assert re.search(r": idle for 0\.5 s: closed\n", err)
    assert out == "stopped: served 2 connections, echoed 4 bytes\n"


@pytest.mark.once
def test_a_port_in_use_is_one_line_and_exit_1(
    python: Python, server: Server
) -> None:
    assert_port_in_use(python, SCRIPT, server.port)


@pytest.mark.once
def test_warns_when_reachable_from_other_machines(python: Python) -> None:
    assert warning_when_reachable(python, SCRIPT) == ""
