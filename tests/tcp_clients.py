"""What every TCP echo client must do, as tests.

tests/test_tcp_echo_client_{blocking,asyncio}.py import these and say
which example they hold to them (the `script` fixture). Every test runs
once per supported Python (the `python` fixture), against the blocking
echo server, third-party echo servers (socat, ncat) and hand-driven peers
that misbehave. Where the failure under test would be a client that spins,
its CPU time is limited as well as its wall time.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import (
    BULK_TIMEOUT,
    SLACK,
    TIMEOUT,
    Python,
    Server,
    assert_nothing_listening,
    bad_usage_exits_2,
    interrupt_while_waiting,
    read_all,
    reset_on_close,
    run,
    spawn,
    start_server,
)

ECHOED = re.compile(
    r"sent (\d+) bytes to (\S+): (.*)\n"
    r"received \1 bytes in ([\d.]+) ms: \3\n"
)
BIG = os.urandom(64 * 2**20)  # 64 MiB: far more than the buffers hold


@pytest.fixture
def server(
    python: Python,
    script: str,
) -> Iterator[Server]:
    with start_server(
        script="examples/tcp_echo_server_blocking.py", python=python
    ) as running:
        yield running


def echo(
    python: Python,
    script: str,
    port: int,
    *args: str,
    stdin: bytes | None = None,
) -> re.Match[str]:
    result = run(
        script, "--port", str(port), *args, python=python, stdin=stdin,
        timeout=BULK_TIMEOUT,  # for 64 MiB
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (0, "")
    found = ECHOED.fullmatch(result.stdout)
    assert found, result.stdout
    return found


def test_default_message(python: Python, script: str, server: Server) -> None:
    found = echo(python, script, server.port)
    assert found.group(1, 2, 3) == (
        "14",
        f"127.0.0.1:{server.port}",
        "b'Hello, stream!'",
    )


def test_over_ipv6(
    python: Python,
    script: str,
) -> None:
    with start_server(
        "--host", "::1", script="examples/tcp_echo_server_blocking.py",
        python=python,
    ) as server:  # fmt: skip
        found = echo(python, script, server.port, "--host", "::1", "six")
    assert found[2] == f"[::1]:{server.port}"


@pytest.mark.parametrize(
    "typed", ["Grüße".encode(), b"\xff\xfe"], ids=["utf-8", "not-utf-8"]
)
def test_command_line_bytes_reach_the_wire_as_typed(
    python: Python, script: str, tcp_peer: socket.socket, typed: bytes
) -> None:
    client = spawn(
        python, script, "--port", str(tcp_peer.getsockname()[1]),
        os.fsdecode(typed),
    )  # fmt: skip
    conn, _ = tcp_peer.accept()
    with conn:
        data = read_all(conn)
        conn.sendall(data)
    out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, err, data) == (0, "", typed)
    assert out.endswith(f": {typed!r}\n")


@pytest.mark.load
def test_64_mib_round_trip_against_the_blocking_server(
    python: Python, script: str, server: Server
) -> None:
    # A client that sent all of it before reading would stall after a few
    # MB (see tcp_echo_client_naive.py); this one reads while it writes.
    found = echo(python, script, server.port, "-", stdin=BIG)
    assert found[1] == str(len(BIG))


@pytest.mark.once
@pytest.mark.load
def test_64_mib_round_trip_against_socat(
    python: Python, script: str, socat_tcp_server: int
) -> None:
    found = echo(python, script, socat_tcp_server, "-", stdin=BIG)
    assert found[1] == str(len(BIG))


@pytest.mark.once
def test_against_ncat_it_ends_and_says_what_happened(
    python: Python, script: str, ncat_tcp_server: int
) -> None:
    # ncat --exec may close the connection at the client's EOF, before cat
    # has written the end of the echo; or stall, blocked writing to cat
    # while cat is blocked writing to it; or, now and then, echo it all.
    # Whichever it does, the client ends (within run()'s timeout: --timeout
    # bounds each wait, not the whole echo, which under load once took 11
    # s), and its one line is true. (No CPU limit: an echo of 64 MiB costs
    # what coverage and the machine's load make it cost.)
    result = run(
        script, "--port", str(ncat_tcp_server), "--timeout", "1", "-",
        stdin=BIG, python=python, timeout=BULK_TIMEOUT,
    )  # fmt: skip
    if result.returncode == 0:
        assert ECHOED.fullmatch(result.stdout)
        return
    assert (result.returncode, result.stdout) == (1, "")
    said = re.fullmatch(
        rf"error: 127\.0\.0\.1:{ncat_tcp_server}: (nothing received for 1 s"
        rf"|the server closed the connection after (\d+) of {len(BIG)} "
        r"bytes)\n",
        result.stderr,
    )
    assert said, result.stderr
    assert said[2] is None or int(said[2]) < len(BIG)


def test_nothing_listening_fails_at_once(
    python: Python, script: str, closed_port: int
) -> None:
    # At once: not after its --timeout, which would outlast run()'s.
    assert_nothing_listening(python, script, closed_port, "--timeout", "60")


def test_connect_that_gets_no_answer_times_out(
    python: Python, script: str, full_backlog: int
) -> None:
    started = time.monotonic()
    result = run(
        script, "--port", str(full_backlog), "--timeout", "0.5",
        python=python, cpu=1,
    )  # fmt: skip
    assert 0.5 <= time.monotonic() - started < 0.5 + SLACK
    assert result.returncode == 1
    assert result.stderr == (
        f"error: 127.0.0.1:{full_backlog}: no connection within 0.5 s\n"
    )


@contextmanager
def against(
    python: Python, script: str, peer: socket.socket, *args: str
) -> Iterator[tuple[subprocess.Popen[str], socket.socket]]:
    """Run the client against a hand-driven peer: yield the client and the
    accepted connection, which has read the whole message by then."""
    client = spawn(
        python, script, "--port", str(peer.getsockname()[1]), *args, cpu=2
    )
    conn, _ = peer.accept()
    with conn:
        assert read_all(conn) == b"Hello, stream!"  # up to the client's EOF
        yield client, conn


def test_silent_server_times_out_within_the_bound(
    python: Python, script: str, tcp_peer: socket.socket
) -> None:
    with against(python, script, tcp_peer, "--timeout", "0.5") as (client, _):
        started = time.monotonic()  # it has sent all: now it waits
        _, err = client.communicate(timeout=TIMEOUT)  # the peer says nothing
    assert 0.5 <= time.monotonic() - started < 0.5 + SLACK
    assert (client.returncode, err) == (
        1,
        f"error: 127.0.0.1:{tcp_peer.getsockname()[1]}: nothing received "
        "for 0.5 s\n",
    )


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"Hello", "the server closed the connection after 5 of 14 bytes"),
        (b"Hello, STREAM!", "the echo differs from the message at byte 7"),
        (b"Hello, stream!!", "the server sent more than 14 bytes"),
        (None, "Connection reset by peer"),
    ],
    ids=["cut-short", "different", "longer", "reset"],
)
def test_a_reply_that_is_not_the_echo_fails_at_once(
    python: Python,
    script: str,
    tcp_peer: socket.socket,
    reply: bytes | None,
    error: str,
) -> None:
    with against(python, script, tcp_peer) as (client, conn):
        if reply is None:
            reset_on_close(conn)
        else:
            conn.sendall(reply)
    out, err = client.communicate(timeout=TIMEOUT)
    port = tcp_peer.getsockname()[1]
    assert (client.returncode, out) == (1, "")
    assert err == f"error: 127.0.0.1:{port}: {error}\n"


def test_ctrl_c_while_waiting_exits_130_quietly(
    python: Python, script: str, tcp_peer: socket.socket
) -> None:
    with against(python, script, tcp_peer, "--timeout", "30") as (client, _):
        interrupt_while_waiting(client)  # it waits for the echo
        out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, out, err) == (130, "", "")


test_bad_usage_exits_2 = bad_usage_exits_2(
    [
        (["--port", "0"], "argument --port: must be from 1 to 65535, not 0"),
        (["--timeout", "inf"], "argument --timeout: must be more than 0 and "
         "at most 3600 seconds, not inf"),
        (["a", "b"], "unrecognized arguments: b"),
    ],
)  # fmt: skip


def spawn_big(
    python: Python, script: str, folder: Path, *args: str
) -> subprocess.Popen[str]:
    """Start the client with 64 MiB on its stdin."""
    (folder / "big").write_bytes(BIG)
    with (folder / "big").open("rb") as stdin:
        return spawn(python, script, *args, "-", stdin=stdin)


def test_reset_while_sending_a_large_message(
    python: Python, script: str, tcp_peer: socket.socket, tmp_path: Path
) -> None:
    # The peer reads a little of 64 MiB, then resets: the sending thread
    # fails, and the reader reports the reset, once.
    port = tcp_peer.getsockname()[1]
    client = spawn_big(python, script, tmp_path, "--port", str(port))
    conn, _ = tcp_peer.accept()
    with conn:
        assert conn.recv(100_000)
        reset_on_close(conn)
    out, err = client.communicate(timeout=TIMEOUT)
    assert (client.returncode, out) == (1, "")
    assert err == f"error: 127.0.0.1:{port}: Connection reset by peer\n"


def test_server_that_never_reads_times_out_within_the_bound(
    python: Python, script: str, tcp_peer: socket.socket, tmp_path: Path
) -> None:
    # The peer accepts and reads nothing: the buffers fill, the sending
    # thread blocks, the reader gives up after --timeout, and the sender
    # is stopped with it.
    port = tcp_peer.getsockname()[1]
    started = time.monotonic()
    client = spawn_big(
        python, script, tmp_path, "--port", str(port), "--timeout", "0.5"
    )
    conn, _ = tcp_peer.accept()
    with conn:
        out, err = client.communicate(timeout=TIMEOUT)
    assert 0.5 <= time.monotonic() - started < 0.5 + 5
    assert (client.returncode, out) == (1, "")
    assert err == f"error: 127.0.0.1:{port}: nothing received for 0.5 s\n"


def test_verbose_logs_the_socket_and_the_half_close(
    python: Python, script: str, server: Server
) -> None:
    result = run(script, "--port", str(server.port), "-v", python=python)
    assert result.returncode == 0
    assert re.search(
        rf"^tcp_client: TCP 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:{server.port} ",
        result.stderr,
        re.M,
    )
    assert "tcp_client: sent 14 bytes, then EOF\n" in result.stderr
